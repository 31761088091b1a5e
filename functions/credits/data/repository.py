"""Data access: every DynamoDB read and write of the credits service, and nothing else.

Each money-moving operation is ONE DynamoDB transaction (see docs/decisions.md):

* charge: balance -= price IF balance >= price (and, for a key whose facts a container cached,
  IF the account's key revocation count is still the one it saw); put the charge record IF the
  request id is new; put the ledger entry.
* refund: put the refund record IF none exists; balance += charged amount; put the ledger entry.
* grant: put the grant record IF the idempotency key is new; balance += amount IF it stays
  within the limit; put the ledger entry.

So a balance never goes below zero, and every change has its ledger entry, under any
concurrency. Results are returned as small dataclasses; conditions that failed come back
as typed outcomes, never as exceptions the caller has to pick apart.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, PynamoDBException
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.pagination import ResultIterator
from pynamodb.transactions import TransactGet

from functions.credits.config import Settings
from functions.credits.data.models import (
    ACCOUNT_PROFILE_SK,
    BALANCE_SK,
    CHARGE_SK,
    GRANT_SK,
    KEY_BY_DIGEST_SK,
    KEY_SK_PREFIX,
    LEDGER_SK_PREFIX,
    RATE_LIMIT_SK,
    REFUND_SK,
    AccountItem,
    BalanceItem,
    ChargeRecordItem,
    GrantRecordItem,
    KeyByDigestItem,
    KeyByIdItem,
    LedgerEntryItem,
    RateLimitItem,
    RefundRecordItem,
    account_pk,
    grant_pk,
    key_digest_pk,
    key_sk,
    ledger_sk,
    ledger_sk_bound,
    rate_limit_pk,
    request_pk,
)
from functions.credits.data.tables import bind_tables
from functions.credits.data.transactions import (
    LabelledTransaction,
    TransactionCancelled,
    run_transaction,
)
from functions.credits.errors import DataIntegrityError
from functions.credits.ids import new_entry_id

# Optimistic attempts at one rate-limit bucket before the request counts as limited.
_RATE_LIMIT_ATTEMPTS = 4


class InvalidCursor(ValueError):
    """A paging cursor that this service did not hand out (or not for this account)."""


# --- outcomes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Charged:
    entry_id: str
    created_at: datetime


@dataclass(frozen=True)
class AlreadyCharged:
    record: ChargeRecordItem


@dataclass(frozen=True)
class InsufficientCredits:
    balance: int


@dataclass(frozen=True)
class KeyRevocationsChanged:
    """A key of the account was revoked since the caller read the count it charged under."""


ChargeOutcome = Charged | AlreadyCharged | InsufficientCredits | KeyRevocationsChanged


@dataclass(frozen=True)
class KeyStanding:
    """A key and its account's key revocation count, read in one atomic snapshot."""

    key: KeyByDigestItem
    key_revocations: int


@dataclass(frozen=True)
class Refunded:
    record: RefundRecordItem
    replayed: bool


@dataclass(frozen=True)
class Granted:
    record: GrantRecordItem
    replayed: bool


@dataclass(frozen=True)
class GrantOverLimit:
    pass


@dataclass(frozen=True)
class NoSuchAccount:
    pass


GrantOutcome = Granted | GrantOverLimit | NoSuchAccount


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class UsageTotals:
    downloads: int = 0
    uploads: int = 0
    other_requests: int = 0
    bytes: int = 0
    credits_spent: int = 0
    refunds: int = 0
    credits_refunded: int = 0
    grants: int = 0
    credits_granted: int = 0


DOWNLOAD_METHODS = frozenset({"GET", "HEAD"})
UPLOAD_METHODS = frozenset({"PUT", "POST"})


# --- cursors ----------------------------------------------------------------------------------


def _encode_cursor(last_evaluated_key: dict[str, dict[str, str]] | None) -> str | None:
    if not last_evaluated_key:
        return None
    key = {name: value["S"] for name, value in last_evaluated_key.items()}
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None, pk: str, sk_prefix: str) -> dict[str, dict[str, str]] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError) as error:
        raise InvalidCursor("the cursor is not one this API handed out") from error
    if (
        not isinstance(key, dict)
        or set(key) != {"pk", "sk"}
        or key["pk"] != pk
        or not isinstance(key["sk"], str)
        or not key["sk"].startswith(sk_prefix)
    ):
        raise InvalidCursor("the cursor is not one this API handed out for this account")
    return {"pk": {"S": pk}, "sk": {"S": key["sk"]}}


# --- repository -------------------------------------------------------------------------------


class CreditsRepository:
    """Reads and writes of the users and credits tables."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._connection: Connection = bind_tables(settings)

    def _transaction(self) -> LabelledTransaction:
        return LabelledTransaction(self._connection)

    def _ttl(self, now: datetime) -> datetime:
        return now + timedelta(days=self._settings.charge_record_ttl_days)

    # accounts --------------------------------------------------------------------------------

    def create_account(self, account: AccountItem) -> None:
        balance = BalanceItem(
            account.pk, BALANCE_SK, account_id=account.account_id, balance=0, key_revocations=0
        )

        def build() -> LabelledTransaction:
            transaction = self._transaction()
            transaction.put("account", account, AccountItem.pk.does_not_exist())
            transaction.put("balance", balance, BalanceItem.pk.does_not_exist())
            return transaction

        try:
            run_transaction(build, attempts=self._settings.transaction_attempts)
        except TransactionCancelled as cancelled:
            raise DataIntegrityError(f"account id collision: {cancelled}") from None

    def get_account(self, account_id: str) -> AccountItem | None:
        return _get(AccountItem, account_pk(account_id), ACCOUNT_PROFILE_SK)

    def get_balance(self, account_id: str) -> int | None:
        item = _get(BalanceItem, account_pk(account_id), BALANCE_SK)
        return None if item is None else int(item.balance)

    # keys ------------------------------------------------------------------------------------

    def put_key(self, by_id: KeyByIdItem, by_digest: KeyByDigestItem) -> bool:
        """Store a new key under both its keys; False when its account does not exist."""

        def build() -> LabelledTransaction:
            transaction = self._transaction()
            transaction.condition_check(
                "account",
                AccountItem,
                account_pk(by_id.account_id),
                ACCOUNT_PROFILE_SK,
                AccountItem.pk.exists(),
            )
            transaction.put("by_id", by_id, KeyByIdItem.pk.does_not_exist())
            transaction.put("by_digest", by_digest, KeyByDigestItem.pk.does_not_exist())
            return transaction

        try:
            run_transaction(build, attempts=self._settings.transaction_attempts)
        except TransactionCancelled as cancelled:
            if cancelled.failed("account"):
                return False
            raise DataIntegrityError(f"key id or digest collision: {cancelled}") from None
        return True

    def get_key(self, account_id: str, key_id: str) -> KeyByIdItem | None:
        return _get(KeyByIdItem, account_pk(account_id), key_sk(key_id))

    def get_key_by_digest(self, key_digest: str) -> KeyByDigestItem | None:
        return _get(KeyByDigestItem, key_digest_pk(key_digest), KEY_BY_DIGEST_SK)

    def get_key_standing(self, key_digest: str, account_id: str) -> KeyStanding | None:
        """The key and its account's revocation count as of one instant (TransactGetItems).

        One snapshot, because a count read after a separate key read could already include
        the revocation of that very key. None when the pair cannot be read right now (a
        conflicting transaction, throttling, a failed connection) or either item is missing:
        callers use this only to warm a cache, never to decide.
        """
        try:
            with TransactGet(connection=self._connection) as snapshot:
                key = snapshot.get(KeyByDigestItem, key_digest_pk(key_digest), KEY_BY_DIGEST_SK)
                balance = snapshot.get(BalanceItem, account_pk(account_id), BALANCE_SK)
            return KeyStanding(key=key.get(), key_revocations=_key_revocations(balance.get()))
        except PynamoDBException:  # DoesNotExist included
            return None

    def list_keys(self, account_id: str, limit: int, cursor: str | None) -> Page[KeyByIdItem]:
        pk = account_pk(account_id)
        results = KeyByIdItem.query(
            pk,
            KeyByIdItem.sk.startswith(KEY_SK_PREFIX),
            limit=limit,
            last_evaluated_key=_decode_cursor(cursor, pk, KEY_SK_PREFIX),
            consistent_read=True,
        )
        return _page(results, limit)

    def revoke_key(self, key: KeyByIdItem, now: datetime) -> None:
        """Mark both copies of an active key revoked and count the revocation on the account's
        balance item, in one transaction (idempotent): the count is what stops charges made
        on cached key facts."""
        actions = [KeyByIdItem.status.set("revoked"), KeyByIdItem.revoked_at.set(now)]
        active = KeyByIdItem.status == "active"

        def build() -> LabelledTransaction:
            transaction = self._transaction()
            transaction.update("by_id", KeyByIdItem(key.pk, key.sk), actions, active)
            transaction.update(
                "by_digest",
                KeyByDigestItem(key_digest_pk(key.key_digest), KEY_BY_DIGEST_SK),
                actions,
                active,
            )
            transaction.update(
                "balance",
                BalanceItem(account_pk(key.account_id), BALANCE_SK),
                [BalanceItem.key_revocations.add(1)],
                BalanceItem.pk.exists(),
            )
            return transaction

        try:
            run_transaction(build, attempts=self._settings.transaction_attempts)
        except TransactionCancelled as cancelled:
            if cancelled.failed("by_id") or cancelled.failed("by_digest"):
                # Both copies change together, so a failed key condition means: revoked already.
                return
            raise DataIntegrityError(f"account {key.account_id} has a key but no balance") from None

    # rate limits -----------------------------------------------------------------------------

    def take_rate_limit_slot(self, key_id: str, per_second: int, burst: int, now_us: int) -> int:
        """GCRA: 0 when the request may go ahead, else microseconds until it may.

        One consistent read and one conditional write per request, only for keys with a limit.
        """
        interval = 1_000_000 // per_second
        tolerance = (burst - 1) * interval
        pk = rate_limit_pk(key_id)
        for _ in range(_RATE_LIMIT_ATTEMPTS):
            current = _get(RateLimitItem, pk, RATE_LIMIT_SK)
            stored = None if current is None else int(current.tat_us)
            tat = max(stored or now_us, now_us)
            if tat - now_us > tolerance:
                return tat - now_us - tolerance
            new_tat = tat + interval
            item = RateLimitItem(
                pk,
                RATE_LIMIT_SK,
                tat_us=new_tat,
                ttl=timedelta(seconds=new_tat // 1_000_000 - now_us // 1_000_000 + 3600),
            )
            condition = (
                RateLimitItem.pk.does_not_exist() if stored is None else RateLimitItem.tat_us == stored
            )
            try:
                item.save(condition=condition)
                return 0
            except PutError as error:
                if error.cause_response_code != "ConditionalCheckFailedException":
                    raise
        # Lost every race for this key's bucket: it is busier than its limit anyway.
        return interval

    # money movements -------------------------------------------------------------------------

    def _move_credits(
        self,
        record: ChargeRecordItem | RefundRecordItem | GrantRecordItem,
        entry: LedgerEntryItem,
        balance_condition: Condition,
    ) -> None:
        """ONE transaction: put ``record`` IF its key is new, add ``entry.amount`` to the account's
        balance IF ``balance_condition``, put ``entry``.

        The balance moves by exactly the ledger entry's (signed) amount, so the ledger sums to the
        balance by construction. Both conditions that fail return the item as it was (``ALL_OLD``).
        Raises ``TransactionCancelled`` with the reasons of the items "record" and "balance".
        """
        balance = BalanceItem(entry.pk, BALANCE_SK)
        delta = int(entry.amount)

        def build() -> LabelledTransaction:
            # A fresh entry id per attempt: a retried attempt is a new write, never a partial one.
            entry.entry_id = record.entry_id = new_entry_id()
            entry.sk = ledger_sk(entry.created_at, entry.entry_id)
            transaction = self._transaction()
            transaction.put("record", record, type(record).pk.does_not_exist(), return_old=True)
            transaction.update(
                "balance",
                balance,
                [BalanceItem.balance.set(BalanceItem.balance + delta)],
                balance_condition,
                return_old=True,
            )
            transaction.put("ledger", entry, LedgerEntryItem.pk.does_not_exist())
            return transaction

        run_transaction(build, attempts=self._settings.transaction_attempts)

    # charges ---------------------------------------------------------------------------------

    def charge(
        self,
        *,
        account_id: str,
        key_id: str,
        request_id: str,
        amount: int,
        method: str,
        path: str,
        body_bytes: int,
        now: datetime,
        key_revocations_seen: int | None = None,
    ) -> ChargeOutcome:
        """ONE transaction: conditional decrement, idempotency record, ledger entry.

        ``key_revocations_seen``: the account's key revocation count the caller's cached key
        facts were read with; the charge then also requires the count to be unchanged, so a
        key revoked since is never charged (``KeyRevocationsChanged``: read the key again).
        """
        entry = _ledger_entry(
            account_id,
            request_id=request_id,
            kind="charge",
            amount=-amount,
            now=now,
            method=method,
            path=path,
            body_bytes=body_bytes,
            key_id=key_id,
        )
        record = ChargeRecordItem(
            request_pk(request_id),
            CHARGE_SK,
            account_id=account_id,
            key_id=key_id,
            entry_id="",
            amount=amount,
            method=method,
            path=path,
            bytes=body_bytes,
            created_at=now,
            ttl=self._ttl(now),
        )
        balance_condition = BalanceItem.balance >= amount
        if key_revocations_seen is not None:
            balance_condition &= _key_revocations_are(key_revocations_seen)

        try:
            self._move_credits(record, entry, balance_condition)
        except TransactionCancelled as cancelled:
            # The request id first: a retry of a charged request is a replay, whatever the balance.
            if cancelled.failed("record"):
                return AlreadyCharged(_blocking_record(self.get_charge(request_id), "charge"))
            reason = cancelled.failed("balance")
            if reason is not None:
                if reason.raw_item is None:
                    raise DataIntegrityError(f"account {account_id} has a key but no balance") from None
                old = BalanceItem.from_raw_data(reason.raw_item)
                if key_revocations_seen is not None and _key_revocations(old) != key_revocations_seen:
                    return KeyRevocationsChanged()
                return InsufficientCredits(balance=int(old.balance))
            raise DataIntegrityError(f"unexpected cancellation of a charge: {cancelled}") from None
        return Charged(entry_id=entry.entry_id, created_at=now)

    def get_charge(self, request_id: str) -> ChargeRecordItem | None:
        return _get(ChargeRecordItem, request_pk(request_id), CHARGE_SK)

    # refunds ---------------------------------------------------------------------------------

    def get_refund(self, request_id: str) -> RefundRecordItem | None:
        return _get(RefundRecordItem, request_pk(request_id), REFUND_SK)

    def refund(self, charge: ChargeRecordItem, *, request_id: str, reason: str, now: datetime) -> Refunded:
        """ONE transaction: the refund record (at most one per charge), the credit, the ledger entry."""
        amount = int(charge.amount)
        entry = _ledger_entry(
            charge.account_id,
            request_id=request_id,
            kind="refund",
            amount=amount,
            now=now,
            method=charge.method,
            path=charge.path,
            body_bytes=int(charge.bytes),
            reason=reason,
            key_id=charge.key_id,
        )
        record = RefundRecordItem(
            request_pk(request_id),
            REFUND_SK,
            account_id=charge.account_id,
            entry_id="",
            amount=amount,
            reason=reason,
            created_at=now,
            ttl=self._ttl(now),
        )
        try:
            self._move_credits(record, entry, BalanceItem.pk.exists())
        except TransactionCancelled as cancelled:
            if cancelled.failed("record"):
                return Refunded(_blocking_record(self.get_refund(request_id), "refund"), replayed=True)
            raise DataIntegrityError(f"unexpected cancellation of a refund: {cancelled}") from None
        return Refunded(record, replayed=False)

    # grants ----------------------------------------------------------------------------------

    def grant(
        self,
        *,
        account_id: str,
        amount: int,
        reason: str,
        idempotency_key: str,
        max_balance: int,
        now: datetime,
    ) -> GrantOutcome:
        """ONE transaction: the grant record (once per idempotency key), the credit, the ledger entry."""
        request_id = f"grant:{idempotency_key}"
        entry = _ledger_entry(
            account_id, request_id=request_id, kind="grant", amount=amount, now=now, reason=reason
        )
        record = GrantRecordItem(
            grant_pk(account_id, idempotency_key),
            GRANT_SK,
            account_id=account_id,
            idempotency_key=idempotency_key,
            entry_id="",
            amount=amount,
            reason=reason,
            created_at=now,
        )
        try:
            self._move_credits(record, entry, BalanceItem.balance <= max_balance - amount)
        except TransactionCancelled as cancelled:
            if cancelled.failed("record"):
                existing = _get(GrantRecordItem, record.pk, GRANT_SK)
                return Granted(_blocking_record(existing, "grant"), replayed=True)
            failed = cancelled.failed("balance")
            if failed is not None:
                return NoSuchAccount() if failed.raw_item is None else GrantOverLimit()
            raise DataIntegrityError(f"unexpected cancellation of a grant: {cancelled}") from None
        return Granted(record, replayed=False)

    # ledger and usage ------------------------------------------------------------------------

    def ledger_page(
        self,
        account_id: str,
        *,
        start: datetime,
        end: datetime,
        limit: int,
        cursor: str | None,
    ) -> Page[LedgerEntryItem]:
        """Entries created in [start, end), newest first."""
        pk = account_pk(account_id)
        results = LedgerEntryItem.query(
            pk,
            LedgerEntryItem.sk.between(ledger_sk_bound(start), ledger_sk_bound(end)),
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=_decode_cursor(cursor, pk, LEDGER_SK_PREFIX),
            consistent_read=True,
        )
        return _page(results, limit)

    def ledger_entries(self, account_id: str, *, start: datetime, end: datetime) -> Iterator[LedgerEntryItem]:
        """Every entry created in [start, end), oldest first, fetched page by page."""
        return LedgerEntryItem.query(
            account_pk(account_id),
            LedgerEntryItem.sk.between(ledger_sk_bound(start), ledger_sk_bound(end)),
            consistent_read=True,
            page_size=1000,
            attributes_to_get=["pk", "sk", "kind", "amount", "method", "bytes"],
        )

    def usage(self, account_id: str, *, start: datetime, end: datetime) -> UsageTotals:
        totals = dict.fromkeys(UsageTotals.__dataclass_fields__, 0)
        for entry in self.ledger_entries(account_id, start=start, end=end):
            amount = int(entry.amount)
            if entry.kind == "charge":
                method = entry.method or ""
                if method in DOWNLOAD_METHODS:
                    totals["downloads"] += 1
                elif method in UPLOAD_METHODS:
                    totals["uploads"] += 1
                else:
                    totals["other_requests"] += 1
                totals["bytes"] += int(entry.bytes or 0)
                totals["credits_spent"] += -amount
            elif entry.kind == "refund":
                totals["refunds"] += 1
                totals["credits_refunded"] += amount
            elif entry.kind == "grant":
                totals["grants"] += 1
                totals["credits_granted"] += amount
        return UsageTotals(**totals)


M = TypeVar("M", bound=Model)


def _page(results: ResultIterator[M], limit: int) -> Page[M]:
    """One page of a limited query; a cursor only when the page is full (more may follow)."""
    items = list(results)
    return Page(items, _encode_cursor(results.last_evaluated_key) if len(items) == limit else None)


def _ledger_entry(
    account_id: str,
    *,
    request_id: str,
    kind: str,
    amount: int,
    now: datetime,
    method: str | None = None,
    path: str | None = None,
    body_bytes: int | None = None,
    reason: str | None = None,
    key_id: str | None = None,
) -> LedgerEntryItem:
    """A ledger entry of ``account_id``; its id and sort key are set per transaction attempt."""
    return LedgerEntryItem(
        account_pk(account_id),
        "",
        account_id=account_id,
        entry_id="",
        request_id=request_id,
        kind=kind,
        amount=amount,
        method=method,
        path=path,
        bytes=body_bytes,
        reason=reason,
        key_id=key_id,
        created_at=now,
    )


def _blocking_record(existing: M | None, kind: str) -> M:
    """The record whose existence cancelled a ``kind``: it must still be there to be replayed."""
    if existing is None:
        raise DataIntegrityError(f"a {kind} record vanished after blocking a {kind}")
    return existing


def _key_revocations(balance: BalanceItem) -> int:
    return 0 if balance.key_revocations is None else int(balance.key_revocations)


def _key_revocations_are(count: int) -> Condition:
    """The balance item's key revocation count equals ``count`` (absent counts as 0)."""
    equal = BalanceItem.key_revocations == count
    return (BalanceItem.key_revocations.does_not_exist() | equal) if count == 0 else equal


def _get(model: type[M], hash_key: str, range_key: str) -> M | None:
    """A strongly consistent GetItem; None when the item does not exist."""
    try:
        return model.get(hash_key, range_key, consistent_read=True)
    except DoesNotExist:
        return None


__all__ = [
    "AlreadyCharged",
    "Charged",
    "CreditsRepository",
    "GrantOverLimit",
    "Granted",
    "InsufficientCredits",
    "InvalidCursor",
    "KeyRevocationsChanged",
    "KeyStanding",
    "NoSuchAccount",
    "Page",
    "Refunded",
    "UsageTotals",
]
