"""Per-partition throughput limits at a chosen scale, enforced with token buckets.

DynamoDB gives every partition 1,000 write units and 3,000 read units per second, whatever the
table's mode (Developer Guide, "Partitions and data distribution" and "Burst and adaptive
capacity"); an item collection (one partition key value) stays on one partition for our purpose,
and split-for-heat cannot split one item. At scale 1/100 a partition key gets 10 WCU/s and
30 RCU/s, so a rate one hundredth of the real one shows where the real one is refused.

Each partition key value (per region, table and index) has a write bucket and a read bucket that
refill at the scaled rate and hold ``burst_seconds`` of it. A request is admitted when every
bucket it touches holds its demand (or is full, for a demand bigger than a bucket: DynamoDB
serves a large item on an idle partition), and then takes the demand from all of them at once.
Reads are admitted on an estimate and settled against what they returned (a bucket may go below
zero, as DynamoDB's consumed capacity does, and refills from there).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from local.dynamodb_capacity.metering import WHOLE_TABLE, Partition, UnitCharge

REAL_WRITE_UNITS_PER_PARTITION = 1000.0
REAL_READ_UNITS_PER_PARTITION = 3000.0


@dataclass(frozen=True, slots=True)
class PartitionLimits:
    scale: float = 0.01
    burst_seconds: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.scale <= 1:
            raise ValueError(
                f"the scale is a fraction of DynamoDB's real limits, in (0, 1], not {self.scale}"
            )
        if self.burst_seconds <= 0:
            raise ValueError("the burst holds a positive number of seconds of the rate")

    @property
    def write_units_per_second(self) -> float:
        return REAL_WRITE_UNITS_PER_PARTITION * self.scale

    @property
    def read_units_per_second(self) -> float:
        return REAL_READ_UNITS_PER_PARTITION * self.scale

    @classmethod
    def parse(cls, scale: str, burst_seconds: float = 1.0) -> PartitionLimits:
        """``"1/100"`` or ``"0.01"``."""
        return cls(scale=float(Fraction(scale.strip())), burst_seconds=burst_seconds)

    def describe(self) -> str:
        return (
            f"1/{1 / self.scale:g} scale: {self.write_units_per_second:g} WCU/s and "
            f"{self.read_units_per_second:g} RCU/s per partition key, {self.burst_seconds:g} s burst"
        )


@dataclass
class TokenBucket:
    rate: float
    capacity: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def holds(self, demand: float) -> bool:
        return self.tokens >= min(demand, self.capacity)


# (region, partition, "read" | "write")
BucketKey = tuple[str, Partition, str]


@dataclass
class PartitionBuckets:
    limits: PartitionLimits
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[BucketKey, TokenBucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _bucket(self, key: BucketKey, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            rate = (
                self.limits.read_units_per_second if key[2] == "read" else self.limits.write_units_per_second
            )
            capacity = rate * self.limits.burst_seconds
            bucket = self._buckets[key] = TokenBucket(rate, capacity, capacity, now)
        else:
            bucket.refill(now)
        return bucket

    def admit(self, region: str, charges: list[UnitCharge]) -> list[UnitCharge]:
        """Take every charge's units, or none: returns the charges refused (empty when admitted)."""
        demands = _demands(region, charges)
        with self._lock:
            now = self.clock()
            short = {key for key, demand in demands.items() if not self._bucket(key, now).holds(demand)}
            if not short:
                for key, demand in demands.items():
                    self._buckets[key].tokens -= demand
                return []
        return [
            charge
            for charge in charges
            if ((region, charge.partition, "write") in short and charge.write_units)
            or ((region, charge.partition, "read") in short and charge.read_units)
        ]

    def settle(self, region: str, corrections: Iterable[UnitCharge]) -> None:
        """Take (or give back, if negative) what a read turned out to cost beyond its estimate."""
        with self._lock:
            now = self.clock()
            for key, demand in _demands(region, corrections, allow_negative=True).items():
                self._bucket(key, now).tokens -= demand


def _demands(
    region: str, charges: Iterable[UnitCharge], *, allow_negative: bool = False
) -> dict[BucketKey, float]:
    demands: dict[BucketKey, float] = {}
    for charge in charges:
        if charge.partition.partition_key == WHOLE_TABLE:
            continue  # a Scan spreads over every partition: metered, never one partition's load
        for kind, units in (("read", charge.read_units), ("write", charge.write_units)):
            if units or allow_negative:
                key = (region, charge.partition, kind)
                demands[key] = demands.get(key, 0.0) + units
    return {key: demand for key, demand in demands.items() if demand}
