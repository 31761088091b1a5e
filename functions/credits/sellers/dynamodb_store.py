"""The sellers' part of ``DynamoDBCreditsStore``: the account list, status changes, links,
thresholds, and the conditions and counters issue 16 adds to a charge's transaction.

``DynamoDBCreditsStore`` (functions/credits/store/dynamodb.py) delegates its sellers' methods
here (one marked block) and calls the charge helpers from its charge, refund and grant. The
pynamodb models stay in functions/credits/data/models.py.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from functions.credits.data.models import (
    ACCOUNT_PROFILE_SK,
    BALANCE_SK,
    KEY_SPEND_SK,
    LINK_SK,
    AccountItem,
    BalanceItem,
    KeySpendItem,
    LinkItem,
    account_pk,
    key_spend_pk,
    link_digest_pk,
)
from functions.credits.data.transactions import LabelledTransaction, TransactionCancelled
from functions.credits.sellers.lifecycle import AccountStatus, StatusChange, status_from_stored
from functions.credits.sellers.links import LinkFacts
from functions.credits.sellers.listing import (
    list_partition_of,
    list_sort_key,
    merge_partitions,
    partitions_to_read,
    sort_key_range,
)
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
from functions.credits.store.errors import DataIntegrityError, StoreUnavailable
from functions.credits.store.records import AccountRecord, ChargeIntent
from functions.credits.store.shards import UNSHARDED, add_standing_copies, layout_is, read_shards

# DynamoDB TTL deletes a link item this long after the link expired (an expired link's
# denial stays "link_expired" rather than "link_invalid" for that long).
LINK_RETENTION_AFTER_EXPIRY = timedelta(days=1)
# BatchGetItem reads at most 100 keys per request.
_BATCH_GET_MAX = 100
# Queries of one list page in flight at once (at most 3 statuses x 4 buckets; within the
# default 10 pooled connections of the DynamoDB client, a few wait their turn).
_LIST_PARALLELISM = 12
_LIST_POOL: ThreadPoolExecutor | None = None
_LIST_POOL_LOCK = threading.Lock()
_ACTIVE = AccountStatus.ACTIVE.value

Builder = Callable[[], LabelledTransaction]


def _get(model: type[Model], hash_key: str, range_key: str) -> Model | None:
    try:
        return model.get(hash_key, range_key, consistent_read=True)
    except DoesNotExist:
        return None


# --- conditions and counters of a charge ------------------------------------------------------


def account_is_active() -> Condition:
    """The balance item's mirror of the account status allows charges (absent = active)."""
    active: Condition = BalanceItem.account_status.does_not_exist() | (BalanceItem.account_status == _ACTIVE)
    return active


def account_is_open() -> Condition:
    """The account is not closed: grants still land (absent = active)."""
    closed = AccountStatus.CLOSED.value
    open_: Condition = BalanceItem.account_status.does_not_exist() | (BalanceItem.account_status != closed)
    return open_


def not_active_status(old_balance: BalanceItem) -> AccountNotActive | None:
    """The refusal a charge met on a suspended or closed account, read from ``ALL_OLD``."""
    status = status_from_stored(old_balance.account_status)
    return None if status == AccountStatus.ACTIVE else AccountNotActive(status)


def is_closed(old_balance: BalanceItem) -> bool:
    return status_from_stored(old_balance.account_status) == AccountStatus.CLOSED


def add_charge_counters(transaction: LabelledTransaction, intent: ChargeIntent) -> None:
    """The key's spend counter and the link's use counter, for keys and links that have limits.

    Each is a conditional update in the charge's own transaction, so a charge and its counts
    commit together or not at all, under any concurrency. Keys and links without limits add
    nothing (no write unit).
    """
    if intent.spend_limit is not None:
        ceiling = spend_ceiling(intent.spend_limit, intent.amount)
        # A price over the whole limit never fits: the service refuses it before charging.
        assert ceiling is not None
        transaction.update(
            "spend",
            KeySpendItem(key_spend_pk(intent.key_id), KEY_SPEND_SK),
            [KeySpendItem.spent.add(intent.amount)],
            KeySpendItem.spent.does_not_exist() | (KeySpendItem.spent <= ceiling),
        )
    if intent.link_digest is not None and intent.link_max_uses is not None:
        transaction.update(
            "link_uses",
            LinkItem(link_digest_pk(intent.link_digest), LINK_SK),
            [LinkItem.uses.add(1)],
            LinkItem.uses < intent.link_max_uses,
        )


def counter_refusal(cancelled: TransactionCancelled) -> LinkExhausted | SpendLimitReached | None:
    if cancelled.failed("link_uses"):
        return LinkExhausted()
    if cancelled.failed("spend"):
        return SpendLimitReached()
    return None


def give_back_spend(transaction: LabelledTransaction, key_id: str, amount: int) -> None:
    """A refund of a limited key's charge returns its credits to the key's spend counter."""
    transaction.update(
        "spend",
        KeySpendItem(key_spend_pk(key_id), KEY_SPEND_SK),
        [KeySpendItem.spent.add(-amount)],
    )


# --- the sellers' store methods ---------------------------------------------------------------


def _listed(item: AccountItem) -> ListedAccountRecord:
    return ListedAccountRecord(
        account_id=item.account_id,
        name=item.name,
        status=status_from_stored(item.status),
        created_at=item.created_at,
        list_sort_key=item.list_sk or list_sort_key(item.name, item.account_id),
    )


def _listing_condition(name_prefix: str | None, after: str | None) -> Condition | None:
    window = sort_key_range(name_prefix, after)
    if window.low is not None and window.high is not None:
        return AccountItem.list_sk.between(window.low, window.high)
    if window.low is not None:
        return AccountItem.list_sk >= window.low
    return None


def _query_partition(
    partition: str, condition: Condition | None, limit: int
) -> tuple[list[ListedAccountRecord], bool]:
    """Up to ``limit`` accounts of one (status, bucket), in order; and whether more follow."""
    results = AccountItem.account_list.query(partition, condition, limit=limit)
    items = [_listed(item) for item in results]
    return items, len(items) == limit and results.last_evaluated_key is not None


def _list_pool() -> ThreadPoolExecutor:
    """The threads a page's Queries run on side by side (created on a container's first list)."""
    global _LIST_POOL  # noqa: PLW0603 - one pool per process, made lazily
    with _LIST_POOL_LOCK:
        if _LIST_POOL is None:
            _LIST_POOL = ThreadPoolExecutor(max_workers=_LIST_PARALLELISM, thread_name_prefix="account-list")
        return _LIST_POOL


def list_accounts(
    *, status: AccountStatus | None, name_prefix: str | None, after: str | None, limit: int
) -> AccountListSlice:
    """One Query per (status, bucket) of the account-list index, run side by side and merged
    (no scan): a page takes about one Query's latency, not twelve."""
    condition = _listing_condition(name_prefix, after)
    to_read = partitions_to_read(status)
    # Each Query runs in a copy of the caller's context: the store's table binding (issue 15,
    # functions/credits/data/binding.py) is a ContextVar, which pool threads would not see.
    contexts = [contextvars.copy_context() for _ in to_read]
    partitions = list(
        _list_pool().map(
            lambda context, partition: context.run(_query_partition, partition, condition, limit),
            contexts,
            to_read,
        )
    )
    merged = merge_partitions(partitions, lambda account: account.list_sort_key, limit)
    return AccountListSlice(merged.items, merged.more)


def get_balances(account_ids: Sequence[str]) -> dict[str, int]:
    if len(account_ids) > _BATCH_GET_MAX:
        raise ValueError(f"at most {_BATCH_GET_MAX} balances per batch")
    keys = [(account_pk(account_id), BALANCE_SK) for account_id in dict.fromkeys(account_ids)]
    if not keys:
        return {}
    balances = {}
    for item in BalanceItem.batch_get(keys, consistent_read=True):
        # sharding (issue 14): a sharded account's balance is the sum of its shards.
        sharded = item.shard_peak is not None and int(item.shard_peak) > 1
        found = read_shards(item.account_id) if sharded else None
        balances[item.account_id] = (
            sum(int(shard.balance) for shard in found[1]) if found else int(item.balance)
        )
    return balances


def get_balance_facts(account_id: str) -> BalanceFacts | None:
    item = _get(BalanceItem, account_pk(account_id), BALANCE_SK)
    if not isinstance(item, BalanceItem):
        return None
    found = read_shards(account_id) if item.shard_peak is not None else None  # sharding (issue 14)
    return BalanceFacts(
        balance=sum(int(shard.balance) for shard in found[1]) if found else int(item.balance),
        account_status=status_from_stored(item.account_status),
        alert_thresholds=tuple(int(value) for value in item.alert_thresholds or ()),
    )


def change_account_status(
    run: Callable[[Builder], None],
    new_transaction: Builder,
    account: AccountRecord,
    change: StatusChange,
) -> StatusChangeOutcome:
    """ONE transaction: the account item (IF its status is still the one read) and the balance
    item's mirror, which every later charge is conditioned on."""
    pk = account_pk(account.account_id)
    # sharding (issue 14): every balance shard carries the status its charges are conditioned on.
    found = read_shards(account.account_id)
    layout = found[0] if found is not None else UNSHARDED
    account_actions = [
        AccountItem.status.set(change.status.value),
        AccountItem.status_reason.set(change.reason),
        AccountItem.status_changed_by.set(change.changed_by),
        AccountItem.status_changed_at.set(change.changed_at),
        AccountItem.list_pk.set(list_partition_of(account.account_id, change.status)),
        AccountItem.list_sk.set(list_sort_key(account.name, account.account_id)),
    ]

    def build() -> LabelledTransaction:
        transaction = new_transaction()
        transaction.update(
            "account",
            AccountItem(pk, ACCOUNT_PROFILE_SK),
            account_actions,
            AccountItem.status == account.status,
        )
        transaction.update(
            "balance",
            BalanceItem(pk, BALANCE_SK),
            [BalanceItem.account_status.set(change.status.value)],
            BalanceItem.pk.exists() & layout_is(layout),
            return_old=True,
        )
        add_standing_copies(
            transaction,
            account.account_id,
            layout,
            lambda: [BalanceItem.account_status.set(change.status.value)],
        )
        return transaction

    try:
        run(build)
    except TransactionCancelled as cancelled:
        if cancelled.failed("account"):
            return StatusRaced()
        failed = cancelled.failed("balance")
        if failed is not None and failed.raw_item is not None:
            raise StoreUnavailable("the account's balance shards split meanwhile") from None
        raise DataIntegrityError(f"account {account.account_id} has no balance") from None
    return StatusChanged(previous=status_from_stored(account.status))


def set_alert_thresholds(account_id: str, thresholds: Sequence[int]) -> bool:
    item = BalanceItem(account_pk(account_id), BALANCE_SK)
    action = (
        BalanceItem.alert_thresholds.set(list(thresholds))
        if thresholds
        else BalanceItem.alert_thresholds.remove()
    )
    try:
        item.update(actions=[action], condition=BalanceItem.pk.exists())
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def put_link(link_digest: str, link: LinkFacts, now: datetime) -> None:
    item = LinkItem(
        link_digest_pk(link_digest),
        LINK_SK,
        link_id=link.link_id,
        account_id=link.account_id,
        key_id=link.key_id,
        key_digest=link.key_digest,
        path=link.path,
        prefix=link.prefix,
        expires_at=link.expires_at,
        max_uses=link.max_uses,
        uses=link.uses,
        created_at=now,
        ttl=link.expires_at + LINK_RETENTION_AFTER_EXPIRY,
    )
    try:
        item.save(condition=LinkItem.pk.does_not_exist())
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise DataIntegrityError("link token digest collision") from None
        raise


def get_link(link_digest: str) -> LinkFacts | None:
    item = _get(LinkItem, link_digest_pk(link_digest), LINK_SK)
    if not isinstance(item, LinkItem):
        return None
    return LinkFacts(
        link_id=item.link_id,
        account_id=item.account_id,
        key_id=item.key_id,
        key_digest=item.key_digest,
        path=item.path,
        prefix=item.prefix,
        expires_at=item.expires_at,
        max_uses=None if item.max_uses is None else int(item.max_uses),
        uses=int(item.uses),
    )
