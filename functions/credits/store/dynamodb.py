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
import heapq
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import ParamSpec, TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, PynamoDBException
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.pagination import ResultIterator
from pynamodb.transactions import TransactGet

from functions.credits.data.binding import binding_scoped
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
    balance_shard_pk,
    grant_pk,
    key_digest_pk,
    key_sk,
    ledger_sk,
    ledger_sk_bound,
    request_pk,
)
from functions.credits.data.tables import UNREACHABLE_ERRORS, bind_tables, table_binding
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
from functions.credits.store.rate_limit_split import next_rate_limit_part
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
from functions.credits.store.shards import (
    LayoutCache,
    ShardLayout,
    ShardTurns,
    add_source_debits,
    add_standing_copies,
    count_is,
    layout_is,
    layout_of,
    ledger_partitions,
    ledger_pk,
    plan_gather,
    read_shards,
    source_failed,
)
from functions.credits.store.stream_ledger import (
    LedgerTableSlice,
    ledger_record_of,
    ledger_table_slice,
    ledger_table_usage_lines,
)
from functions.credits.store.two_write_charge import (
    DebitThrottled,
    charge_record_item,
    debit_shard,
    record_charge,
    takes_two_writes,
)

# Optimistic attempts at one rate-limit bucket before the request counts as limited.
_RATE_LIMIT_ATTEMPTS = 4
# Rounds of one charge, grant or revocation against an account whose shard layout or shard
# balances move under it (a split, a merge, a rebalance or a gather racing it) before a 503.
_SHARD_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class _Short:
    """The charged shard holds less than the price; ``layout`` when it was shard 0 (which says)."""

    balance: int
    layout: ShardLayout | None


@dataclass(frozen=True, slots=True)
class _StaleLayout:
    """Shard 0 has another count than the container remembered: charge again on ``layout``."""

    layout: ShardLayout


class _Retry(Enum):
    """Shards moved under a gather or a grant (a concurrent charge, move or split): read again."""

    RETRY = "retry"


_RETRY = _Retry.RETRY
_ShardOutcome = ChargeOutcome | _Short | _StaleLayout | _Retry

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
            if isinstance(error.cause, UNREACHABLE_ERRORS):  # a region cut off (issue 15): a 503
                raise StoreUnavailable(f"DynamoDB unreachable ({type(error.cause).__name__})") from error
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
        shard=int(item.shard or 0),
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


def _charge_condition(intent: ChargeIntent, shard: int, layout: ShardLayout, gathered: int) -> Condition:
    """What a charge's shard write requires, in the transaction and on the two-write path alike."""
    # sellers (issue 16): a suspended or closed account is refused by the same condition.
    condition: Condition = (BalanceItem.balance >= intent.amount - gathered) & account_is_active()
    if intent.key_revocations_seen is not None:
        condition &= _key_revocations_are(intent.key_revocations_seen)
    if shard == 0:
        # Shard 0 holds the layout: a container charging on an outdated count learns it here.
        condition &= count_is(layout.count)
    return condition


def _charge_decision(existing: ChargeRecordItem | None) -> AlreadyCharged:
    """The answer to a request id whose charge record blocked this attempt (issue 14: a record the
    ledger writer voided means no attempt of it may charge any more: 503, the edge's retry)."""
    record = _blocking_record(existing, "charge")
    if record.voided:
        raise StoreUnavailable("this request id was voided after an unfinished attempt")
    return AlreadyCharged(_charge_record(record))


def _get(model: type[M], hash_key: str, range_key: str) -> M | None:
    """A strongly consistent GetItem; None when the item does not exist."""
    try:
        return model.get(hash_key, range_key, consistent_read=True)
    except DoesNotExist:
        return None


@binding_scoped
class DynamoDBCreditsStore:
    """The users and credits tables behind ``CreditsStore``.

    Every public method runs under this store's own ``TableBinding`` (binding_scoped), so one
    process can hold home's store and each region's at once (issue 15).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # The process-wide default stays as before (callers outside a store use it) ...
        bind_tables(settings)
        # ... and this store's calls use its own binding, whatever another store bound since.
        self.table_binding = table_binding(settings)
        self._connection: Connection = self.table_binding.connection()
        # The two-write debit is not idempotent: sent once (two_write_charge.debit_shard).
        self._single_shot = self.table_binding.without_sdk_retries()
        self._layouts = LayoutCache()
        self._turns = ShardTurns()

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
        """The sum of the account's shards (one GetItem when it has one shard)."""
        found = read_shards(account_id)
        return None if found is None else sum(int(item.balance) for item in found[1])

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
            standing = KeyStanding(
                key=_key_record(key.get()), key_revocations=_key_revocations(balance.get())
            )
        except PynamoDBException:  # DoesNotExist included
            return None
        # sharding (issue 14): shard 0 names the layout; a container warming a key learns it free.
        self._layouts.put(account_id, layout_of(balance.get()))
        return standing

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
        """Both copies of the key and the account's revocation count on every balance shard, in
        one transaction conditioned on the shard layout it read (a split retries it)."""
        for _ in range(_SHARD_ATTEMPTS):
            found = read_shards(key.account_id)
            layout = found[0] if found is not None else ShardLayout(1, 1)
            if self._revoke_on(key, now, layout):
                return
        raise StoreUnavailable("the account's shard layout kept changing under a revocation")

    def _revoke_on(self, key: KeyRecord, now: datetime, layout: ShardLayout) -> bool:
        """False when the layout changed since it was read."""
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
                BalanceItem.pk.exists() & layout_is(layout),
                return_old=True,
            )
            add_standing_copies(
                transaction, key.account_id, layout, lambda: [BalanceItem.key_revocations.add(1)]
            )
            return transaction

        try:
            self._run(build)
        except TransactionCancelled as cancelled:
            if cancelled.failed("by_id") or cancelled.failed("by_digest"):
                # Both copies change together, so a failed key condition means: revoked already.
                return True
            failed = cancelled.failed("balance")
            if failed is not None and failed.raw_item is not None:
                return False
            raise DataIntegrityError(f"account {key.account_id} has a key but no balance") from None
        return True

    # rate limits -------------------------------------------------------------------------------

    @_translated
    def take_rate_limit_slot(self, key_id: str, per_second: int, burst: int, now_us: int) -> int:
        """One consistent read and one conditional write per request, only for keys with a limit;
        a high limit's state is split over several items, one taken per request (rate_limit_split)."""
        part = next_rate_limit_part(key_id, per_second, burst)
        interval, tolerance, pk = part.interval_us, part.tolerance_us, part.pk
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
        *,
        gathered: int = 0,
        balance_pk: str | None = None,
    ) -> None:
        """ONE transaction: put ``record`` IF its key is new, add ``entry.amount`` (plus credits
        ``gathered`` from other shards by ``counters``) to the balance shard ``balance_pk`` (default:
        the item under ``entry``'s partition) IF ``balance_condition``, put ``entry``.

        The account's shards move by exactly the ledger entry's (signed) amount, so the ledger
        sums to the balance by construction. Both conditions that fail return the item as it was
        (``ALL_OLD``). Raises ``TransactionCancelled`` with the reasons of the items "record" and
        "balance" (and of whatever ``counters`` added).
        """
        balance = BalanceItem(balance_pk or entry.pk, BALANCE_SK)
        delta = int(entry.amount) + gathered

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
        """Debit the request id's shard; when it is short but the account is not, gather credit
        from the other shards into the same transaction (never deny while credit sits elsewhere)."""
        if intent.spend_limit is not None and spend_ceiling(intent.spend_limit, intent.amount) is None:
            return SpendLimitReached()  # more than the key may ever spend: no write can fit it
        for _ in range(_SHARD_ATTEMPTS):
            layout = self._layouts.get(intent.account_id)
            shard = self._turns.next_shard(layout.count)
            # issue 14 §4: a split account's allow is two single-item writes, its ledger entry
            # comes from the stream (functions/credits/store/two_write_charge.py).
            if takes_two_writes(intent, layout.count):
                outcome = self._charge_two_writes(intent, shard, layout)
            else:
                outcome = self._charge_shard(intent, shard, layout, {})
            if isinstance(outcome, _Short):
                outcome = self._gather_and_charge(intent, shard, outcome)
            if isinstance(outcome, _StaleLayout):
                self._layouts.put(intent.account_id, outcome.layout)
                continue
            if not isinstance(outcome, _Retry):
                return outcome
        raise StoreUnavailable("the account's shards kept moving under its charge")

    def _gather_and_charge(
        self, intent: ChargeIntent, shard: int, short: _Short
    ) -> ChargeOutcome | _StaleLayout | _Retry:
        """The shard is short: read every shard; charge with credit gathered from the others, or
        deny with the account's whole balance when even their sum is short."""
        if short.layout is not None and short.layout.peak == 1:
            return InsufficientCredits(balance=short.balance)  # unsharded: today's single item
        found = read_shards(intent.account_id)
        if found is None:
            raise DataIntegrityError(f"account {intent.account_id} has a key but no balance")
        layout, shards = found
        self._layouts.put(intent.account_id, layout)
        total = sum(int(item.balance) for item in shards)
        if total < intent.amount:
            return InsufficientCredits(balance=total)
        on_shard = next(
            (int(item.balance) for item in shards if item.pk == balance_shard_pk(intent.account_id, shard)), 0
        )
        sources = plan_gather(intent.account_id, shards, shard, intent.amount - max(on_shard, 0))
        if sources is None:
            return _RETRY
        outcome = self._charge_shard(intent, shard, layout, sources)
        return _RETRY if isinstance(outcome, _Short) else outcome

    def _charge_shard(
        self, intent: ChargeIntent, shard: int, layout: ShardLayout, sources: dict[int, int]
    ) -> _ShardOutcome:
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
        entry.pk = ledger_pk(intent.account_id, shard, layout)
        record = charge_record_item(
            intent,
            entry_id="",
            expires=self._ttl(intent.now),
            shard=shard,
            spend_counted=True if intent.spend_limit is not None else None,
        )
        gathered = sum(sources.values())
        balance_condition = _charge_condition(intent, shard, layout, gathered)

        def counters(transaction: LabelledTransaction) -> None:
            add_charge_counters(transaction, intent)
            add_source_debits(transaction, intent.account_id, sources)

        try:
            self._move_credits(
                record,
                entry,
                balance_condition,
                counters,
                gathered=gathered,
                balance_pk=balance_shard_pk(intent.account_id, shard),
            )
        except TransactionCancelled as cancelled:
            return self._refused_charge(intent, shard, layout.count, cancelled)
        return Charged(entry_id=entry.entry_id, created_at=intent.now)

    def _refused_charge(
        self, intent: ChargeIntent, shard: int, count: int, cancelled: TransactionCancelled
    ) -> _ShardOutcome:
        """Why a charge's transaction was cancelled, as an outcome."""
        # The request id first: a retry of a charged request is a replay, whatever the balance.
        if cancelled.failed("record"):
            return _charge_decision(_get(ChargeRecordItem, request_pk(intent.request_id), CHARGE_SK))
        reason = cancelled.failed("balance")
        if reason is None:
            # sellers (issue 16): only a key's spend counter or a link's use counter said no.
            refused = counter_refusal(cancelled)
            if refused is None and source_failed(
                [label for label in cancelled.reasons if cancelled.failed(label)]
            ):
                return _RETRY  # a gathered shard was spent meanwhile: read again
            if refused is None:
                raise DataIntegrityError(f"unexpected cancellation of a charge: {cancelled}") from None
            return refused
        if reason.raw_item is None:
            raise DataIntegrityError(f"account {intent.account_id} has a key but no balance") from None
        old = BalanceItem.from_raw_data(reason.raw_item)
        return self._refusal_of(intent, shard, count, old, counter_refusal(cancelled))

    def _charge_two_writes(self, intent: ChargeIntent, shard: int, layout: ShardLayout) -> _ShardOutcome:
        """Debit, then record (two_write_charge.py); a refused debit is first checked for a replay,
        so a charged request id is answered as such whatever the balance is now."""
        try:
            op = debit_shard(intent, shard, _charge_condition(intent, shard, layout, 0), self._single_shot)
        except DebitThrottled:
            return _RETRY  # not applied: the next round takes the next shard in turn
        if op is None:
            existing = _get(ChargeRecordItem, request_pk(intent.request_id), CHARGE_SK)
            if existing is not None:
                return _charge_decision(existing)
            old = _get(BalanceItem, balance_shard_pk(intent.account_id, shard), BALANCE_SK)
            if old is None:
                return _Short(balance=0, layout=None)  # a shard not made yet: gather, which re-reads
            return self._refusal_of(intent, shard, layout.count, old)
        lost_to = record_charge(intent, op, shard, self._ttl(intent.now))
        if lost_to is not None:
            return _charge_decision(lost_to)  # the ledger writer gives this debit back
        return Charged(entry_id=op.entry_id, created_at=intent.now)

    def _refusal_of(
        self,
        intent: ChargeIntent,
        shard: int,
        count: int,
        old: BalanceItem,
        counters: ChargeOutcome | None = None,
    ) -> _ShardOutcome:
        """Why ``old`` (the shard as it was) refused the charge, as an outcome (``counters``: what a
        key's spend counter or a link's use counter said, when the transaction carried them)."""
        seen = intent.key_revocations_seen
        refusal: ChargeOutcome | None = not_active_status(old)
        if refusal is None and seen is not None and _key_revocations(old) != seen:
            refusal = KeyRevocationsChanged()
        refusal = refusal or counters
        if refusal is not None:
            return refusal
        layout = layout_of(old) if shard == 0 else None
        if layout is not None and layout.count != count:
            return _StaleLayout(layout)
        return _Short(balance=int(old.balance), layout=layout)

    @_translated
    def get_charge(self, request_id: str) -> ChargeRecord | None:
        item = _get(ChargeRecordItem, request_pk(request_id), CHARGE_SK)
        # issue 14: a voided record is the ledger writer's "never charged" (nothing to refund).
        return None if item is None or item.voided else _charge_record(item)

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
        # sharding (issue 14): the credits go back to the shard the charge was taken from.
        entry.pk = ledger_pk(charge.account_id, charge.shard, self._layouts.get(charge.account_id))
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
                balance_pk=balance_shard_pk(charge.account_id, charge.shard),
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
        """Credit shard 0. The limit is on the account's sum: the other shards are checked not to
        have grown since they were read (charges only shrink them, so they rarely conflict)."""
        for _ in range(_SHARD_ATTEMPTS):
            found = read_shards(intent.account_id)
            if found is None:
                return NoSuchAccount()
            outcome = self._grant_on(intent, *found)
            if not isinstance(outcome, _Retry):
                return outcome
        raise StoreUnavailable("the account's shards kept moving under its grant")

    def _grant_on(
        self, intent: GrantIntent, layout: ShardLayout, shards: list[BalanceItem]
    ) -> GrantOutcome | _Retry:
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
        others = shards[1:]
        elsewhere = sum(int(item.balance) for item in others)
        # sellers (issue 16): a closed account takes no grants (the same balance condition).
        within_limit = BalanceItem.balance <= intent.max_balance - intent.amount - elsewhere
        condition = within_limit & account_is_open() & layout_is(layout)

        def unchanged_elsewhere(transaction: LabelledTransaction) -> None:
            for item in others:
                transaction.condition_check(
                    f"check{item.pk}",
                    BalanceItem,
                    item.pk,
                    BALANCE_SK,
                    BalanceItem.balance <= int(item.balance),
                )

        try:
            self._move_credits(record, entry, condition, unchanged_elsewhere if others else None)
        except TransactionCancelled as cancelled:
            return self._refused_grant(record, layout, cancelled)
        return Granted(_grant_record(record), replayed=False)

    def _refused_grant(
        self, record: GrantRecordItem, layout: ShardLayout, cancelled: TransactionCancelled
    ) -> GrantOutcome | _Retry:
        if cancelled.failed("record"):
            existing = _get(GrantRecordItem, record.pk, GRANT_SK)
            return Granted(_grant_record(_blocking_record(existing, "grant")), replayed=True)
        failed = cancelled.failed("balance")
        if failed is not None:
            if failed.raw_item is None:
                return NoSuchAccount()
            old = BalanceItem.from_raw_data(failed.raw_item)
            if is_closed(old):
                return AccountClosedToGrants()
            return _RETRY if layout_of(old) != layout else GrantOverLimit()
        if any(cancelled.failed(label) for label in cancelled.reasons):
            return _RETRY  # another shard grew (a refund, a move) since it was read
        raise DataIntegrityError(f"unexpected cancellation of a grant: {cancelled}") from None

    # ledger and usage --------------------------------------------------------------------------

    def _ledger_peak(self, account_id: str) -> int:
        """How many shards the account ever had: its ledger is on ``account#<id>``, on one credits
        table partition per shard, and (issue 14 §3) on one ledger-table partition per shard."""
        found = read_shards(account_id)
        return 1 if found is None else found[0].peak

    @_translated
    def ledger_page(
        self, account_id: str, *, start: datetime, end: datetime, limit: int, cursor: str | None
    ) -> Page[LedgerRecord]:
        """The shards' ledgers merged newest first. The cursor is the last entry's sort key (entry
        ids are unique, so it is a position in every shard's ledger at once)."""
        pk = account_pk(account_id)
        after = _decode_cursor(cursor, pk, LEDGER_SK_PREFIX)
        before = None if after is None else after["sk"]["S"]
        low, high = ledger_sk_bound(start), ledger_sk_bound(end)
        peak = self._ledger_peak(account_id)
        pages: list[list[tuple[str, LedgerRecord]]] = []
        for partition in ledger_partitions(account_id, peak):
            start_key = None if before is None else {"pk": {"S": partition}, "sk": {"S": before}}
            results = LedgerEntryItem.query(
                partition,
                LedgerEntryItem.sk.between(low, high),
                scan_index_forward=False,
                limit=limit,
                last_evaluated_key=start_key,
                consistent_read=True,
            )
            pages.append([(item.sk, ledger_record_of(item)) for item in results])
        # issue 14 §3: the stream-derived entries of an account that was ever split.
        table = LedgerTableSlice([], None)
        if peak > 1:
            table = ledger_table_slice(account_id, peak, low=low, high=high, limit=limit, before=before)
            pages.append([(item.sk, ledger_record_of(item)) for item in table.entries])
        merged = heapq.merge(*pages, key=lambda row: row[0], reverse=True)
        rows = [row for row in merged if table.boundary is None or row[0] >= table.boundary][:limit]
        last = rows[-1][0] if len(rows) == limit else table.boundary
        next_cursor = None if last is None else _encode_cursor({"pk": {"S": pk}, "sk": {"S": last}})
        return Page([record for _, record in rows], next_cursor)

    @_translated
    def usage(self, account_id: str, *, start: datetime, end: datetime) -> UsageTotals:
        peak = self._ledger_peak(account_id)
        low, high = ledger_sk_bound(start), ledger_sk_bound(end)
        entries = (
            entry
            for partition in ledger_partitions(account_id, peak)
            for entry in LedgerEntryItem.query(
                partition,
                LedgerEntryItem.sk.between(low, high),
                consistent_read=True,
                page_size=1000,
                attributes_to_get=["pk", "sk", "kind", "amount", "method", "bytes"],
            )
        )
        lines = [
            UsageLine(entry.kind, int(entry.amount), entry.method, _optional_int(entry.bytes))
            for entry in entries
        ]
        if peak > 1:  # issue 14 §3: the stream-derived entries of an account that was ever split
            lines += ledger_table_usage_lines(account_id, peak, low=low, high=high)
        return usage_totals(lines)

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
