"""The synthesized tables are keyed exactly as the pynamodb models say."""

from __future__ import annotations

from typing import Any

import pytest
from pynamodb.models import Model

from functions.catalog.models import ListingIndex, ObjectItem, index_key_schema
from functions.credits.data.models import AccountListIndex, CreditsTableModel, UsersTableModel
from functions.tables.schema import table_key_schema
from tests.infra.conftest import SynthesizedApp


def _table(app: SynthesizedApp, logical_id_prefix: str) -> dict[str, Any]:
    tables = app.main.find_resources("AWS::DynamoDB::Table")
    matching = [table for logical_id, table in tables.items() if logical_id.startswith(logical_id_prefix)]
    assert len(matching) == 1, f"{logical_id_prefix}: {sorted(tables)}"
    properties: dict[str, Any] = matching[0]["Properties"]
    return properties


def _key_schema(key_schema: list[dict[str, str]]) -> tuple[str, str | None]:
    by_type = {element["KeyType"]: element["AttributeName"] for element in key_schema}
    return by_type["HASH"], by_type.get("RANGE")


@pytest.mark.parametrize(
    ("logical_id_prefix", "model"),
    [
        ("DataUsersTable", UsersTableModel),
        ("DataCreditsTable", CreditsTableModel),
        ("DataObjectsTable", ObjectItem),
    ],
)
def test_table_key_schema_equals_the_model(
    s3_app: SynthesizedApp, logical_id_prefix: str, model: type[Model]
) -> None:
    table = _table(s3_app, logical_id_prefix)
    expected = table_key_schema(model)
    assert _key_schema(table["KeySchema"]) == (expected.hash_key, expected.range_key)
    assert table["TimeToLiveSpecification"] == {"AttributeName": expected.ttl_attribute, "Enabled": True}
    declared_types = {
        definition["AttributeName"]: definition["AttributeType"]
        for definition in table["AttributeDefinitions"]
    }
    assert declared_types[expected.hash_key] == "S"


def test_objects_table_listing_index_equals_the_model(s3_app: SynthesizedApp) -> None:
    table = _table(s3_app, "DataObjectsTable")
    expected = index_key_schema(ListingIndex)
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == expected.index_name
    assert _key_schema(index["KeySchema"]) == (expected.hash_key, expected.range_key)
    assert index["Projection"] == {"ProjectionType": expected.projection}


def test_the_credits_table_has_no_index_and_the_users_table_only_the_account_list(
    s3_app: SynthesizedApp,
) -> None:
    # Every request-path operation is a GetItem or one transaction (docs/decisions.md, "Data model");
    # the account list's index (sellers, issue 16) is on the account item, never written by a charge.
    assert "GlobalSecondaryIndexes" not in _table(s3_app, "DataCreditsTable")
    expected = index_key_schema(AccountListIndex)
    (index,) = _table(s3_app, "DataUsersTable")["GlobalSecondaryIndexes"]
    assert index["IndexName"] == expected.index_name
    assert _key_schema(index["KeySchema"]) == (expected.hash_key, expected.range_key)
    assert index["Projection"] == {"ProjectionType": expected.projection}
