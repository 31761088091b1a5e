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

from pynamodb.attributes import NumberSetAttribute, UnicodeSetAttribute

from functions.credits.data.models import CreditsTableModel, account_pk

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
