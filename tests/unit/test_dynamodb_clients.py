"""bench/dynamodb_clients.py, the one hook on DynamoDB client creation that the DynamoDB counting
(bench/dynamodb_counting.py) and the fault injection (tests/reliability/faults.py) share."""

from __future__ import annotations

import boto3
import botocore.session
from botocore.client import BaseClient
from botocore.stub import Stubber

from bench.dynamodb_clients import hook_new_dynamodb_clients
from bench.dynamodb_counting import count_dynamodb

ENDPOINT = "http://127.0.0.1:1"  # never contacted: clients are created or stubbed, not called


def new_client(service: str) -> BaseClient:
    return botocore.session.get_session().create_client(
        service, region_name="us-east-1", endpoint_url=ENDPOINT
    )


def test_only_dynamodb_clients_created_inside_the_block_are_attached():
    before = new_client("dynamodb")
    attached: list[BaseClient] = []
    with hook_new_dynamodb_clients(attached.append):
        inside = new_client("dynamodb")
        new_client("s3")
    new_client("dynamodb")
    assert attached == [inside]
    assert before not in attached


def test_nested_blocks_both_see_the_client_and_restore_client_creation():
    original_create_client = botocore.session.Session.create_client
    outer: list[BaseClient] = []
    inner: list[BaseClient] = []
    with hook_new_dynamodb_clients(outer.append):
        with hook_new_dynamodb_clients(inner.append):
            client = new_client("dynamodb")
        assert botocore.session.Session.create_client is not original_create_client
    assert outer == inner == [client]
    assert botocore.session.Session.create_client is original_create_client


def test_counting_through_the_hook_counts_operations_and_units():
    with count_dynamodb() as counter:
        client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=ENDPOINT)
        with Stubber(client) as stubber:
            item = {"pk": {"S": "account#1"}, "balance": {"N": "5"}}
            stubber.add_response(
                "put_item",
                {"ConsumedCapacity": {"TableName": "credits", "CapacityUnits": 1.0}},
                expected_params={"TableName": "credits", "Item": item},
            )
            client.put_item(TableName="credits", Item=item)
            stubber.assert_no_pending_responses()
    counts = counter.snapshot()
    assert counts.operations == {"PutItem": 1}
    assert counts.billed_write_units == 1.0
    assert counts.reported_write_units == 1.0
