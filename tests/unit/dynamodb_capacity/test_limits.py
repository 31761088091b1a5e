"""Per-partition buckets at a scale: refuse past the scaled rate, all-or-nothing, refill with time."""

from __future__ import annotations

import pytest

from local.dynamodb_capacity.limits import PartitionBuckets, PartitionLimits
from local.dynamodb_capacity.metering import WHOLE_TABLE, Partition, UnitCharge

HOT = Partition("credits", "S:account#1")
OTHER = Partition("credits", "S:request#1")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_scale_parses_fractions_and_gives_the_scaled_limits() -> None:
    limits = PartitionLimits.parse("1/100")
    assert (limits.write_units_per_second, limits.read_units_per_second) == (10.0, 30.0)
    with pytest.raises(ValueError, match="scale"):
        PartitionLimits(scale=2)


def test_writes_past_the_partition_rate_are_refused_until_it_refills() -> None:
    clock = FakeClock()
    buckets = PartitionBuckets(PartitionLimits(scale=0.01, burst_seconds=1.0), clock)
    charge = [UnitCharge(HOT, write_units=4)]
    assert buckets.admit("us-east-1", charge) == []
    assert buckets.admit("us-east-1", charge) == []
    assert buckets.admit("us-east-1", charge) == charge  # 8 of 10 taken: 4 more do not fit
    clock.now = 0.2  # +2 units
    assert buckets.admit("us-east-1", charge) == []


def test_a_refused_request_takes_nothing_from_any_partition() -> None:
    clock = FakeClock()
    buckets = PartitionBuckets(PartitionLimits(scale=0.01), clock)
    buckets.admit("us-east-1", [UnitCharge(HOT, write_units=9)])
    refused = buckets.admit("us-east-1", [UnitCharge(OTHER, write_units=2), UnitCharge(HOT, write_units=2)])
    assert refused == [UnitCharge(HOT, write_units=2)]
    # OTHER's 10 units are all still there.
    assert buckets.admit("us-east-1", [UnitCharge(OTHER, write_units=10)]) == []


def test_regions_and_reads_have_buckets_of_their_own() -> None:
    buckets = PartitionBuckets(PartitionLimits(scale=0.01), FakeClock())
    assert buckets.admit("us-east-1", [UnitCharge(HOT, write_units=10)]) == []
    assert buckets.admit("eu-west-1", [UnitCharge(HOT, write_units=10)]) == []
    assert buckets.admit("us-east-1", [UnitCharge(HOT, read_units=30)]) == []


def test_a_scan_is_never_held_to_one_partition() -> None:
    buckets = PartitionBuckets(PartitionLimits(scale=0.01), FakeClock())
    scan = [UnitCharge(Partition("credits", WHOLE_TABLE), read_units=1000)]
    assert buckets.admit("us-east-1", scan) == []


def test_a_read_that_cost_more_than_its_estimate_is_settled() -> None:
    clock = FakeClock()
    buckets = PartitionBuckets(PartitionLimits(scale=0.01), clock)
    assert buckets.admit("us-east-1", [UnitCharge(HOT, read_units=0.5)]) == []
    buckets.settle("us-east-1", [UnitCharge(HOT, read_units=29.0)])
    assert buckets.admit("us-east-1", [UnitCharge(HOT, read_units=1.0)]) == [UnitCharge(HOT, read_units=1.0)]
