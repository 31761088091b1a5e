"""The sellers' use cases: the account list, status changes, signed links and alert thresholds.

Beside ``CreditsService`` (functions/credits/service.py), on the same ``CreditsStore``; the
parts of issue 16 that live inside authorization (key scopes, spend limits, links, the account
status) are steps of ``CreditsService.authorize`` that call the rules of this package.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from functions.credits.errors import AccountNotFound, Conflict, InvalidRequest, KeyNotFound
from functions.credits.sellers.cdn_url import CdnBaseUrl
from functions.credits.sellers.lifecycle import (
    AccountClosed,
    AccountStatus,
    StatusChange,
    is_status_change,
    require_usable,
    status_from_stored,
)
from functions.credits.sellers.links import (
    DEFAULT_LINK_MAX_EXPIRES_IN_SECONDS,
    LinkFacts,
    link_url,
    new_link_token,
)
from functions.credits.sellers.listing import InvalidListCursor, decode_list_cursor, encode_list_cursor
from functions.credits.sellers.records import BalanceFacts, StatusChanged
from functions.credits.sellers.schemas import (
    AccountList,
    AccountStatusReply,
    AccountStatusRequest,
    Alerts,
    AlertsRequest,
    CreateLinkRequest,
    Link,
    ListedAccount,
)
from functions.credits.sellers.scopes import KeyScope
from functions.credits.settings import Settings
from functions.credits.store.errors import DataIntegrityError
from functions.credits.store.protocol import CreditsStore
from functions.credits.store.records import AccountRecord, KeyRecord
from functions.shared.errors import ErrorCode

# Rounds of the per-page merge when balance_below leaves pages short (docs/decisions.md).
MAX_LIST_ROUNDS = 4
# Attempts at a status change that raced another one before answering 409.
_STATUS_CHANGE_ATTEMPTS = 3


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Where links point and how long they may live (credits settings)."""

    cdn_base_url: Callable[[], str]
    max_expires_in_seconds: int = DEFAULT_LINK_MAX_EXPIRES_IN_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> LinkSettings:
        return cls(
            CdnBaseUrl(settings.cdn_base_url, settings.cdn_base_url_parameter),
            settings.link_max_expires_in_seconds,
        )


class RevokedKeyForLink(Conflict):
    code = ErrorCode.REVOKED_API_KEY

    def __init__(self, key_id: str) -> None:
        super().__init__(f"key {key_id} is revoked: it cannot stand behind a link", key_id=key_id)


class ExpiredKeyForLink(Conflict):
    code = ErrorCode.EXPIRED_API_KEY

    def __init__(self, key_id: str) -> None:
        super().__init__(f"key {key_id} has expired: it cannot stand behind a link", key_id=key_id)


def new_link_id() -> str:
    return f"lnk_{secrets.token_hex(8)}"


class SellersService:
    def __init__(self, store: CreditsStore, clock: Clock, links: LinkSettings) -> None:
        self._store = store
        self._clock = clock
        self._links = links

    # account list -------------------------------------------------------------------------------

    def list_accounts(
        self,
        *,
        status: AccountStatus | None,
        name_prefix: str | None,
        balance_below: int | None,
        limit: int,
        cursor: str | None,
    ) -> AccountList:
        try:
            after = decode_list_cursor(cursor)
        except InvalidListCursor as error:
            raise InvalidRequest(str(error), field="cursor") from None
        found: list[ListedAccount] = []
        for _ in range(MAX_LIST_ROUNDS):
            batch = self._store.list_accounts(
                status=status, name_prefix=name_prefix, after=after, limit=limit
            )
            balances = self._store.get_balances([account.account_id for account in batch.accounts])
            for position, account in enumerate(batch.accounts):
                balance = balances.get(account.account_id)
                if balance is None or (balance_below is not None and balance >= balance_below):
                    continue
                found.append(
                    ListedAccount(
                        account_id=account.account_id,
                        name=account.name,
                        status=account.status,
                        balance=balance,
                        created_at=account.created_at,
                    )
                )
                if len(found) == limit:
                    more = batch.more or position + 1 < len(batch.accounts)
                    next_cursor = encode_list_cursor(account.list_sort_key) if more else None
                    return AccountList(accounts=found, next_cursor=next_cursor)
            if not batch.more or not batch.accounts:
                return AccountList(accounts=found, next_cursor=None)
            after = batch.accounts[-1].list_sort_key
        # Rounds spent with few matches: hand back what was found and where to go on.
        return AccountList(accounts=found, next_cursor=None if after is None else encode_list_cursor(after))

    # lifecycle ---------------------------------------------------------------------------------

    def change_status(
        self, account_id: str, request: AccountStatusRequest, principal: str
    ) -> AccountStatusReply:
        for _ in range(_STATUS_CHANGE_ATTEMPTS):
            account = self._require_account(account_id)
            current = status_from_stored(account.status)
            if not is_status_change(account_id, current, request.status):
                return self._status_reply(account, changed=False)
            change = StatusChange(request.status, request.reason, principal, self._clock.now())
            outcome = self._store.change_account_status(account, change)
            if isinstance(outcome, StatusChanged):
                return self._status_reply(self._require_account(account_id), changed=True)
        raise Conflict("the account's status is being changed by another request; retry")

    def _status_reply(self, account: AccountRecord, *, changed: bool) -> AccountStatusReply:
        facts = self._balance_facts(account.account_id)
        return AccountStatusReply(
            account_id=account.account_id,
            name=account.name,
            status=status_from_stored(account.status),
            balance=facts.balance,
            status_reason=account.status_reason,
            status_changed_by=account.status_changed_by,
            status_changed_at=account.status_changed_at,
            changed=changed,
        )

    # alerts ------------------------------------------------------------------------------------

    def set_alerts(self, account_id: str, request: AlertsRequest) -> Alerts:
        account = self._require_account(account_id)
        if status_from_stored(account.status) == AccountStatus.CLOSED:
            raise AccountClosed(account_id, "setting alert thresholds")
        if not self._store.set_alert_thresholds(account_id, request.thresholds):
            raise DataIntegrityError(f"account {account_id} has no balance")
        return Alerts(account_id=account_id, alert_thresholds=request.thresholds)

    def get_alerts(self, account_id: str) -> Alerts:
        self._require_account(account_id)
        facts = self._balance_facts(account_id)
        return Alerts(account_id=account_id, alert_thresholds=list(facts.alert_thresholds))

    # links -------------------------------------------------------------------------------------

    def create_link(self, account_id: str, request: CreateLinkRequest) -> Link:
        if request.expires_in > self._links.max_expires_in_seconds:
            raise InvalidRequest(
                f"expires_in is at most {self._links.max_expires_in_seconds} seconds", field="expires_in"
            )
        account = self._require_account(account_id)
        require_usable(account_id, status_from_stored(account.status), "making a link")
        key = self._store.get_key(account_id, request.key_id)
        if key is None:
            raise KeyNotFound(account_id, request.key_id)
        now = self._clock.now()
        target = request.path if request.path is not None else request.prefix
        assert target is not None  # the request model requires one of them
        expires_at = self._link_expiry(key, now + timedelta(seconds=request.expires_in), target)
        token = new_link_token()
        link = LinkFacts(
            link_id=new_link_id(),
            account_id=account_id,
            key_id=key.key_id,
            key_digest=key.key_digest,
            path=request.path,
            prefix=request.prefix,
            expires_at=expires_at,
            max_uses=request.max_uses,
            uses=0,
        )
        self._store.put_link(token.digest, link, now=now)
        return Link(
            link_id=link.link_id,
            account_id=account_id,
            key_id=key.key_id,
            url=link_url(self._links.cdn_base_url(), target, token.token),
            path=link.path,
            prefix=link.prefix,
            expires_at=expires_at,
            max_uses=link.max_uses,
        )

    def _link_expiry(self, key: KeyRecord, requested: datetime, target: str) -> datetime:
        """The link's expiry (never past its key's); refuses keys that cannot serve the target."""
        now = self._clock.now()
        if not key.active:
            raise RevokedKeyForLink(key.key_id)
        if key.expires_at is not None and key.expires_at <= now:
            raise ExpiredKeyForLink(key.key_id)
        scope = key.scope or KeyScope()
        if not scope.covers(target) or not (scope.allows("GET", target) or scope.allows("HEAD", target)):
            raise InvalidRequest("the link's path or prefix is outside the key's scope", field="path")
        if key.expires_at is not None and key.expires_at < requested:
            return key.expires_at
        return requested

    # shared ------------------------------------------------------------------------------------

    def _require_account(self, account_id: str) -> AccountRecord:
        account = self._store.get_account(account_id)
        if account is None:
            raise AccountNotFound(account_id)
        return account

    def _balance_facts(self, account_id: str) -> BalanceFacts:
        facts = self._store.get_balance_facts(account_id)
        if facts is None:
            raise DataIntegrityError(f"account {account_id} has no balance")
        return facts
