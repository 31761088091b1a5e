"""An in-memory ``CreditsStore`` with the same conditional semantics as the DynamoDB one.

For logic tests without a database (no Java, no sockets). One lock makes each operation
atomic, as one DynamoDB transaction is; the conditions are checked in the DynamoDB store's
order, so both give the same outcome for the same history (tests/contract/credits/ proves
it). ``unavailable`` switches the store to failing every call with ``StoreUnavailable``, so
callers' failure paths can be tested too.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from functions.credits.ids import new_entry_id
from functions.credits.sellers.lifecycle import AccountStatus, StatusChange
from functions.credits.sellers.links import LinkFacts
from functions.credits.sellers.memory_store import SellersMemory
from functions.credits.sellers.records import (
    AccountClosedToGrants,
    AccountListSlice,
    BalanceFacts,
    SpendLimitReached,
    StatusChangeOutcome,
)
from functions.credits.store.errors import DataIntegrityError, InvalidCursor, StoreUnavailable
from functions.credits.store.records import (
    AccountRecord,
    AlreadyCharged,
    Charged,
    ChargeIntent,
    ChargeOutcome,
    ChargeRecord,
    Granted,
    GrantIntent,
    GrantOutcome,
    GrantOverLimit,
    GrantRecord,
    InsufficientCredits,
    KeyRecord,
    KeyRevocationsChanged,
    KeyStanding,
    KeyState,
    LedgerKind,
    LedgerRecord,
    NoSuchAccount,
    Page,
    Refunded,
    RefundRecord,
    UsageLine,
    UsageTotals,
    usage_totals,
)


@dataclass
class _Balance:
    balance: int = 0
    key_revocations: int = 0


@dataclass
class _Tables:
    accounts: dict[str, AccountRecord] = field(default_factory=dict)
    balances: dict[str, _Balance] = field(default_factory=dict)
    keys_by_id: dict[tuple[str, str], KeyRecord] = field(default_factory=dict)
    keys_by_digest: dict[str, KeyRecord] = field(default_factory=dict)
    rate_limits: dict[str, int] = field(default_factory=dict)
    charges: dict[str, ChargeRecord] = field(default_factory=dict)
    refunds: dict[str, RefundRecord] = field(default_factory=dict)
    grants: dict[tuple[str, str], GrantRecord] = field(default_factory=dict)
    ledgers: dict[str, list[LedgerRecord]] = field(default_factory=dict)
    # sellers (issue 16): statuses as charges see them, thresholds, links, key spend counters.
    sellers: SellersMemory = field(default_factory=SellersMemory)


def _encode_cursor(listing: str, account_id: str, after: list[str]) -> str:
    raw = json.dumps({"listing": listing, "account": account_id, "after": after}, sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None, listing: str, account_id: str) -> list[str] | None:
    if cursor is None:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as error:
        raise InvalidCursor("the cursor is not one this API handed out") from error
    if (
        not isinstance(decoded, dict)
        or decoded.get("listing") != listing
        or decoded.get("account") != account_id
        or not isinstance(decoded.get("after"), list)
        or not all(isinstance(part, str) for part in decoded["after"])
    ):
        raise InvalidCursor("the cursor is not one this API handed out for this account")
    after: list[str] = decoded["after"]
    return after


def _ledger_position(entry: LedgerRecord) -> list[str]:
    """Where an entry sorts: fixed-width UTC time, then its id (the DynamoDB sort key's order)."""
    return [entry.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), entry.entry_id]


class InMemoryCreditsStore:
    def __init__(self) -> None:
        self._tables = _Tables()
        self._lock = threading.RLock()
        self.unavailable = False

    def _check_available(self) -> None:
        if self.unavailable:
            raise StoreUnavailable("the in-memory credits store is switched to unavailable")

    # accounts ----------------------------------------------------------------------------------

    def create_account(self, account: AccountRecord) -> None:
        self._check_available()
        with self._lock:
            if account.account_id in self._tables.accounts:
                raise DataIntegrityError(f"account id collision: {account.account_id}")
            self._tables.accounts[account.account_id] = account
            self._tables.balances[account.account_id] = _Balance()
            self._tables.ledgers[account.account_id] = []

    def get_account(self, account_id: str) -> AccountRecord | None:
        self._check_available()
        with self._lock:
            return self._tables.accounts.get(account_id)

    def get_balance(self, account_id: str) -> int | None:
        self._check_available()
        with self._lock:
            balance = self._tables.balances.get(account_id)
            return None if balance is None else balance.balance

    # keys --------------------------------------------------------------------------------------

    def put_key(self, key: KeyRecord) -> bool:
        self._check_available()
        with self._lock:
            if key.account_id not in self._tables.accounts:
                return False
            if (key.account_id, key.key_id) in self._tables.keys_by_id or (
                key.key_digest in self._tables.keys_by_digest
            ):
                raise DataIntegrityError("key id or digest collision")
            self._tables.keys_by_id[(key.account_id, key.key_id)] = key
            self._tables.keys_by_digest[key.key_digest] = key
            return True

    def get_key(self, account_id: str, key_id: str) -> KeyRecord | None:
        self._check_available()
        with self._lock:
            return self._tables.keys_by_id.get((account_id, key_id))

    def get_key_by_digest(self, key_digest: str) -> KeyRecord | None:
        self._check_available()
        with self._lock:
            return self._tables.keys_by_digest.get(key_digest)

    def get_key_standing(self, key_digest: str, account_id: str) -> KeyStanding | None:
        if self.unavailable:
            return None
        with self._lock:
            key = self._tables.keys_by_digest.get(key_digest)
            balance = self._tables.balances.get(account_id)
            if key is None or balance is None:
                return None
            return KeyStanding(key=key, key_revocations=balance.key_revocations)

    def list_keys(self, account_id: str, limit: int, cursor: str | None) -> Page[KeyRecord]:
        self._check_available()
        after = _decode_cursor(cursor, "keys", account_id)
        with self._lock:
            keys = sorted(
                (key for (owner, _), key in self._tables.keys_by_id.items() if owner == account_id),
                key=lambda key: key.key_id,
            )
        if after is not None:
            keys = [key for key in keys if [key.key_id] > after]
        page = keys[:limit]
        more = len(page) == limit
        return Page(page, _encode_cursor("keys", account_id, [page[-1].key_id]) if more else None)

    def revoke_key(self, key: KeyRecord, now: datetime) -> None:
        self._check_available()
        with self._lock:
            stored = self._tables.keys_by_id.get((key.account_id, key.key_id))
            if stored is None or not stored.active:
                return
            balance = self._tables.balances.get(key.account_id)
            if balance is None:
                raise DataIntegrityError(f"account {key.account_id} has a key but no balance")
            revoked = replace(stored, status=KeyState.REVOKED, revoked_at=now)
            self._tables.keys_by_id[(key.account_id, key.key_id)] = revoked
            self._tables.keys_by_digest[stored.key_digest] = revoked
            balance.key_revocations += 1

    # rate limits -------------------------------------------------------------------------------

    def take_rate_limit_slot(self, key_id: str, per_second: int, burst: int, now_us: int) -> int:
        self._check_available()
        interval = 1_000_000 // per_second
        tolerance = (burst - 1) * interval
        with self._lock:
            tat = max(self._tables.rate_limits.get(key_id, now_us), now_us)
            if tat - now_us > tolerance:
                return tat - now_us - tolerance
            self._tables.rate_limits[key_id] = tat + interval
            return 0

    # money movements ---------------------------------------------------------------------------

    def _append_entry(self, entry: LedgerRecord, balance: _Balance) -> None:
        """Move the balance by exactly the entry's signed amount and append the entry."""
        balance.balance += entry.amount
        self._tables.ledgers[entry.account_id].append(entry)

    def charge(self, intent: ChargeIntent) -> ChargeOutcome:
        self._check_available()
        sellers = self._tables.sellers
        with self._lock:
            if intent.spend_limit is not None and intent.amount > intent.spend_limit:
                return SpendLimitReached()
            earlier = self._tables.charges.get(intent.request_id)
            if earlier is not None:
                return AlreadyCharged(earlier)
            balance = self._tables.balances.get(intent.account_id)
            if balance is None:
                raise DataIntegrityError(f"account {intent.account_id} has a key but no balance")
            not_active = sellers.status_refusal(intent)
            if not_active is not None:
                return not_active
            seen = intent.key_revocations_seen
            if seen is not None and balance.key_revocations != seen:
                return KeyRevocationsChanged()
            over_a_limit = sellers.counter_refusal(intent)
            if over_a_limit is not None:
                return over_a_limit
            if balance.balance < intent.amount:
                return InsufficientCredits(balance=balance.balance)
            entry = LedgerRecord(
                account_id=intent.account_id,
                entry_id=new_entry_id(),
                request_id=intent.request_id,
                kind=LedgerKind.CHARGE,
                amount=-intent.amount,
                created_at=intent.now,
                method=intent.method,
                path=intent.path,
                bytes=intent.bytes,
                key_id=intent.key_id,
            )
            self._tables.charges[intent.request_id] = ChargeRecord(
                request_id=intent.request_id,
                account_id=intent.account_id,
                key_id=intent.key_id,
                entry_id=entry.entry_id,
                amount=intent.amount,
                method=intent.method,
                path=intent.path,
                bytes=intent.bytes,
                created_at=intent.now,
                range_header=intent.range_header,
                spend_counted=intent.spend_limit is not None,
            )
            sellers.count_charge(intent)
            self._append_entry(entry, balance)
            return Charged(entry_id=entry.entry_id, created_at=intent.now)

    def get_charge(self, request_id: str) -> ChargeRecord | None:
        self._check_available()
        with self._lock:
            return self._tables.charges.get(request_id)

    def refund(self, charge: ChargeRecord, *, reason: str, now: datetime) -> Refunded:
        self._check_available()
        with self._lock:
            earlier = self._tables.refunds.get(charge.request_id)
            if earlier is not None:
                return Refunded(earlier, replayed=True)
            balance = self._tables.balances.get(charge.account_id)
            if balance is None:
                raise DataIntegrityError(f"account {charge.account_id} was charged but has no balance")
            entry = LedgerRecord(
                account_id=charge.account_id,
                entry_id=new_entry_id(),
                request_id=charge.request_id,
                kind=LedgerKind.REFUND,
                amount=charge.amount,
                created_at=now,
                method=charge.method,
                path=charge.path,
                bytes=charge.bytes,
                reason=reason,
                key_id=charge.key_id,
            )
            record = RefundRecord(
                request_id=charge.request_id,
                account_id=charge.account_id,
                entry_id=entry.entry_id,
                amount=charge.amount,
                reason=reason,
                created_at=now,
            )
            self._tables.refunds[charge.request_id] = record
            if charge.spend_counted:
                self._tables.sellers.give_back_spend(charge.key_id, charge.amount)
            self._append_entry(entry, balance)
            return Refunded(record, replayed=False)

    def get_refund(self, request_id: str) -> RefundRecord | None:
        self._check_available()
        with self._lock:
            return self._tables.refunds.get(request_id)

    def grant(self, intent: GrantIntent) -> GrantOutcome:
        self._check_available()
        with self._lock:
            earlier = self._tables.grants.get((intent.account_id, intent.idempotency_key))
            if earlier is not None:
                return Granted(earlier, replayed=True)
            balance = self._tables.balances.get(intent.account_id)
            if balance is None:
                return NoSuchAccount()
            if self._tables.sellers.grant_refused(intent.account_id):
                return AccountClosedToGrants()
            if balance.balance > intent.max_balance - intent.amount:
                return GrantOverLimit()
            entry = LedgerRecord(
                account_id=intent.account_id,
                entry_id=new_entry_id(),
                request_id=intent.request_id,
                kind=LedgerKind.GRANT,
                amount=intent.amount,
                created_at=intent.now,
                reason=intent.reason,
            )
            record = GrantRecord(
                account_id=intent.account_id,
                idempotency_key=intent.idempotency_key,
                entry_id=entry.entry_id,
                amount=intent.amount,
                reason=intent.reason,
                created_at=intent.now,
            )
            self._tables.grants[(intent.account_id, intent.idempotency_key)] = record
            self._append_entry(entry, balance)
            return Granted(record, replayed=False)

    # ledger and usage --------------------------------------------------------------------------

    def _entries_between(self, account_id: str, start: datetime, end: datetime) -> list[LedgerRecord]:
        """The account's entries created in [start, end), oldest first."""
        with self._lock:
            entries = list(self._tables.ledgers.get(account_id, ()))
        entries.sort(key=_ledger_position)
        return [entry for entry in entries if start <= entry.created_at < end]

    def ledger_page(
        self, account_id: str, *, start: datetime, end: datetime, limit: int, cursor: str | None
    ) -> Page[LedgerRecord]:
        self._check_available()
        after = _decode_cursor(cursor, "ledger", account_id)
        newest_first = self._entries_between(account_id, start, end)[::-1]
        if after is not None:
            newest_first = [entry for entry in newest_first if _ledger_position(entry) < after]
        page = newest_first[:limit]
        more = len(page) == limit
        return Page(page, _encode_cursor("ledger", account_id, _ledger_position(page[-1])) if more else None)

    def usage(self, account_id: str, *, start: datetime, end: datetime) -> UsageTotals:
        self._check_available()
        return usage_totals(
            UsageLine(entry.kind, entry.amount, entry.method, entry.bytes)
            for entry in self._entries_between(account_id, start, end)
        )

    # --- sellers (issue 16): functions/credits/sellers/memory_store.py --------------------------

    def list_accounts(
        self, *, status: AccountStatus | None, name_prefix: str | None, after: str | None, limit: int
    ) -> AccountListSlice:
        self._check_available()
        with self._lock:
            return self._tables.sellers.list_accounts(
                self._tables.accounts, status=status, name_prefix=name_prefix, after=after, limit=limit
            )

    def get_balances(self, account_ids: Sequence[str]) -> dict[str, int]:
        self._check_available()
        with self._lock:
            balances = self._tables.balances
            return {
                account_id: balances[account_id].balance
                for account_id in account_ids
                if account_id in balances
            }

    def get_balance_facts(self, account_id: str) -> BalanceFacts | None:
        self._check_available()
        with self._lock:
            balance = self._tables.balances.get(account_id)
            return (
                None if balance is None else self._tables.sellers.balance_facts(account_id, balance.balance)
            )

    def change_account_status(self, account: AccountRecord, change: StatusChange) -> StatusChangeOutcome:
        self._check_available()
        with self._lock:
            if account.account_id not in self._tables.balances:
                raise DataIntegrityError(f"account {account.account_id} has no balance")
            return self._tables.sellers.change_account_status(self._tables.accounts, account, change)

    def set_alert_thresholds(self, account_id: str, thresholds: Sequence[int]) -> bool:
        self._check_available()
        with self._lock:
            if account_id not in self._tables.balances:
                return False
            self._tables.sellers.set_alert_thresholds(account_id, thresholds)
            return True

    def put_link(self, link_digest: str, link: LinkFacts, *, now: datetime) -> None:
        self._check_available()
        with self._lock:
            self._tables.sellers.put_link(link_digest, link, now)

    def get_link(self, link_digest: str) -> LinkFacts | None:
        self._check_available()
        with self._lock:
            return self._tables.sellers.links.get(link_digest)
