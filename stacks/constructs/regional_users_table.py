"""The users table (accounts, keys) as a DynamoDB global table replicated to every credits region.

Issue 15: every region authorizes with a local read of the key and the account; home is the only
writer of these items, so global tables' last-writer-wins cannot lose an update. The table is a
``TableV2`` (``AWS::DynamoDB::GlobalTable``) keyed exactly as the pynamodb model says, like
``stacks.constructs.data_tables.ModelTable``; with no credits regions the stacks keep the
single-region ``ModelTable`` (switching an existing table's resource type would replace it).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from functions.catalog.models import index_key_schema
from functions.tables.schema import table_key_schema
from stacks.constructs.data_tables import key_attribute_of


def void_notices_table_name(deployment_name: str) -> str:
    """The void notices' global table (functions/credits/regions/void_notices.py): keyed like the
    credits table (``pk``/``sk``), replicated to every credits region, so a notice written in the
    region that answered a retry reaches the region it names even while that one is down."""
    return f"{deployment_name}-void-notices"


def users_table_name(deployment_name: str) -> str:
    """The global table's name: the same in every replica region, so a region finds it by name."""
    return f"{deployment_name}-users"


def _global_index(index: type[GlobalSecondaryIndex[Any]]) -> dynamodb.GlobalSecondaryIndexPropsV2:
    """A global table's index, keyed exactly as its pynamodb index class says."""
    schema = index_key_schema(index)
    attributes = index.Meta.attributes
    return dynamodb.GlobalSecondaryIndexPropsV2(
        index_name=schema.index_name,
        partition_key=key_attribute_of(attributes, schema.hash_key),
        sort_key=key_attribute_of(attributes, schema.range_key) if schema.range_key else None,
        projection_type=getattr(dynamodb.ProjectionType, schema.projection),
    )


class GlobalModelTable(Construct):
    """A global table for a pynamodb model: on-demand, PITR and deletion protection in every replica."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model: type[Model],
        table_name: str,
        replica_regions: tuple[str, ...],
        global_indexes: tuple[type[GlobalSecondaryIndex[Any]], ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        key_schema = table_key_schema(model)
        attributes = model.get_attributes()
        point_in_time_recovery = dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        )
        self.table = dynamodb.TableV2(
            self,
            "Table",
            table_name=table_name,
            partition_key=key_attribute_of(attributes, key_schema.hash_key),
            sort_key=(key_attribute_of(attributes, key_schema.range_key) if key_schema.range_key else None),
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=point_in_time_recovery,
            deletion_protection=True,
            # Accounts and keys are money's owners: deleting a stack must never take them along.
            removal_policy=RemovalPolicy.RETAIN,
            encryption=dynamodb.TableEncryptionV2.aws_managed_key(),
            time_to_live_attribute=key_schema.ttl_attribute,
            # Global tables replicate through the stream; the account events read the same one.
            dynamo_stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            # sellers (issue 16): the users table's account-list index, as the single-region table has.
            global_secondary_indexes=[_global_index(index) for index in global_indexes] or None,
            replicas=[
                dynamodb.ReplicaTableProps(
                    region=region,
                    deletion_protection=True,
                    point_in_time_recovery_specification=point_in_time_recovery,
                )
                for region in replica_regions
            ],
        )
