"""A high per-key rate limit split over several GCRA items (issue 14 §5).

A key's GCRA state is one item (``ratelimit#<key_id>`` / ``gcra``) written on every request: a key
allowed 1,000 requests/s would put 1,000 writes/s on one item, a whole partition's share, and no
split-for-heat can split one item. A key whose limit is above ``SPLIT_ITEM_RATE`` per second gets
its state split over ``n = ceil(limit / SPLIT_ITEM_RATE)`` items on distinct partition keys, each a
GCRA of ``limit / n`` per second with a burst of ``ceil(burst / n)``; each request takes its slot
on one of them. Item 0 is today's item, so a key at or under the threshold is stored exactly as
before (one item).

Which item: each container takes the items in turn from a random start (as ``ShardTurns`` does
for balance shards): one container's requests spread exactly evenly, and containers do not move
in step. The approximation, stated: over any window of T seconds the key is allowed at most
``limit * T + n * ceil(burst / n)`` requests (each item's own GCRA bound, summed), never more than
the limit plus a burst rounded up to whole items; with uneven turns across containers an item
may refuse while another has room, so a key can be refused a little *below* its limit, never
allowed above it.
"""

from __future__ import annotations

import itertools
import math
import random
import threading
from dataclasses import dataclass

from functions.credits.data.models import rate_limit_pk

# Writes per second one GCRA item may take: a fifth of a partition's 1,000 WCU/s, leaving the
# partition room for bursts (the same margin as the balance shards' 250/s split point).
SPLIT_ITEM_RATE = 200


@dataclass(frozen=True, slots=True)
class RateLimitPart:
    """One GCRA item of a key's limit: where it is stored and its own interval and tolerance."""

    pk: str
    interval_us: int
    tolerance_us: int


def rate_limit_part_count(per_second: int) -> int:
    """How many items a limit of ``per_second`` is split over (1 at or under the threshold)."""
    return max(1, math.ceil(per_second / SPLIT_ITEM_RATE))


def rate_limit_part_pk(key_id: str, part: int) -> str:
    """Item 0 is today's ``ratelimit#<key_id>``; item i > 0 is ``ratelimit#<key_id>#p<i>``."""
    base = rate_limit_pk(key_id)
    return base if part == 0 else f"{base}#p{part}"


def rate_limit_part(key_id: str, per_second: int, burst: int, part: int) -> RateLimitPart:
    """Item ``part`` of the key's limit: a GCRA of ``per_second / n`` with ``ceil(burst / n)``."""
    count = rate_limit_part_count(per_second)
    interval_us = count * 1_000_000 // per_second
    part_burst = max(1, math.ceil(burst / count))
    return RateLimitPart(
        rate_limit_part_pk(key_id, part % count), interval_us, (part_burst - 1) * interval_us
    )


class RateLimitTurns:
    """Which item a container's next request of a split key takes: in turn, from a random start."""

    def __init__(self, start: int | None = None) -> None:
        self._turns = itertools.count(random.randrange(1 << 16) if start is None else start)
        self._lock = threading.Lock()

    def next_part(self, per_second: int) -> int:
        count = rate_limit_part_count(per_second)
        if count == 1:
            return 0
        with self._lock:
            return next(self._turns) % count


# One turn counter per process, that is per Lambda container: the unit the turns spread over.
CONTAINER_TURNS = RateLimitTurns()


def next_rate_limit_part(key_id: str, per_second: int, burst: int) -> RateLimitPart:
    """The item this container's next request of ``key_id`` takes its slot on."""
    return rate_limit_part(key_id, per_second, burst, CONTAINER_TURNS.next_part(per_second))
