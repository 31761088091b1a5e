"""Low-balance alert state of a sharded account (issue 14): which thresholds are armed.

An unsharded account's ``balance.low`` is judged from one update's two images, with no state
(functions/account_events/stream_records.py). A sharded account's balance is a sum over items,
so no single update shows it crossing: the account-events consumer reads the sum and keeps, per
account, the thresholds that are *armed* (the sum was seen at or above them since they last
fired). Firing a threshold is a conditional write that disarms it (one winner whatever the
concurrency: exactly one event per arming); it is armed again when the sum is seen at or above
it after a rise (a grant, a refund) or when the thresholds are set.

Item: pk=``account#<id>`` sk=``lowalerts`` in the credits table: ``armed`` (a number set) and
``fired`` (a string set of ``<t>:<stream record id>``: the record whose judgement fired ``t``, so a
redelivered batch fires it again under the same event id and a publish that failed is retried).
Written at the account's first split (``armed_at_split``: the thresholds at or under the sum
then, in the split's own transaction) and by the consumer; never by the charge path.
"""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.attributes import NumberAttribute, NumberSetAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from functions.credits.data.models import BALANCE_SK, BalanceItem, CreditsTableModel, account_pk

LOW_ALERTS_SK = "lowalerts"
# Every attribute a write of the alert item names: the consumer's IAM allows no other.
LOW_ALERT_ATTRIBUTES = ("pk", "sk", "armed", "fired")


def fired_mark(threshold: int, record_id: str) -> str:
    return f"{threshold}:{record_id}"


class LowBalanceAlertItem(CreditsTableModel):
    """pk=``account#<id>`` sk=``lowalerts``: the armed low-balance thresholds of a sharded account."""

    armed = NumberSetAttribute(null=True)
    fired = UnicodeSetAttribute(null=True)


def armed_at_split(account_id: str, thresholds: Iterable[float] | None, total: int) -> LowBalanceAlertItem:
    """The alert state an account starts its sharded life with: every threshold the balance is at
    or above is armed (crossed later, it fires once); those it is already under have fired."""
    armed = {int(threshold) for threshold in thresholds or () if int(threshold) <= total}
    return LowBalanceAlertItem(account_pk(account_id), LOW_ALERTS_SK, armed=armed or None)


# --- firing and arming (issue 14's sharded judge; with credits regions also home's upkeep) ---------


def read_alert_state(account_id: str) -> LowBalanceAlertItem | None:
    """The account's alert item, read consistently (a fire or an arming just made must be seen)."""
    try:
        return LowBalanceAlertItem.get(account_pk(account_id), LOW_ALERTS_SK, consistent_read=True)
    except DoesNotExist:
        return None


def armed_thresholds(state: LowBalanceAlertItem | None) -> set[int]:
    return {int(value) for value in state.armed or ()} if state else set()


def fired_marks(state: LowBalanceAlertItem | None) -> set[str]:
    return set(state.fired or ()) if state else set()


def update_alerts(account_id: str, actions: list[Action], condition: Condition | None) -> None:
    """One UpdateItem of the alert item that returns nothing: the consumer's role may write only the
    alert item's own attributes and read back none (IAM ``dynamodb:Attributes``, ``ReturnValues``)."""
    connection = LowBalanceAlertItem._get_connection()
    connection.update_item(
        account_pk(account_id), LOW_ALERTS_SK, actions=actions, condition=condition, return_values="NONE"
    )


def fire_threshold(account_id: str, threshold: int, record_id: str) -> bool:
    """Disarm ``threshold`` for the stream record ``record_id``: True for the one judge that does (or
    a redelivery of that record), False when it was not armed."""
    mark = fired_mark(threshold, record_id)
    try:
        update_alerts(
            account_id,
            [LowBalanceAlertItem.armed.delete({threshold}), LowBalanceAlertItem.fired.add({mark})],
            LowBalanceAlertItem.armed.contains(threshold) | LowBalanceAlertItem.fired.contains(mark),
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def arm_threshold(account_id: str, threshold: int, fired: set[str]) -> None:
    """Arm ``threshold`` again (its total was seen at or above it), dropping its old fired marks."""
    actions: list[Action] = [LowBalanceAlertItem.armed.add({threshold})]
    old_marks = {mark for mark in fired if mark.startswith(f"{threshold}:")}
    if old_marks:
        actions.append(LowBalanceAlertItem.fired.delete(old_marks))
    update_alerts(account_id, actions, None)


# --- credits regions (fifth session): regional presence and the upkeep's judgement ------------------
# Written by home's upkeep on home's shard 0 (``account#<id>`` / ``balance``), read by the consumer
# from the stream's images: docs/decisions.md, "balance.low across regions".

REGIONAL_SINCE = "regional_since"  # set while the account's credit may be in credits regions
REGIONAL_LOW_TOTAL = "regional_low_total"  # the total the upkeep found under an armed threshold
REGIONAL_LOW_AT = "regional_low_at"  # when: a change of it is the consumer's cue to fire
REGIONAL_LOW_SPLIT = "regional_low_split"  # JSON {"regions": {region: balance}, "in_flight": n}


class MarkedBalanceItem(BalanceItem):
    """Home's balance item (shard 0) with the regional marks the upkeep writes on it."""

    regional_since = UnicodeAttribute(null=True, attr_name=REGIONAL_SINCE)
    regional_low_total = NumberAttribute(null=True, attr_name=REGIONAL_LOW_TOTAL)
    regional_low_at = UnicodeAttribute(null=True, attr_name=REGIONAL_LOW_AT)
    regional_low_split = UnicodeAttribute(null=True, attr_name=REGIONAL_LOW_SPLIT)


def read_marked_balance(account_id: str) -> MarkedBalanceItem | None:
    """Shard 0 with its marks, read consistently (a mark just written must be seen)."""
    try:
        return MarkedBalanceItem.get(account_pk(account_id), BALANCE_SK, consistent_read=True)
    except DoesNotExist:
        return None
