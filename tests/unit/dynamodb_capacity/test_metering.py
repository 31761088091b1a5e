"""The metering against DynamoDB's documented capacity rules (read-write-operations.html,
transaction-apis.html, GSI.ThroughputConsiderations.html), on wire-format requests."""

from __future__ import annotations

from typing import Any

import pytest

from local.dynamodb_capacity.item_size import item_size, read_units, write_units
from local.dynamodb_capacity.metering import (
    WHOLE_TABLE,
    IndexSchema,
    KnownItems,
    MeteringContext,
    Partition,
    TableSchema,
    UnitCharge,
    meter_read,
    meter_write,
)

TABLE = TableSchema("credits", "pk", "sk")
OBJECTS = TableSchema(
    "objects",
    "pk",
    None,
    (IndexSchema("listing", "listing_pk", "listing_sk", "ALL"),),
)
SCHEMAS = {schema.name: schema for schema in (TABLE, OBJECTS)}


def context() -> MeteringContext:
    return MeteringContext(schemas=SCHEMAS.get, known=KnownItems())


def s(text: str) -> dict[str, str]:
    return {"S": text}


def padded_item(pk: str, total_bytes: int) -> dict[str, Any]:
    item = {"pk": s(pk), "sk": s("x")}
    filler = total_bytes - item_size(item) - len("data")
    return {**item, "data": s("a" * filler)}


def units(charges: list[UnitCharge], kind: str = "write") -> dict[Partition, float]:
    totals: dict[Partition, float] = {}
    for charge in charges:
        totals[charge.partition] = totals.get(charge.partition, 0.0) + (
            charge.write_units if kind == "write" else charge.read_units
        )
    return totals


def test_item_size_counts_names_and_values() -> None:
    assert item_size({"pk": s("abc"), "n": {"N": "12345"}, "ok": {"BOOL": True}}) == (2 + 3) + (1 + 4) + (
        2 + 1
    )


@pytest.mark.parametrize(("size", "expected"), [(100, 1), (1024, 1), (1025, 2), (3000, 3)])
def test_writes_round_up_per_kib(size: int, expected: int) -> None:
    charges = meter_write("PutItem", {"TableName": "credits", "Item": padded_item("a", size)}, context())
    assert item_size(padded_item("a", size)) == size
    assert units(charges) == {Partition("credits", "S:a"): expected}


@pytest.mark.parametrize(
    ("size", "consistent", "expected"),
    [(100, True, 1.0), (4096, True, 1.0), (4097, True, 2.0), (4097, False, 1.0), (100, False, 0.5)],
)
def test_reads_round_up_per_4_kib_and_eventually_consistent_is_half(
    size: int, consistent: bool, expected: float
) -> None:
    item = padded_item("a", size)
    params = {
        "TableName": "credits",
        "Key": {"pk": item["pk"], "sk": item["sk"]},
        "ConsistentRead": consistent,
    }
    charges = meter_read("GetItem", params, {"Item": item}, context())
    assert units(charges, "read") == {Partition("credits", "S:a"): expected}


def test_a_missing_item_still_costs_the_minimum_read() -> None:
    params = {"TableName": "credits", "Key": {"pk": s("a"), "sk": s("x")}, "ConsistentRead": True}
    assert units(meter_read("GetItem", params, {}, context()), "read") == {Partition("credits", "S:a"): 1.0}


def test_query_sums_items_before_rounding() -> None:
    items = [padded_item("a", 1500) for _ in range(3)]  # 4,500 bytes: 2 units, not 3
    params = {
        "TableName": "credits",
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": "pk"},
        "ExpressionAttributeValues": {":pk": s("a")},
        "ConsistentRead": True,
    }
    assert units(meter_read("Query", params, {"Items": items}, context()), "read") == {
        Partition("credits", "S:a"): 2.0
    }


def test_transactions_cost_double_and_an_item_collection_shares_its_partition() -> None:
    params = {
        "TransactItems": [
            {"Put": {"TableName": "credits", "Item": {"pk": s("request#1"), "sk": s("charge")}}},
            {
                "Update": {
                    "TableName": "credits",
                    "Key": {"pk": s("account#1"), "sk": s("balance")},
                    "UpdateExpression": "SET balance = balance + :d",
                    "ExpressionAttributeValues": {":d": {"N": "-1"}},
                }
            },
            {"Put": {"TableName": "credits", "Item": {"pk": s("account#1"), "sk": s("ledger#1")}}},
        ]
    }
    charges = meter_write("TransactWriteItems", params, context())
    assert units(charges) == {
        Partition("credits", "S:request#1"): 2.0,
        Partition("credits", "S:account#1"): 4.0,
    }
    assert [charge.item_position for charge in charges] == [0, 1, 2]


def test_transactional_reads_cost_double() -> None:
    key = {"pk": s("a"), "sk": s("x")}
    params = {"TransactItems": [{"Get": {"TableName": "credits", "Key": key}}]}
    charges = meter_read("TransactGetItems", params, {"Responses": [{"Item": key}]}, context())
    assert units(charges, "read") == {Partition("credits", "S:a"): 2.0}


def test_a_write_is_charged_whatever_its_condition_decides() -> None:
    """Metered from the request, before DynamoDB answers: a failed condition costs the same."""
    params = {
        "TableName": "credits",
        "Item": {"pk": s("a"), "sk": s("x")},
        "ConditionExpression": "attribute_not_exists(pk)",
    }
    assert units(meter_write("PutItem", params, context())) == {Partition("credits", "S:a"): 1.0}


def test_an_update_is_charged_for_the_larger_of_the_item_before_and_after() -> None:
    metering = context()
    big = padded_item("a", 2500)
    meter_write("PutItem", {"TableName": "credits", "Item": big}, metering)
    update = {
        "TableName": "credits",
        "Key": {"pk": s("a"), "sk": s("x")},
        "UpdateExpression": "SET n = :n",
        "ExpressionAttributeValues": {":n": {"N": "1"}},
    }
    assert units(meter_write("UpdateItem", update, metering)) == {Partition("credits", "S:a"): 3.0}


def test_gsi_writes_are_charged_to_the_index_partition() -> None:
    metering = context()
    item = {"pk": s("object#a"), "listing_pk": s("bucket#3"), "listing_sk": s("a")}
    charges = meter_write("PutItem", {"TableName": "objects", "Item": item}, metering)
    assert units(charges) == {
        Partition("objects", "S:object#a"): 1.0,
        Partition("objects", "S:bucket#3", "listing"): 1.0,
    }


def test_an_item_leaving_an_index_deletes_its_entry_there() -> None:
    metering = context()
    meter_write(
        "PutItem",
        {
            "TableName": "objects",
            "Item": {"pk": s("object#a"), "listing_pk": s("bucket#3"), "listing_sk": s("a")},
        },
        metering,
    )
    tombstone = {"pk": s("object#a"), "state": s("missing")}  # no index keys: a sparse index drops it
    charges = meter_write("PutItem", {"TableName": "objects", "Item": tombstone}, metering)
    assert units(charges) == {
        Partition("objects", "S:object#a"): 1.0,
        Partition("objects", "S:bucket#3", "listing"): 1.0,
    }


def test_an_item_without_index_keys_writes_no_index() -> None:
    charges = meter_write("PutItem", {"TableName": "objects", "Item": {"pk": s("object#b")}}, context())
    assert units(charges) == {Partition("objects", "S:object#b"): 1.0}


def test_unit_helpers_match_the_documented_examples() -> None:
    assert write_units(3500) == 4
    assert read_units(3500, consistent=True) == 1.0
    assert read_units(10 * 1024, consistent=False) == 1.5


def test_a_batch_rounds_each_item_on_its_own() -> None:
    """The documented example: 1.5 KB and 6.5 KB items in one BatchGetItem cost 4 KB + 8 KB."""
    small, large = padded_item("a", 1536), padded_item("b", 6656)
    params = {
        "RequestItems": {
            "credits": {
                "Keys": [{"pk": small["pk"], "sk": small["sk"]}, {"pk": large["pk"], "sk": large["sk"]}],
                "ConsistentRead": True,
            }
        }
    }
    charges = meter_read("BatchGetItem", params, {"Responses": {"credits": [large, small]}}, context())
    assert units(charges, "read") == {Partition("credits", "S:a"): 1.0, Partition("credits", "S:b"): 2.0}


def test_batch_writes_are_charged_per_item_and_partition() -> None:
    params = {
        "RequestItems": {
            "credits": [
                {"PutRequest": {"Item": padded_item("a", 2000)}},
                {"DeleteRequest": {"Key": {"pk": s("b"), "sk": s("x")}}},
            ]
        }
    }
    assert units(meter_write("BatchWriteItem", params, context())) == {
        Partition("credits", "S:a"): 2.0,
        Partition("credits", "S:b"): 1.0,
    }


def test_a_scan_is_metered_against_the_whole_table() -> None:
    items = [padded_item(name, 3000) for name in "abc"]  # 9,000 bytes: 3 units, half when eventual
    charges = meter_read("Scan", {"TableName": "credits"}, {"Items": items}, context())
    assert units(charges, "read") == {Partition("credits", WHOLE_TABLE): 1.5}
