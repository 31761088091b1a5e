"""The layer refuses as DynamoDB does, through botocore's normal error path (DynamoDB Local, 1/100)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from mypy_boto3_dynamodb import DynamoDBClient

from local.dynamodb_capacity import CapacityLayer
from local.dynamodb_local import LOCAL_CREDENTIALS, LOCAL_REGION, DynamoDBLocal

TABLE = "throttle-answers"


def _client(server: DynamoDBLocal, attempts: int) -> DynamoDBClient:
    return boto3.client(
        "dynamodb",
        endpoint_url=server.endpoint_url,
        region_name=LOCAL_REGION,
        aws_access_key_id=LOCAL_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=LOCAL_CREDENTIALS["aws_secret_access_key"],
        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}),
    )


@pytest.fixture
def no_retries(dynamodb_local: DynamoDBLocal, dynamodb_at_scale: CapacityLayer) -> Iterator[DynamoDBClient]:
    client = _client(dynamodb_local, 1)
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        yield client
    finally:
        client.delete_table(TableName=TABLE)


def _fill_until_refused(write: Callable[[int], object], limit: int = 200) -> tuple[int, ClientError]:
    """Write as fast as the client goes until the layer refuses: (writes that went through, the refusal)."""
    for index in range(limit):
        try:
            write(index)
        except ClientError as refused:
            return index, refused
    raise AssertionError(f"{limit} writes to one partition key at 1/100 scale were never throttled")


def test_a_single_item_write_past_the_partition_limit_is_provisioned_throughput_exceeded(
    no_retries: DynamoDBClient, dynamodb_at_scale: CapacityLayer
) -> None:
    written, refused = _fill_until_refused(
        lambda index: no_retries.put_item(TableName=TABLE, Item={"pk": {"S": "hot"}, "sk": {"S": str(index)}})
    )
    assert written >= 10  # the partition's burst: 1 s of 10 WCU/s
    assert refused.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert refused.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # Another partition key of the same table is not affected.
    no_retries.put_item(TableName=TABLE, Item={"pk": {"S": "cold"}, "sk": {"S": "0"}})
    assert dynamodb_at_scale.snapshot().throttled == {"PutItem": 1}


def test_a_transaction_touching_a_hot_partition_is_cancelled_with_a_throttling_reason_on_that_item(
    no_retries: DynamoDBClient,
) -> None:
    def transaction(index: int) -> object:
        return no_retries.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": f"cold-{index}"}, "sk": {"S": "a"}}}},
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "hot"}, "sk": {"S": str(index)}}}},
            ]
        )

    written, refused = _fill_until_refused(transaction)
    assert written >= 5  # 2 WCU on the hot key per transaction: 10 WCU of burst
    assert refused.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = refused.response.get("CancellationReasons", [])
    assert [reason["Code"] for reason in reasons] == ["None", "ThrottlingError"]
    # Nothing of the refused transaction was written.
    cold = no_retries.get_item(
        TableName=TABLE, Key={"pk": {"S": f"cold-{written}"}, "sk": {"S": "a"}}, ConsistentRead=True
    )
    assert "Item" not in cold


def test_botocores_standard_mode_retries_a_throttled_write_through_the_layer(
    dynamodb_local: DynamoDBLocal, no_retries: DynamoDBClient, dynamodb_at_scale: CapacityLayer
) -> None:
    retrying = _client(dynamodb_local, 10)
    written, _ = _fill_until_refused(
        lambda index: no_retries.put_item(TableName=TABLE, Item={"pk": {"S": "hot"}, "sk": {"S": str(index)}})
    )
    retrying.put_item(TableName=TABLE, Item={"pk": {"S": "hot"}, "sk": {"S": "late"}})
    snapshot = dynamodb_at_scale.snapshot()
    # Every attempt went through the buckets: the writes, the refusals, and the retried write's
    # attempts (refused until botocore's backoff let the partition refill, then admitted).
    assert snapshot.attempts["PutItem"] == written + snapshot.throttled["PutItem"] + 1
    stored = no_retries.get_item(
        TableName=TABLE, Key={"pk": {"S": "hot"}, "sk": {"S": "late"}}, ConsistentRead=True
    )
    assert "Item" in stored
