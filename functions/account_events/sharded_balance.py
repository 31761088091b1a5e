"""``balance.low`` for sharded accounts (issue 14): judged on the account's total, once per crossing.

A sharded account's balance is the sum of its shards, so no one stream record shows it falling
below a threshold (functions/account_events/stream_records.py judges unsharded accounts only).
Per batch of stream records, ``ShardedBalanceJudge`` looks at each sharded account whose shards
changed:
* it reads shard 0 (the thresholds live there) when the batch holds a rise of any shard, a change
  of the thresholds, or a debit that left a shard under twice the highest threshold: a shard never
  holds more than the sum, so a debit after which the sum is under a threshold always passes;
* it then reads every shard (the sum, now) and the alert state (functions/credits/store/
  low_balance_alerts.py): each threshold the sum is under and that is armed fires, by a
  conditional write that disarms it (exactly one judge wins, whatever the concurrency of
  consumers or redeliveries); each threshold the sum is at or above is armed again.
What this approximates, stated: the sum is read when the batch is judged, not at each record,
so a fall below and a rise back above between two judgements of the account (within a second or
so of stream lag) raise no event; and a fall is reported with the sum as read (``balance``) and
the account's shard count, without the unsharded event's ``previous_balance``.
With credits regions, an account marked ``regional_since`` on shard 0 is left to home's upkeep (it
judges the total across regions), and the judge fires the upkeep's judgements found in the batch
(functions/account_events/regional_balance.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from functions.account_events.events import AccountEvent, EventType, event_id
from functions.account_events.regional_balance import regional_low_events
from functions.account_events.stream_records import (
    MalformedStreamRecord,
    _deserialize,
    _recorded_at,
    _whole_number,
)
from functions.credits.data.binding import TableBinding, bound_to
from functions.credits.data.models import BALANCE_SK, CreditsTableModel, account_pk, balance_shard_pk
from functions.credits.store.low_balance_alerts import (
    arm_threshold,
    armed_thresholds,
    fire_threshold,
    fired_mark,
    fired_marks,
    read_alert_state,
    read_marked_balance,
)
from functions.credits.store.shards import read_shards
from functions.shared.environment_variables import EDGEMETER_CREDITS_TABLE, EDGEMETER_DYNAMODB_ENDPOINT

_ACCOUNT_PREFIX = account_pk("")
_SHARD_PREFIX = balance_shard_pk("", 1).rsplit("#", 2)[0] + "#"
# A debit is worth a read of the sum when it leaves its shard under this many times the highest
# threshold (a shard never holds more than the sum; 2x leaves room to see the sum before it falls).
_READ_BELOW_FACTOR = 2


@dataclass
class ShardSignal:
    """What one batch says about one sharded account's shards."""

    account_id: str
    record_id: str  # the batch's last record of the account: the fired events' id source
    recorded_at: str
    lowest_debited: int | None = None  # the lowest balance a debit left a shard with
    rose: bool = False  # a shard gained credit (a grant, a refund, a move in)
    thresholds_changed: bool = False


def _sharded_account(partition_key: str, new: Mapping[str, Any] | None) -> str | None:
    """The account of a shard item of a sharded account, else None."""
    if partition_key.startswith(_SHARD_PREFIX):
        return partition_key.removeprefix(_SHARD_PREFIX).rsplit("#", 1)[0]
    sharded = new is not None and (_whole_number(new.get("shard_peak")) or 1) > 1
    if partition_key.startswith(_ACCOUNT_PREFIX) and sharded:
        return partition_key.removeprefix(_ACCOUNT_PREFIX)
    return None


def shard_signals(records: Iterable[Mapping[str, Any]]) -> dict[str, ShardSignal]:
    """Per sharded account, what the batch's balance-shard updates say (other records ignored)."""
    signals: dict[str, ShardSignal] = {}
    for record in records:
        try:
            stream_data = record["dynamodb"]
            keys = _deserialize(stream_data["Keys"])
            record_id, recorded_at = (
                str(record["eventID"]),
                _recorded_at(stream_data["ApproximateCreationDateTime"]),
            )
        except (KeyError, TypeError) as error:
            raise MalformedStreamRecord(f"not a DynamoDB stream record: missing {error}") from error
        old_image, new_image = stream_data.get("OldImage"), stream_data.get("NewImage")
        old, new = (
            (_deserialize(old_image) if old_image else None),
            (_deserialize(new_image) if new_image else None),
        )
        account_id = _sharded_account(str(keys.get("pk", "")), new)
        if account_id is None or keys.get("sk") != BALANCE_SK or old is None or new is None:
            continue
        signal = signals.get(account_id) or ShardSignal(account_id, record_id, recorded_at)
        signal.record_id, signal.recorded_at = record_id, recorded_at
        _note_change(signal, _whole_number(old.get("balance")), _whole_number(new.get("balance")))
        signal.thresholds_changed |= old.get("alert_thresholds") != new.get("alert_thresholds")
        signals[account_id] = signal
    return signals


def _note_change(signal: ShardSignal, before: int | None, after: int | None) -> None:
    if before is None or after is None or before == after:
        return
    if after > before:
        signal.rose = True
    elif signal.lowest_debited is None or after < signal.lowest_debited:
        signal.lowest_debited = after


def _thresholds(values: Any) -> list[int]:
    numbers = (_whole_number(value) for value in values or ())
    return sorted({number for number in numbers if number is not None}, reverse=True)


class ShardedBalanceJudge:
    """Judges a batch's sharded accounts on their totals, on the credits table ``binding`` names."""

    def __init__(self, binding: TableBinding) -> None:
        self._binding = binding

    def judge(self, records: Sequence[Mapping[str, Any]]) -> list[AccountEvent]:
        events: list[AccountEvent] = []
        with bound_to(self._binding):
            for signal in shard_signals(records).values():
                events.extend(self._judge_account(signal))
            # With credits regions: the totals home's upkeep judged under a threshold.
            events.extend(regional_low_events(records))
        return events

    def _judge_account(self, signal: ShardSignal) -> list[AccountEvent]:
        shard_zero = read_marked_balance(signal.account_id)
        if shard_zero is None or shard_zero.regional_since is not None:
            # Credit in credits regions too: home's upkeep judges the total (regional_balance.py).
            return []
        thresholds = _thresholds(shard_zero.alert_thresholds)
        debit_may_cross = (
            signal.lowest_debited is not None
            and bool(thresholds)
            and (signal.lowest_debited < _READ_BELOW_FACTOR * thresholds[0])
        )
        if not thresholds or not (signal.rose or signal.thresholds_changed or debit_may_cross):
            return []
        found = read_shards(signal.account_id)
        if found is None:
            return []
        layout, shards = found
        total = sum(int(shard.balance) for shard in shards)
        state = read_alert_state(signal.account_id)
        armed, fired = armed_thresholds(state), fired_marks(state)
        events = []
        for threshold in thresholds:
            if total < threshold and (threshold in armed or fired_mark(threshold, signal.record_id) in fired):
                if fire_threshold(signal.account_id, threshold, signal.record_id):
                    events.append(_low_balance_event(signal, threshold, total, layout.peak))
            elif total >= threshold and threshold not in armed:
                arm_threshold(signal.account_id, threshold, fired)
        return events


def _low_balance_event(signal: ShardSignal, threshold: int, total: int, shards: int) -> AccountEvent:
    return AccountEvent(
        id=event_id(signal.record_id, EventType.BALANCE_LOW, str(threshold)),
        type=EventType.BALANCE_LOW,
        account_id=signal.account_id,
        occurred_at=signal.recorded_at,
        detail={"threshold": threshold, "balance": total, "shards": shards},
    )


def judge_from_environment(environ: Mapping[str, str] | None = None) -> ShardedBalanceJudge | None:
    """The judge on the credits table ``EDGEMETER_CREDITS_TABLE`` names; None when unset (the
    consumer then judges unsharded accounts only, as before)."""
    environment = os.environ if environ is None else environ
    table = environment.get(EDGEMETER_CREDITS_TABLE, "").strip()
    if not table:
        return None
    binding = TableBinding(
        tables=((CreditsTableModel, table),),
        region=environment.get("AWS_REGION", "us-east-1"),
        host=environment.get(EDGEMETER_DYNAMODB_ENDPOINT) or None,
        connect_timeout_seconds=2.0,
        read_timeout_seconds=5.0,
        max_retry_attempts=3,
        max_pool_connections=4,
    )
    return ShardedBalanceJudge(binding)
