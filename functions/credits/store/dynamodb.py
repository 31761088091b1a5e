"""``DynamoDBCreditsStore``: the credits store on DynamoDB (the users and credits tables).

Each money movement is ONE DynamoDB transaction (docs/decisions.md, "Credits service"):

* charge: balance -= price IF balance >= price (and, for a key whose facts a container cached,
  IF the account's key revocation count is still the one it saw); put the charge record IF the
  request id is new; put the ledger entry.
* refund: put the refund record IF none exists; balance += charged amount; put the ledger entry.
* grant: put the grant record IF the idempotency key is new; balance += amount IF it stays
  within the limit; put the ledger entry.

So a balance never goes below zero, and every change has its ledger entry, under any
concurrency. The pynamodb models (functions/credits/data/models.py) stay the schema's home;
they never leave this module: callers get the domain records of ``store.records`` and the
failures of ``store.errors``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, PynamoDBException
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.pagination import ResultIterator
from pynamodb.transactions import TransactGet

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
    RETRYABLE_ERRORS,
    LabelledTransaction,
    TransactionCancelled,
    run_transaction,
)
from functions.credits.ids import new_entry_id
from functions.credits.sellers import dynamodb_store as sellers
from functions.credits.sellers.dynamodb_store import (
    account_is_active,
    account_is_open,
    add_charge_counters,
    counter_refusal,
    give_back_spend,
    is_closed,
    not_active_status,
)
from functions.credits.sellers.lifecycle import AccountStatus, StatusChange, status_from_stored
from functions.credits.sellers.links import LinkFacts
from functions.credits.sellers.listing import list_partition_of, list_sort_key
from functions.credits.sellers.records import (
    AccountClosedToGrants,
    AccountListSlice,
    BalanceFacts,
    SpendLimitReached,
    StatusChangeOutcome,
)
from functions.credits.sellers.scopes import KeyScope, scope_from_stored, spend_ceiling
from functions.credits.settings import Settings
from functions.credits.store.errors import (
    CreditsStoreError,
    DataIntegrityError,
    InvalidCursor,
    StoreUnavailable,
)
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
    KeyRateLimit,
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

# Optimistic attempts at one rate-limit bucket before the request counts as limited.
_RATE_LIMIT_ATTEMPTS = 4

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=Model)


def _translated(method: Callable[P, R]) -> Callable[P, R]:
    """Let no pynamodb exception out: throttling and busy answers become ``StoreUnavailable``."""

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except PynamoDBException as error:
            code = error.cause_response_code
            if code in RETRYABLE_ERRORS:
                raise StoreUnavailable(f"DynamoDB is busy ({code})") from error
            raise CreditsStoreError(f"DynamoDB call failed ({code or type(error).__name__})") from error

    return call


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
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
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


# --- items <-> records ------------------------------------------------------------------------


def _account_record(item: AccountItem) -> AccountRecord:
    return AccountRecord(
        account_id=item.account_id,
        name=item.name,
        status=item.status,
        created_at=item.created_at,
        status_reason=item.status_reason,
        status_changed_by=item.status_changed_by,
        status_changed_at=item.status_changed_at,
    )


def _key_record(item: KeyByIdItem) -> KeyRecord:
    rate_limit = None
    if item.rate_limit_per_second is not None and item.rate_limit_burst is not None:
        rate_limit = KeyRateLimit(int(item.rate_limit_per_second), int(item.rate_limit_burst))
    return KeyRecord(
        account_id=item.account_id,
        key_id=item.key_id,
        key_digest=item.key_digest,
        status=KeyState(item.status),
        created_at=item.created_at,
        name=item.name,
        expires_at=item.expires_at,
        revoked_at=item.revoked_at,
        rate_limit=rate_limit,
        scope=_stored_scope(item),
        spend_limit=_optional_int(item.spend_limit),
    )


def _stored_scope(item: KeyByIdItem) -> KeyScope | None:
    if item.scope_methods is None and item.scope_prefixes is None:
        return None
    return scope_from_stored(item.scope_methods, item.scope_prefixes)


def _key_item(model: type[KeyByIdItem], pk: str, sk: str, key: KeyRecord) -> KeyByIdItem:
    limit, scope = key.rate_limit, key.scope
    return model(
        pk,
        sk,
        account_id=key.account_id,
        key_id=key.key_id,
        key_digest=key.key_digest,
        name=key.name,
        status=key.status.value,
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        rate_limit_per_second=None if limit is None else limit.per_second,
        rate_limit_burst=None if limit is None else limit.burst,
        scope_methods=None if scope is None or scope.methods is None else sorted(scope.methods),
        scope_prefixes=None if scope is None or scope.prefixes is None else list(scope.prefixes),
        spend_limit=key.spend_limit,
    )


def _optional_int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _charge_record(item: ChargeRecordItem) -> ChargeRecord:
    return ChargeRecord(
        request_id=item.pk.removeprefix(request_pk("")),
        account_id=item.account_id,
        key_id=item.key_id,
        entry_id=item.entry_id,
        amount=int(item.amount),
        method=item.method,
        path=item.path,
        bytes=_optional_int(item.bytes),
        created_at=item.created_at,
        range_header=item.range_header,
        spend_counted=bool(item.spend_counted),
    )


def _refund_record(item: RefundRecordItem) -> RefundRecord:
    return RefundRecord(
        request_id=item.pk.removeprefix(request_pk("")),
        account_id=item.account_id,
        entry_id=item.entry_id,
        amount=int(item.amount),
        reason=item.reason,
        created_at=item.created_at,
    )


def _grant_record(item: GrantRecordItem) -> GrantRecord:
    return GrantRecord(
        account_id=item.account_id,
        idempotency_key=item.idempotency_key,
        entry_id=item.entry_id,
        amount=int(item.amount),
        reason=item.reason,
        created_at=item.created_at,
    )


def _ledger_record(item: LedgerEntryItem) -> LedgerRecord:
    return LedgerRecord(
        account_id=item.account_id,
        entry_id=item.entry_id,
        request_id=item.request_id,
        kind=LedgerKind(item.kind),
        amount=int(item.amount),
        created_at=item.created_at,
        method=item.method,
        path=item.path,
        bytes=_optional_int(item.bytes),
        reason=item.reason,
        key_id=item.key_id,
    )


def _ledger_item(entry: LedgerRecord) -> LedgerEntryItem:
    """The item of ``entry``; its id and sort key are set per transaction attempt."""
    return LedgerEntryItem(
        account_pk(entry.account_id),
        "",
        account_id=entry.account_id,
        entry_id="",
        request_id=entry.request_id,
        kind=entry.kind.value,
        amount=entry.amount,
        method=entry.method,
        path=entry.path,
        bytes=entry.bytes,
        reason=entry.reason,
        key_id=entry.key_id,
        created_at=entry.created_at,
    )


def _page(results: ResultIterator[M], limit: int, convert: Callable[[M], R]) -> Page[R]:
    """One page of a limited query; a cursor only when the page is full (more may follow)."""
    items = [convert(item) for item in results]
    return Page(items, _encode_cursor(results.last_evaluated_key) if len(items) == limit else None)


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


class DynamoDBCreditsStore:
    """The users and credits tables behind ``CreditsStore``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._connection: Connection = bind_tables(settings)

    def _transaction(self) -> LabelledTransaction:
        return LabelledTransaction(self._connection)

    def _run(self, build: Callable[[], LabelledTransaction]) -> None:
        run_transaction(build, attempts=self._settings.transaction_attempts)

    def _ttl(self, now: datetime) -> datetime:
        return now + timedelta(days=self._settings.charge_record_ttl_days)

    # accounts ----------------------------------------------------------------------------------

    @_translated
    def create_account(self, account: AccountRecord) -> None:
        pk = account_pk(account.account_id)
        item = AccountItem(
            pk,
            ACCOUNT_PROFILE_SK,
            account_id=account.account_id,
            name=account.name,
            status=account.status,
            created_at=account.created_at,
            list_pk=list_partition_of(account.account_id, status_from_stored(account.status)),
            list_sk=list_sort_key(account.name, account.account_id),
        )
        balance = BalanceItem(pk, BALANCE_SK, account_id=account.account_id, balance=0, key_revocations=0)

        def build() -> LabelledTransaction:
            transaction = self._transaction()
            transaction.put("account", item, AccountItem.pk.does_not_exist())
            transaction.put("balance", balance, BalanceItem.pk.does_not_exist())
            return transaction

        try:
            self._run(build)
        except TransactionCancelled as cancelled:
            raise DataIntegrityError(f"account id collision: {cancelled}") from None

    @_translated
    def get_account(self, account_id: str) -> AccountRecord | None:
        item = _get(AccountItem, account_pk(account_id), ACCOUNT_PROFILE_SK)
        return None if item is None else _account_record(item)

    @_translated
    def get_balance(self, account_id: str) -> int | None:
        item = _get(BalanceItem, account_pk(account_id), BALANCE_SK)
        return None if item is None else int(item.balance)

    # keys --------------------------------------------------------------------------------------

    @_translated
    def put_key(self, key: KeyRecord) -> bool:
        by_id = _key_item(KeyByIdItem, account_pk(key.account_id), key_sk(key.key_id), key)
        by_digest = _key_item(KeyByDigestItem, key_digest_pk(key.key_digest), KEY_BY_DIGEST_SK, key)

        def build() -> LabelledTransaction:
            transaction = self._transaction()
            transaction.condition_check(
                "account",
                AccountItem,
                account_pk(key.account_id),
                ACCOUNT_PROFILE_SK,
                AccountItem.pk.exists(),
            )
            transaction.put("by_id", by_id, KeyByIdItem.pk.does_not_exist())
            transaction.put("by_digest", by_digest, KeyByDigestItem.pk.does_not_exist())
            return transaction

        try:
            self._run(build)
        except TransactionCancelled as cancelled:
            if cancelled.failed("account"):
                return False
            raise DataIntegrityError(f"key id or digest collision: {cancelled}") from None
        return True

    @_translated
    def get_key(self, account_id: str, key_id: str) -> KeyRecord | None:
        item = _get(KeyByIdItem, account_pk(account_id), key_sk(key_id))
        return None if item is None else _key_record(item)

    @_translated
    def get_key_by_digest(self, key_digest: str) -> KeyRecord | None:
        item = _get(KeyByDigestItem, key_digest_pk(key_digest), KEY_BY_DIGEST_SK)
        return None if item is None else _key_record(item)

    def get_key_standing(self, key_digest: str, account_id: str) -> KeyStanding | None:
        """One TransactGetItems, because a count read after a separate key read could already
        include the revocation of that very key."""
        try:
            with TransactGet(connection=self._connection) as snapshot:
                key = snapshot.get(KeyByDigestItem, key_digest_pk(key_digest), KEY_BY_DIGEST_SK)
                balance = snapshot.get(BalanceItem, account_pk(account_id), BALANCE_SK)
            return KeyStanding(key=_key_record(key.get()), key_revocations=_key_revocations(balance.get()))
        except PynamoDBException:  # DoesNotExist included
            return None

    @_translated
    def list_keys(self, account_id: str, limit: int, cursor: str | None) -> Page[KeyRecord]:
        pk = account_pk(account_id)
        results = KeyByIdItem.query(
            pk,
            KeyByIdItem.sk.startswith(KEY_SK_PREFIX),
            limit=limit,
            last_evaluated_key=_decode_cursor(cursor, pk, KEY_SK_PREFIX),
            consistent_read=True,
        )
        return _page(results, limit, _key_record)

    @_translated
    def revoke_key(self, key: KeyRecord, now: datetime) -> None:
        """Both copies of the key and the account's revocation count, in one transaction."""
        actions = [KeyByIdItem.status.set(KeyState.REVOKED.value), KeyByIdItem.revoked_at.set(now)]
        active = KeyByIdItem.status == KeyState.ACTIVE.value

        def build() -> LabelledTransaction:
            transaction = self._transaction()
            transaction.update(
                "by_id", KeyByIdItem(account_pk(key.account_id), key_sk(key.key_id)), actions, active
            )
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
            self._run(build)
        except TransactionCancelled as cancelled:
            if cancelled.failed("by_id") or cancelled.failed("by_digest"):
                # Both copies change together, so a failed key condition means: revoked already.
                return
            raise DataIntegrityError(f"account {key.account_id} has a key but no balance") from None

    # rate limits -------------------------------------------------------------------------------

    @_translated
    def take_rate_limit_slot(self, key_id: str, per_second: int, burst: int, now_us: int) -> int:
        """One consistent read and one conditional write per request, only for keys with a limit."""
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

    # money movements ---------------------------------------------------------------------------

    def _move_credits(
        self,
        record: ChargeRecordItem | RefundRecordItem | GrantRecordItem,
        entry: LedgerEntryItem,
        balance_condition: Condition,
        counters: Callable[[LabelledTransaction], None] | None = None,
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
            if counters is not None:
                counters(transaction)
            return transaction

        self._run(build)

    @_translated
    def charge(self, intent: ChargeIntent) -> ChargeOutcome:
        if intent.spend_limit is not None and spend_ceiling(intent.spend_limit, intent.amount) is None:
            return SpendLimitReached()  # more than the key may ever spend: no write can fit it
        entry = _ledger_item(
            LedgerRecord(
                account_id=intent.account_id,
                entry_id="",
                request_id=intent.request_id,
                kind=LedgerKind.CHARGE,
                amount=-intent.amount,
                created_at=intent.now,
                method=intent.method,
                path=intent.path,
                bytes=intent.bytes,
                key_id=intent.key_id,
            )
        )
        record = ChargeRecordItem(
            request_pk(intent.request_id),
            CHARGE_SK,
            account_id=intent.account_id,
            key_id=intent.key_id,
            entry_id="",
            amount=intent.amount,
            method=intent.method,
            path=intent.path,
            bytes=intent.bytes,
            range_header=intent.range_header,
            created_at=intent.now,
            ttl=self._ttl(intent.now),
            spend_counted=True if intent.spend_limit is not None else None,
        )
        # sellers (issue 16): a suspended or closed account is refused by the same condition.
        balance_condition = (BalanceItem.balance >= intent.amount) & account_is_active()
        if intent.key_revocations_seen is not None:
            balance_condition &= _key_revocations_are(intent.key_revocations_seen)
        try:
            self._move_credits(
                record, entry, balance_condition, lambda transaction: add_charge_counters(transaction, intent)
            )
        except TransactionCancelled as cancelled:
            return self._refused_charge(intent, cancelled)
        return Charged(entry_id=entry.entry_id, created_at=intent.now)

    def _refused_charge(self, intent: ChargeIntent, cancelled: TransactionCancelled) -> ChargeOutcome:
        """Why a charge's transaction was cancelled, as an outcome."""
        # The request id first: a retry of a charged request is a replay, whatever the balance.
        if cancelled.failed("record"):
            existing = _get(ChargeRecordItem, request_pk(intent.request_id), CHARGE_SK)
            return AlreadyCharged(_charge_record(_blocking_record(existing, "charge")))
        reason = cancelled.failed("balance")
        if reason is None:
            # sellers (issue 16): only a key's spend counter or a link's use counter said no.
            refused = counter_refusal(cancelled)
            if refused is None:
                raise DataIntegrityError(f"unexpected cancellation of a charge: {cancelled}") from None
            return refused
        if reason.raw_item is None:
            raise DataIntegrityError(f"account {intent.account_id} has a key but no balance") from None
        old = BalanceItem.from_raw_data(reason.raw_item)
        seen = intent.key_revocations_seen
        refusal: ChargeOutcome | None = not_active_status(old)
        if refusal is None and seen is not None and _key_revocations(old) != seen:
            refusal = KeyRevocationsChanged()
        return refusal or counter_refusal(cancelled) or InsufficientCredits(balance=int(old.balance))

    @_translated
    def get_charge(self, request_id: str) -> ChargeRecord | None:
        item = _get(ChargeRecordItem, request_pk(request_id), CHARGE_SK)
        return None if item is None else _charge_record(item)

    @_translated
    def refund(self, charge: ChargeRecord, *, reason: str, now: datetime) -> Refunded:
        entry = _ledger_item(
            LedgerRecord(
                account_id=charge.account_id,
                entry_id="",
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
        )
        record = RefundRecordItem(
            request_pk(charge.request_id),
            REFUND_SK,
            account_id=charge.account_id,
            entry_id="",
            amount=charge.amount,
            reason=reason,
            created_at=now,
            ttl=self._ttl(now),
        )
        # sellers (issue 16): a spend-limited key's counter gets the credits back in the same transaction.
        give_back = charge.spend_counted
        try:
            self._move_credits(
                record,
                entry,
                BalanceItem.pk.exists(),
                (lambda transaction: give_back_spend(transaction, charge.key_id, charge.amount))
                if give_back
                else None,
            )
        except TransactionCancelled as cancelled:
            if cancelled.failed("record"):
                existing = _get(RefundRecordItem, record.pk, REFUND_SK)
                return Refunded(_refund_record(_blocking_record(existing, "refund")), replayed=True)
            raise DataIntegrityError(f"unexpected cancellation of a refund: {cancelled}") from None
        return Refunded(_refund_record(record), replayed=False)

    @_translated
    def get_refund(self, request_id: str) -> RefundRecord | None:
        item = _get(RefundRecordItem, request_pk(request_id), REFUND_SK)
        return None if item is None else _refund_record(item)

    @_translated
    def grant(self, intent: GrantIntent) -> GrantOutcome:
        entry = _ledger_item(
            LedgerRecord(
                account_id=intent.account_id,
                entry_id="",
                request_id=intent.request_id,
                kind=LedgerKind.GRANT,
                amount=intent.amount,
                created_at=intent.now,
                reason=intent.reason,
            )
        )
        record = GrantRecordItem(
            grant_pk(intent.account_id, intent.idempotency_key),
            GRANT_SK,
            account_id=intent.account_id,
            idempotency_key=intent.idempotency_key,
            entry_id="",
            amount=intent.amount,
            reason=intent.reason,
            created_at=intent.now,
        )
        try:
            # sellers (issue 16): a closed account takes no grants (the same balance condition).
            within_limit = BalanceItem.balance <= intent.max_balance - intent.amount
            self._move_credits(record, entry, within_limit & account_is_open())
        except TransactionCancelled as cancelled:
            if cancelled.failed("record"):
                existing = _get(GrantRecordItem, record.pk, GRANT_SK)
                return Granted(_grant_record(_blocking_record(existing, "grant")), replayed=True)
            failed = cancelled.failed("balance")
            if failed is not None:
                if failed.raw_item is None:
                    return NoSuchAccount()
                closed = is_closed(BalanceItem.from_raw_data(failed.raw_item))
                return AccountClosedToGrants() if closed else GrantOverLimit()
            raise DataIntegrityError(f"unexpected cancellation of a grant: {cancelled}") from None
        return Granted(_grant_record(record), replayed=False)

    # ledger and usage --------------------------------------------------------------------------

    @_translated
    def ledger_page(
        self, account_id: str, *, start: datetime, end: datetime, limit: int, cursor: str | None
    ) -> Page[LedgerRecord]:
        pk = account_pk(account_id)
        results = LedgerEntryItem.query(
            pk,
            LedgerEntryItem.sk.between(ledger_sk_bound(start), ledger_sk_bound(end)),
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=_decode_cursor(cursor, pk, LEDGER_SK_PREFIX),
            consistent_read=True,
        )
        return _page(results, limit, _ledger_record)

    @_translated
    def usage(self, account_id: str, *, start: datetime, end: datetime) -> UsageTotals:
        entries = LedgerEntryItem.query(
            account_pk(account_id),
            LedgerEntryItem.sk.between(ledger_sk_bound(start), ledger_sk_bound(end)),
            consistent_read=True,
            page_size=1000,
            attributes_to_get=["pk", "sk", "kind", "amount", "method", "bytes"],
        )
        return usage_totals(
            UsageLine(entry.kind, int(entry.amount), entry.method, _optional_int(entry.bytes))
            for entry in entries
        )

    # --- sellers (issue 16): functions/credits/sellers/dynamodb_store.py ------------------------

    @_translated
    def list_accounts(
        self, *, status: AccountStatus | None, name_prefix: str | None, after: str | None, limit: int
    ) -> AccountListSlice:
        return sellers.list_accounts(status=status, name_prefix=name_prefix, after=after, limit=limit)

    @_translated
    def get_balances(self, account_ids: Sequence[str]) -> dict[str, int]:
        return sellers.get_balances(account_ids)

    @_translated
    def get_balance_facts(self, account_id: str) -> BalanceFacts | None:
        return sellers.get_balance_facts(account_id)

    @_translated
    def change_account_status(self, account: AccountRecord, change: StatusChange) -> StatusChangeOutcome:
        return sellers.change_account_status(self._run, self._transaction, account, change)

    @_translated
    def set_alert_thresholds(self, account_id: str, thresholds: Sequence[int]) -> bool:
        return sellers.set_alert_thresholds(account_id, thresholds)

    @_translated
    def put_link(self, link_digest: str, link: LinkFacts, *, now: datetime) -> None:
        sellers.put_link(link_digest, link, now)

    @_translated
    def get_link(self, link_digest: str) -> LinkFacts | None:
        return sellers.get_link(link_digest)
