"""Low-balance alert thresholds of an account (credits).

Stored as ``alert_thresholds`` on the account's balance item, where the events consumer reads
them from the stream's old and new images (docs/decisions.md, "Sellers' features").
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_ALERT_THRESHOLDS = 10
MAX_ALERT_THRESHOLD = 10**15


class ThresholdError(ValueError):
    """Thresholds that cannot be stored: repeated, out of range or too many."""


def normalise_thresholds(thresholds: Iterable[int]) -> tuple[int, ...]:
    """The thresholds, validated and sorted high to low (the order events are reasoned in)."""
    values = list(thresholds)
    if len(values) > MAX_ALERT_THRESHOLDS:
        raise ThresholdError(f"at most {MAX_ALERT_THRESHOLDS} thresholds")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ALERT_THRESHOLD:
            raise ThresholdError(f"each threshold is a whole number of credits in 1..{MAX_ALERT_THRESHOLD}")
    if len(set(values)) != len(values):
        raise ThresholdError("thresholds must not repeat")
    return tuple(sorted(values, reverse=True))
