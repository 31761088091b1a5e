"""The DynamoDB tables, keyed exactly as the pynamodb models say (no schema restated here)."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct
from pynamodb.attributes import Attribute, BinaryAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from functions.catalog.models import ListingIndex, ObjectItem, index_key_schema
from functions.credits.data.models import AccountListIndex, CreditsTableModel, UsersTableModel
from functions.tables.schema import table_key_schema

_KEY_TYPES: dict[type[Attribute[Any]], dynamodb.AttributeType] = {
    UnicodeAttribute: dynamodb.AttributeType.STRING,
    NumberAttribute: dynamodb.AttributeType.NUMBER,
    BinaryAttribute: dynamodb.AttributeType.BINARY,
}
_PROJECTIONS = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
}


def _key_attribute(attributes: dict[str, Attribute[Any]], attribute_name: str) -> dynamodb.Attribute:
    """A key attribute with the DynamoDB type its pynamodb attribute class stores."""
    for python_name, attribute in attributes.items():
        if (attribute.attr_name or python_name) == attribute_name:
            for attribute_class, key_type in _KEY_TYPES.items():
                if isinstance(attribute, attribute_class):
                    return dynamodb.Attribute(name=attribute_name, type=key_type)
            raise TypeError(
                f"key attribute {attribute_name!r} is a {type(attribute).__name__}, not a key type"
            )
    raise KeyError(f"no attribute {attribute_name!r} in the model")


def key_attribute_of(attributes: dict[str, Attribute[Any]], attribute_name: str) -> dynamodb.Attribute:
    """``_key_attribute`` for the other table builders (the regional users table)."""
    return _key_attribute(attributes, attribute_name)


def _stream_view_type(model: type[Model]) -> dynamodb.StreamViewType | None:
    view_type = getattr(model.Meta, "stream_view_type", None)
    return dynamodb.StreamViewType(view_type) if view_type else None


def production_table(
    scope: Construct,
    construct_id: str,
    *,
    partition_key: dynamodb.Attribute,
    sort_key: dynamodb.Attribute | None,
    time_to_live_attribute: str | None = None,
    stream: dynamodb.StreamViewType | None = None,
) -> dynamodb.Table:
    """On-demand, PITR, deletion protection, retained, encrypted: every edgemeter table."""
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=partition_key,
        sort_key=sort_key,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        deletion_protection=True,
        # Balances and the ledger are money: deleting the stack must never take them along.
        removal_policy=RemovalPolicy.RETAIN,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        time_to_live_attribute=time_to_live_attribute,
        stream=stream,
    )


class ModelTable(Construct):
    """A production table for a pynamodb model: on-demand, PITR, deletion protection, retained, encrypted."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model: type[Model],
        global_indexes: tuple[type[GlobalSecondaryIndex[Any]], ...] = (),
        time_to_live: bool = True,
    ) -> None:
        """``time_to_live``: False for a table nothing may expire from (the append-only ledger)."""
        super().__init__(scope, construct_id)
        key_schema = table_key_schema(model)
        attributes = model.get_attributes()
        self.table = production_table(
            self,
            "Table",
            partition_key=_key_attribute(attributes, key_schema.hash_key),
            sort_key=_key_attribute(attributes, key_schema.range_key) if key_schema.range_key else None,
            # Idempotency records, rate-limit buckets and tombstones expire through DynamoDB TTL.
            time_to_live_attribute=key_schema.ttl_attribute if time_to_live else None,
            # A stream when the model's Meta asks for one (the account events read it; issue 16).
            stream=_stream_view_type(model),
        )
        for index in global_indexes:
            index_schema = index_key_schema(index)
            index_attributes = index.Meta.attributes
            self.table.add_global_secondary_index(
                index_name=index_schema.index_name,
                partition_key=_key_attribute(index_attributes, index_schema.hash_key),
                sort_key=(
                    _key_attribute(index_attributes, index_schema.range_key)
                    if index_schema.range_key
                    else None
                ),
                projection_type=_PROJECTIONS[index_schema.projection],
            )


class DataTables(Construct):
    """The users and credits tables (credits service) and the objects table (catalog)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, users_table: dynamodb.ITable | None = None
    ) -> None:
        super().__init__(scope, construct_id)
        # ``users_table``: the users global table when there are credits regions (issue 15).
        self.users_table: dynamodb.ITable = (
            users_table
            if users_table is not None
            # sellers (issue 16): the account list's index (functions/credits/sellers/listing.py).
            else ModelTable(self, "Users", model=UsersTableModel, global_indexes=(AccountListIndex,)).table
        )
        self.credits_table = ModelTable(self, "Credits", model=CreditsTableModel).table
        self.objects_table = ModelTable(
            self, "Objects", model=ObjectItem, global_indexes=(ListingIndex,)
        ).table
