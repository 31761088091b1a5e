"""A high per-key rate limit split over several GCRA items (functions/credits/store/rate_limit_split.py)."""

from __future__ import annotations

from collections import Counter

from functions.credits.data.models import rate_limit_pk
from functions.credits.store.rate_limit_split import (
    RateLimitTurns,
    rate_limit_part,
    rate_limit_part_count,
    rate_limit_part_pk,
)


def test_a_limit_at_or_under_200_per_second_is_one_item_stored_as_today() -> None:
    assert rate_limit_part_count(1) == 1
    assert rate_limit_part_count(200) == 1
    part = rate_limit_part("key", 100, 5, RateLimitTurns(start=7).next_part(100))
    # Today's item and today's arithmetic: 10 ms apart, 4 intervals of tolerance.
    assert part.pk == rate_limit_pk("key")
    assert (part.interval_us, part.tolerance_us) == (10_000, 40_000)


def test_a_high_limit_is_split_in_items_of_at_most_200_per_second() -> None:
    assert rate_limit_part_count(201) == 2
    assert rate_limit_part_count(1_000) == 5
    assert rate_limit_part_count(10_000) == 50
    part = rate_limit_part("key", 1_000, 10, 3)
    # Each of 5 items is a GCRA of 200/s (5 ms apart) with a burst of 2.
    assert part.pk == "ratelimit#key#p3"
    assert (part.interval_us, part.tolerance_us) == (5_000, 5_000)


def test_item_pks_are_distinct_partition_keys_and_item_zero_is_todays() -> None:
    pks = {rate_limit_part_pk("key", part) for part in range(5)}
    assert len(pks) == 5
    assert rate_limit_part_pk("key", 0) == "ratelimit#key"


def test_turns_spread_one_containers_requests_exactly_evenly_from_any_start() -> None:
    for start in (0, 3, 65_535):
        turns = RateLimitTurns(start=start)
        taken = Counter(turns.next_part(1_000) for _ in range(500))
        assert taken == dict.fromkeys(range(5), 100)


def test_turns_of_a_low_limit_always_take_item_zero() -> None:
    turns = RateLimitTurns(start=4)
    assert {turns.next_part(150) for _ in range(20)} == {0}
