"""The other hot reads of a charge are out of the hot path (issue 14 §5): a warm container reads a
hot object's catalog entry once per TTL and a key's standing once, whatever the number of charges.
Counted per partition by the partition-faithful layer (limits paused: this counts, it does not time)."""

from __future__ import annotations

import json

from bench.scale_harness import scale_credits
from functions.catalog.settings import CATALOG_ENV_VAR
from functions.shared.environment_variables import EDGEMETER_USERS_TABLE
from local.dynamodb_capacity import CapacityLayer
from local.dynamodb_local import DynamoDBLocal

HOT_PATH = "/scale/hot.bin"
CHARGES = 30


def _read_units_on(layer: CapacityLayer, table: str) -> float:
    return sum(
        usage.read_units
        for (_, partition), usage in layer.snapshot().usage.items()
        if partition.table == table
    )


def test_a_warm_container_reads_the_hot_object_and_the_key_once_for_many_charges(
    dynamodb_local: DynamoDBLocal, dynamodb_at_scale: CapacityLayer
) -> None:
    layer = dynamodb_at_scale
    with (
        layer.limits_paused(),
        scale_credits(dynamodb_local.endpoint_url, catalog_paths=(HOT_PATH,)) as credits,
    ):
        objects_table = json.loads(credits.environment[CATALOG_ENV_VAR])["objects_table"]
        users_table = credits.environment[EDGEMETER_USERS_TABLE]
        ((account, api_key),) = credits.funded_keys(1, CHARGES * 2, "hot-reads")
        first = [credits.authorize(api_key, HOT_PATH) for _ in range(2)]
        objects_after_first, users_after_first = (
            _read_units_on(layer, objects_table),
            _read_units_on(layer, users_table),
        )
        rest = [credits.authorize(api_key, HOT_PATH) for _ in range(CHARGES)]
        objects_after_all, users_after_all = (
            _read_units_on(layer, objects_table),
            _read_units_on(layer, users_table),
        )
        balance = credits.admin.balance(account)

    assert all(reply.allowed for reply in first + rest)
    assert balance == CHARGES * 2 - (CHARGES + 2)
    # One eventually consistent GetItem of the object (0.5 RCU) for all 32 charges of the container.
    assert objects_after_first == 0.5
    assert objects_after_all == objects_after_first
    # The key's standing was read for the first charges only; the cached key's charges read nothing.
    assert users_after_first > 0
    assert users_after_all == users_after_first
