"""The sellers' part of ``InMemoryCreditsStore``: the same conditions as ``dynamodb_store.py``.

The twin keeps issue 16's state here (the balance item's status mirror and thresholds, links,
key spend counters) and calls in under its own lock, so each operation stays atomic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from functions.credits.sellers.lifecycle import AccountStatus, StatusChange, status_from_stored
from functions.credits.sellers.links import LinkFacts
from functions.credits.sellers.listing import list_sort_key, sort_key_range
from functions.credits.sellers.records import (
    AccountListSlice,
    AccountNotActive,
    BalanceFacts,
    LinkExhausted,
    ListedAccountRecord,
    SpendLimitReached,
    StatusChanged,
    StatusChangeOutcome,
    StatusRaced,
)
from functions.credits.sellers.scopes import spend_ceiling
from functions.credits.store.errors import DataIntegrityError
from functions.credits.store.records import AccountRecord, ChargeIntent


@dataclass
class SellersMemory:
    """Issue 16's state of the in-memory store; every method runs under the store's lock."""

    account_statuses: dict[str, AccountStatus] = field(default_factory=dict)
    alert_thresholds: dict[str, tuple[int, ...]] = field(default_factory=dict)
    links: dict[str, LinkFacts] = field(default_factory=dict)
    key_spend: dict[str, int] = field(default_factory=dict)

    # charges -----------------------------------------------------------------------------------

    def status_refusal(self, intent: ChargeIntent) -> AccountNotActive | None:
        """A suspended or closed account (the balance condition; checked after the request id)."""
        status = self.account_statuses.get(intent.account_id, AccountStatus.ACTIVE)
        return None if status == AccountStatus.ACTIVE else AccountNotActive(status)

    def counter_refusal(self, intent: ChargeIntent) -> LinkExhausted | SpendLimitReached | None:
        """A link's uses or a key's spend limit leave no room (after the revocation count)."""
        if intent.link_digest is not None and intent.link_max_uses is not None:
            link = self.links.get(intent.link_digest)
            if link is None or link.uses >= intent.link_max_uses:
                return LinkExhausted()
        if intent.spend_limit is not None:
            ceiling = spend_ceiling(intent.spend_limit, intent.amount)
            if ceiling is None or self.key_spend.get(intent.key_id, 0) > ceiling:
                return SpendLimitReached()
        return None

    def count_charge(self, intent: ChargeIntent) -> None:
        """The counters of a charge that went through."""
        if intent.spend_limit is not None:
            self.key_spend[intent.key_id] = self.key_spend.get(intent.key_id, 0) + intent.amount
        if intent.link_digest is not None and intent.link_max_uses is not None:
            link = self.links[intent.link_digest]
            self.links[intent.link_digest] = replace(link, uses=link.uses + 1)

    def give_back_spend(self, key_id: str, amount: int) -> None:
        self.key_spend[key_id] = self.key_spend.get(key_id, 0) - amount

    def grant_refused(self, account_id: str) -> bool:
        return self.account_statuses.get(account_id) == AccountStatus.CLOSED

    # the sellers' store methods ----------------------------------------------------------------

    def list_accounts(
        self,
        accounts: Mapping[str, AccountRecord],
        *,
        status: AccountStatus | None,
        name_prefix: str | None,
        after: str | None,
        limit: int,
    ) -> AccountListSlice:
        window = sort_key_range(name_prefix, after)
        listed = sorted(
            (
                ListedAccountRecord(
                    account_id=account.account_id,
                    name=account.name,
                    status=status_from_stored(account.status),
                    created_at=account.created_at,
                    list_sort_key=list_sort_key(account.name, account.account_id),
                )
                for account in accounts.values()
            ),
            key=lambda account: account.list_sort_key,
        )
        matching = [
            account
            for account in listed
            if (status is None or account.status == status)
            and (window.low is None or account.list_sort_key >= window.low)
            and (window.high is None or account.list_sort_key <= window.high)
        ]
        return AccountListSlice(matching[:limit], more=len(matching) > limit)

    def change_account_status(
        self, accounts: dict[str, AccountRecord], account: AccountRecord, change: StatusChange
    ) -> StatusChangeOutcome:
        stored = accounts.get(account.account_id)
        if stored is None:
            raise DataIntegrityError(f"account {account.account_id} has no balance")
        if stored.status != account.status:
            return StatusRaced()
        accounts[account.account_id] = replace(
            stored,
            status=change.status.value,
            status_reason=change.reason,
            status_changed_by=change.changed_by,
            status_changed_at=change.changed_at,
        )
        self.account_statuses[account.account_id] = change.status
        return StatusChanged(previous=status_from_stored(account.status))

    def balance_facts(self, account_id: str, balance: int) -> BalanceFacts:
        return BalanceFacts(
            balance=balance,
            account_status=self.account_statuses.get(account_id, AccountStatus.ACTIVE),
            alert_thresholds=self.alert_thresholds.get(account_id, ()),
        )

    def set_alert_thresholds(self, account_id: str, thresholds: Sequence[int]) -> None:
        self.alert_thresholds[account_id] = tuple(thresholds)

    def put_link(self, link_digest: str, link: LinkFacts, now: datetime) -> None:
        del now  # the twin keeps links until the store is dropped (no TTL)
        if link_digest in self.links:
            raise DataIntegrityError("link token digest collision")
        self.links[link_digest] = link
