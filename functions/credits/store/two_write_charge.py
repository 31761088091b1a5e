"""A sharded account's allow as two single-item writes (issue 14 §4): 2 WRU on the request path.

1. **Debit** one balance shard: ``balance -= price``, ``seq += 1``, ``op`` = this attempt (a fresh
   attempt id), under the same condition the one-transaction charge uses (1 WRU).
2. **Record** the decision: put ``request#<rid>`` / ``charge`` naming the attempt, IF absent (1 WRU).

The ledger entry (1 WRU) is written by the ledger writer from the shard's stream record. A debit
whose record put lost (a duplicate call) or never happened (a crash between the writes) is given
back by the ledger writer, its one owner of compensation. Only for accounts split over several
shards, without a key spend limit or a link use limit (their counters need the transaction).
"""

from __future__ import annotations

import secrets
from datetime import datetime

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import Condition

from functions.credits.data.binding import TableBinding, bound_to
from functions.credits.data.models import (
    BALANCE_SK,
    CHARGE_SK,
    BalanceItem,
    ChargeRecordItem,
    balance_shard_pk,
    request_pk,
)
from functions.credits.ids import new_entry_id
from functions.credits.store.errors import StoreUnavailable
from functions.credits.store.records import ChargeIntent
from functions.credits.store.stream_ledger import OperationKind, ShardOperation

_CONDITION_FAILED = "ConditionalCheckFailedException"
# Refusals DynamoDB answers before applying anything (safe to send again, elsewhere).
_THROTTLED = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)


def takes_two_writes(intent: ChargeIntent, shard_count: int) -> bool:
    """Whether ``intent`` goes the two-write way: a split account, and no counter to move with it."""
    return shard_count > 1 and intent.spend_limit is None and intent.link_digest is None


def new_attempt_id() -> str:
    return f"at_{secrets.token_hex(12)}"


class DebitThrottled(Exception):
    """DynamoDB refused the debit for throughput: certainly not applied, another shard may take it."""


def debit_shard(
    intent: ChargeIntent, shard: int, condition: Condition, single_shot: TableBinding
) -> ShardOperation | None:
    """Write 1: the debit with its operation; None when ``condition`` (or the item) said no.

    The UpdateItem is not idempotent, so it is sent once (``single_shot``: no SDK retries). A
    throttle raises ``DebitThrottled``; any other failure may have been applied, so it is
    ``StoreUnavailable`` with no record put: the request id gets no decision, the edge voids
    it, and the ledger writer voids and gives back the debit if it landed.
    """
    op = ShardOperation(
        kind=OperationKind.CHARGE,
        account_id=intent.account_id,
        request_id=intent.request_id,
        attempt=new_attempt_id(),
        entry_id=new_entry_id(),
        amount=-intent.amount,
        at=intent.now,
        method=intent.method,
        path=intent.path,
        bytes=intent.bytes,
        key_id=intent.key_id,
    )
    item = BalanceItem(balance_shard_pk(intent.account_id, shard), BALANCE_SK)
    try:
        with bound_to(single_shot):
            item.update(
                actions=[
                    BalanceItem.balance.set(BalanceItem.balance - intent.amount),
                    BalanceItem.seq.set((BalanceItem.seq | 0) + 1),
                    BalanceItem.op.set(op.encode()),
                ],
                condition=condition & BalanceItem.pk.exists(),
            )
    except UpdateError as error:
        code = error.cause_response_code
        if code == _CONDITION_FAILED:
            return None
        if code in _THROTTLED:
            raise DebitThrottled(code) from error
        raise StoreUnavailable(
            f"the debit's outcome is unknown ({code or type(error.cause).__name__})"
        ) from error
    return op


def charge_record_item(
    intent: ChargeIntent,
    *,
    entry_id: str,
    expires: datetime,
    shard: int,
    attempt: str | None = None,
    spend_counted: bool | None = None,
) -> ChargeRecordItem:
    """The request id's charge record of ``intent`` (both charge paths write this one item)."""
    return ChargeRecordItem(
        request_pk(intent.request_id),
        CHARGE_SK,
        account_id=intent.account_id,
        key_id=intent.key_id,
        entry_id=entry_id,
        amount=intent.amount,
        method=intent.method,
        path=intent.path,
        bytes=intent.bytes,
        range_header=intent.range_header,
        created_at=intent.now,
        ttl=expires,
        spend_counted=spend_counted,
        shard=shard or None,
        attempt=attempt,
    )


def record_charge(
    intent: ChargeIntent, op: ShardOperation, shard: int, expires: datetime
) -> ChargeRecordItem | None:
    """Write 2: the request id's one decision, naming the attempt; None when it is now this
    attempt's, else the record that was there first (a replay: the caller answers its outcome)."""
    record = charge_record_item(
        intent, entry_id=op.entry_id, expires=expires, shard=shard, attempt=op.attempt
    )
    try:
        record.save(condition=ChargeRecordItem.pk.does_not_exist())
    except PutError as error:
        if error.cause_response_code != _CONDITION_FAILED:
            raise
        return ChargeRecordItem.get(record.pk, CHARGE_SK, consistent_read=True)
    return None
