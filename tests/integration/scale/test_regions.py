"""Several regions on one DynamoDB Local: a table set per region, inter-region latency on each call."""

from __future__ import annotations

import boto3
from mypy_boto3_dynamodb import DynamoDBClient

from local.dynamodb_local import LOCAL_CREDENTIALS, DynamoDBLocal
from local.regions import RegionLatency, dynamodb_region_latency


def _client(server: DynamoDBLocal, region: str) -> DynamoDBClient:
    return boto3.client(
        "dynamodb",
        endpoint_url=server.endpoint_url,
        region_name=region,
        aws_access_key_id=LOCAL_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=LOCAL_CREDENTIALS["aws_secret_access_key"],
    )


def test_each_region_has_its_own_tables_and_calls_wait_the_round_trip(
    dynamodb_local_per_region: DynamoDBLocal,
) -> None:
    waits: list[float] = []
    latency = RegionLatency(sleep=waits.append)
    with dynamodb_region_latency("ap-southeast-2", latency):
        clients = {
            region: _client(dynamodb_local_per_region, region) for region in ("eu-west-1", "ap-southeast-2")
        }
        for region, client in clients.items():
            client.create_table(
                TableName="regional",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            client.put_item(TableName="regional", Item={"pk": {"S": region}})
        far_waits = len(waits)
        contents = {region: client.scan(TableName="regional")["Items"] for region, client in clients.items()}

    assert contents == {region: [{"pk": {"S": region}}] for region in clients}
    # Only the calls to eu-west-1 waited (2 before the scans, then the eu-west-1 scan): ~256 ms each.
    assert far_waits == 2
    assert len(waits) == 3
    assert all(0.1 < wait < 0.6 for wait in waits)
