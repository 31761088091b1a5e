"""The stream consumer Lambda: DynamoDB stream batches of both tables -> events on the custom bus.

Records are handled one by one through Powertools' batch processor; a record whose events
could not all be published is reported as a batch item failure (the event source mapping has
ReportBatchItemFailures), so Lambda retries from that record and bisects, and a record that
keeps failing goes to the on-failure destination (an SQS queue) once retries are used up.
The events' ids come from the record, so a republished event carries the same id.
Sharded accounts' ``balance.low`` is judged per batch on the account's total first
(functions/account_events/sharded_balance.py, when ``EDGEMETER_CREDITS_TABLE`` is set).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from functions.account_events.events import AccountEvent
from functions.account_events.publishers import EventBridgePublisher, EventPublisher
from functions.account_events.sharded_balance import ShardedBalanceJudge, judge_from_environment
from functions.account_events.stream_records import derive_events
from functions.shared.environment_variables import EDGEMETER_EVENT_BUS_NAME

EVENT_BUS_NAME_ENV = EDGEMETER_EVENT_BUS_NAME

logger = Logger(service="edgemeter-account-events")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def log_published(events: Sequence[AccountEvent]) -> None:
    # Ids and types only: details name accounts' reasons and principals, kept to the bus.
    logger.info(
        "events published", extra={"events": [{"id": event.id, "type": event.type.value} for event in events]}
    )


class RecordPublisher:
    """The record handler: derive a record's events and publish them (most records have none)."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    def __call__(self, record: DynamoDBRecord) -> int:
        events = derive_events(record.raw_event)
        if events:
            self._publisher.publish(events)
            log_published(events)
        return len(events)


@functools.cache
def container_publisher() -> EventBridgePublisher:
    """The bus publisher of this execution environment (the bus name validated on first use)."""
    bus_name = os.environ.get(EVENT_BUS_NAME_ENV, "").strip()
    if not bus_name:
        raise RuntimeError(f"{EVENT_BUS_NAME_ENV} is not set: the stream consumer has no bus to publish to")
    client = boto3.client("events", config=Config(retries={"mode": "standard", "max_attempts": 5}))
    return EventBridgePublisher(client, bus_name)


@functools.cache
def container_judge() -> ShardedBalanceJudge | None:
    """The judge of sharded accounts' totals (issue 14), when the consumer is told the credits table."""
    return judge_from_environment()


def publish_sharded_low_balances(records: list[dict[str, Any]], publisher: EventPublisher) -> int:
    """``balance.low`` of sharded accounts, judged per batch on their totals. Raises when they
    could not be published: the whole batch is then retried (the events keep their ids)."""
    judge = container_judge()
    events = judge.judge(records) if judge is not None else []
    if events:
        publisher.publish(events)
        log_published(events)
    return len(events)


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    publish_sharded_low_balances(event.get("Records", []), container_publisher())
    return process_partial_response(
        event=event,
        record_handler=RecordPublisher(container_publisher()),
        processor=processor,
        context=context,
    )
