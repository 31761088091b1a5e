"""A high per-key rate limit spread over several GCRA items (issue 14 §5), on DynamoDB Local,
counted per partition by the partition-faithful layer (limits paused: these tests count, they do
not time). The clock is the caller's ``now_us``, so the aggregate bound is checked without sleeping.
"""

from __future__ import annotations

import itertools

import pytest

from functions.credits.data.models import rate_limit_pk
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from local.dynamodb_capacity import CapacityLayer
from tests.integration.credits.conftest import credits_settings

__all__ = ["credits_settings"]  # the credits tests' module-scoped tables

pytestmark = pytest.mark.dynamodb

_key_numbers = itertools.count()
START_US = 1_900_000_000_000_000


def _writes_per_partition(layer: CapacityLayer, key_id: str) -> dict[str, float]:
    prefix = f"S:{rate_limit_pk(key_id)}"
    return {
        partition.partition_key: usage.write_units
        for (_, partition), usage in layer.snapshot().usage.items()
        if partition.partition_key == prefix or partition.partition_key.startswith(f"{prefix}#")
    }


def test_a_1000_per_second_key_spreads_its_writes_over_five_items(
    credits_settings: Settings, dynamodb_at_scale: CapacityLayer
) -> None:
    store = DynamoDBCreditsStore(credits_settings)
    key_id = f"hot-{next(_key_numbers)}"
    with dynamodb_at_scale.limits_paused():
        # 1,000 requests/s for 50 ms: every one within the limit.
        waits = [store.take_rate_limit_slot(key_id, 1_000, 10, START_US + i * 1_000) for i in range(50)]
        writes = _writes_per_partition(dynamodb_at_scale, key_id)

    assert waits == [0] * 50
    assert len(writes) == 5
    # One container's turns: exactly a fifth of the writes on each item's partition.
    assert set(writes.values()) == {10.0}


def test_the_split_key_is_never_allowed_above_its_limit_plus_the_rounded_burst(
    credits_settings: Settings, dynamodb_at_scale: CapacityLayer
) -> None:
    store = DynamoDBCreditsStore(credits_settings)
    key_id = f"flood-{next(_key_numbers)}"
    with dynamodb_at_scale.limits_paused():
        # 4,000 requests/s for 0.1 s against a limit of 1,000/s with a burst of 10.
        waits = [store.take_rate_limit_slot(key_id, 1_000, 10, START_US + i * 250) for i in range(400)]
    allowed = waits.count(0)

    # The stated bound: limit x T + n x ceil(burst / n) = 100 + 5 x 2; evenly taken turns lose
    # nothing below the limit's own 100 in 0.1 s.
    assert 100 <= allowed <= 110
    refused = [wait for wait in waits if wait]
    assert refused
    assert all(0 < wait <= 5_000 for wait in refused)


def test_a_low_limit_key_is_still_one_item(
    credits_settings: Settings, dynamodb_at_scale: CapacityLayer
) -> None:
    store = DynamoDBCreditsStore(credits_settings)
    key_id = f"quiet-{next(_key_numbers)}"
    with dynamodb_at_scale.limits_paused():
        waits = [store.take_rate_limit_slot(key_id, 100, 5, START_US + i * 10_000) for i in range(20)]
        writes = _writes_per_partition(dynamodb_at_scale, key_id)

    assert waits == [0] * 20
    assert writes == {f"S:{rate_limit_pk(key_id)}": 20.0}
