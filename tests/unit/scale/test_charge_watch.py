"""A container's charge watch (functions/credits/store/hot_accounts.py): which accounts it puts on
the shard-rate scheduler's watch list, and how rarely it writes. A hand-moved clock, no sleeping."""

from __future__ import annotations

from datetime import datetime

from functions.credits.store.hot_accounts import (
    MARK_INTERVAL,
    MARK_WINDOW,
    ChargeWatch,
    watch_bucket,
    watch_pk,
)
from functions.credits.store.shard_rate_schedule import FOLLOW_SHARD_RATES_EVENT, is_follow_shard_rates_event


class RecordingList:
    def __init__(self) -> None:
        self.marks: list[str] = []

    def mark(self, account_id: str, now: datetime) -> None:
        self.marks.append(account_id)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_quiet_account_is_never_marked() -> None:
    marks, clock = RecordingList(), Clock()
    watch = ChargeWatch(marks, clock=clock, mark_charges=10)
    for _ in range(5):
        for _ in range(9):
            watch.charged("quiet")
        clock.now += MARK_WINDOW + 0.1  # a new window: the count starts again
    assert marks.marks == []


def test_a_busy_account_is_marked_once_per_interval_however_busy() -> None:
    marks, clock = RecordingList(), Clock()
    watch = ChargeWatch(marks, clock=clock, mark_charges=10)
    for _ in range(100):
        watch.charged("busy")
    assert marks.marks == ["busy"]
    clock.now += MARK_INTERVAL + 0.1
    for _ in range(10):
        watch.charged("busy")
    assert marks.marks == ["busy", "busy"]


def test_a_throttled_charge_marks_at_once() -> None:
    marks = RecordingList()
    watch = ChargeWatch(marks, clock=Clock())
    watch.unavailable("throttled")
    watch.unavailable("throttled")
    assert marks.marks == ["throttled"]


def test_watch_items_spread_over_a_few_partition_keys() -> None:
    buckets = {watch_bucket(f"acct-{index}") for index in range(200)}
    assert buckets == set(range(8))
    assert watch_pk(3) == "hotaccounts#3"


def test_the_schedule_event_is_recognised() -> None:
    assert is_follow_shard_rates_event(dict(FOLLOW_SHARD_RATES_EVENT))
    assert not is_follow_shard_rates_event({"edgemeter": "apply_void_notices"})
    assert not is_follow_shard_rates_event({"httpMethod": "GET"})
