"""Today's single-balance layout under the partition-faithful layer at 1/100 scale (DynamoDB Local).

Every charge of one account writes its balance item and a ledger entry under ``account#<id>``:
4 of the charge's 6 write units on one partition key. At 1/100 scale that partition takes
10 WCU/s, so one account tops out near 2.5 charges/s (250/s real). The same load spread over many
accounts puts 4 units on each of many partitions and is never refused.
"""

from __future__ import annotations

import time

from bench.scale_harness import scale_credits
from local.dynamodb_capacity import CapacityLayer
from local.dynamodb_local import DynamoDBLocal

CHARGES = 16
PATH = "/scale/object.bin"


def _account_partitions(layer: CapacityLayer) -> dict[str, int]:
    """Throttled attempts per account partition key."""
    return {
        partition.partition_key: usage.throttled_attempts
        for (_, partition), usage in layer.snapshot().usage.items()
        if partition.partition_key.startswith("S:account#")
    }


def test_one_account_past_its_partition_share_is_throttled_and_spread_load_is_not(
    dynamodb_local: DynamoDBLocal, dynamodb_at_scale: CapacityLayer
) -> None:
    layer = dynamodb_at_scale
    with scale_credits(dynamodb_local.endpoint_url) as credits:
        (hot_account, hot_key), *_ = credits.funded_keys(1, CHARGES * 2, "hot")
        spread = credits.funded_keys(CHARGES, 2, "spread")
        time.sleep(1.2)  # the set-up's writes drain the burst of their partitions: let it refill
        layer.reset()

        spread_replies = [credits.authorize(api_key, PATH) for _, api_key in spread]
        spread_throttles = layer.snapshot().throttled_attempts

        hot_replies = [credits.authorize(hot_key, PATH) for _ in range(CHARGES)]
        hot_partition_throttles = _account_partitions(layer).get(f"S:account#{hot_account}", 0)
        hot_account_balance = credits.admin.balance(hot_account)

    assert spread_throttles == 0
    assert all(reply.allowed for reply in spread_replies)
    # The same number of charges against one account, as fast as the service answers: refused by
    # DynamoDB (retried by the service, so most still go through, at the partition's pace).
    assert hot_partition_throttles > 0
    allowed = sum(reply.allowed for reply in hot_replies)
    assert hot_account_balance == CHARGES * 2 - allowed
    assert all(reply.allowed or reply.status == 503 for reply in hot_replies)


def test_throttled_partition_write_units_are_the_charges_share(
    dynamodb_local: DynamoDBLocal, dynamodb_at_scale: CapacityLayer
) -> None:
    """The account partition takes the balance update and the ledger entry, twice each (a transaction)."""
    layer = dynamodb_at_scale
    with scale_credits(dynamodb_local.endpoint_url) as credits:
        (account, api_key), *_ = credits.funded_keys(1, 10, "share")
        time.sleep(1.2)
        layer.reset()
        reply = credits.authorize(api_key, PATH)
        usage = {partition.partition_key: units for (_, partition), units in layer.snapshot().usage.items()}

    assert reply.allowed
    assert usage[f"S:account#{account}"].write_units == 4.0
    assert sum(units.write_units for units in usage.values()) == 6.0
