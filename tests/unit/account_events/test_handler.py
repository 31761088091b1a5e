"""The consumer Lambda's entry point: bus name from the environment, PutEvents through boto3."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.stub import ANY, Stubber

from functions.account_events import handler
from functions.account_events.events import EVENT_SOURCE
from tests.unit.account_events.stream_records import balance_update


@dataclass(frozen=True)
class FakeLambdaContext:
    function_name: str = "edgemeter-account-events"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:edgemeter-account-events"
    aws_request_id: str = "request-1"


@pytest.fixture
def stubbed_events(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    client = boto3.client("events", region_name="eu-west-1")
    monkeypatch.setattr(boto3, "client", lambda *args, **kwargs: client)
    monkeypatch.setenv(handler.EVENT_BUS_NAME_ENV, "edgemeter-account-events")
    handler.container_publisher.cache_clear()
    with Stubber(client) as stubber:
        yield stubber
    handler.container_publisher.cache_clear()


def test_a_crossing_is_put_on_the_configured_bus(stubbed_events: Stubber) -> None:
    crossing = balance_update("acct_1", 101, 99, [100])
    quiet = balance_update("acct_1", 99, 98, [100])
    stubbed_events.add_response(
        "put_events",
        {"FailedEntryCount": 0, "Entries": [{"EventId": "eb-1"}]},
        {
            "Entries": [
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": "balance.low",
                    "Detail": ANY,
                    "EventBusName": "edgemeter-account-events",
                }
            ]
        },
    )
    reply: Any = handler.lambda_handler({"Records": [crossing, quiet]}, FakeLambdaContext())  # type: ignore[arg-type]
    assert reply == {"batchItemFailures": []}
    stubbed_events.assert_no_pending_responses()


def test_a_bus_error_fails_that_record_so_lambda_retries_from_it(stubbed_events: Stubber) -> None:
    quiet = balance_update("acct_1", 500, 400, [100])
    crossing = balance_update("acct_1", 101, 99, [100])
    stubbed_events.add_client_error("put_events", "InternalException", http_status_code=500)
    reply: Any = handler.lambda_handler({"Records": [quiet, crossing]}, FakeLambdaContext())  # type: ignore[arg-type]
    assert reply == {"batchItemFailures": [{"itemIdentifier": crossing["dynamodb"]["SequenceNumber"]}]}


def test_a_batch_where_every_record_failed_raises_so_lambda_retries_it(stubbed_events: Stubber) -> None:
    stubbed_events.add_client_error("put_events", "InternalException", http_status_code=500)
    with pytest.raises(BatchProcessingError):
        handler.lambda_handler({"Records": [balance_update("acct_1", 101, 99, [100])]}, FakeLambdaContext())  # type: ignore[arg-type]


def test_without_a_bus_name_the_consumer_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(handler.EVENT_BUS_NAME_ENV, raising=False)
    handler.container_publisher.cache_clear()
    with pytest.raises(RuntimeError, match=handler.EVENT_BUS_NAME_ENV):
        handler.container_publisher()
