"""The ledger writer Lambda: ``functions.ledger_writer.handler.handler``.

Two event sources (CONTRIBUTING.md, "Ledger writer deploy contract"): the credits table's stream
(NEW_AND_OLD_IMAGES, ReportBatchItemFailures, bisect on error, parallelization factor 1 so each
shard's writes arrive in order) and the SQS recheck queue of parked attempts (60 s delivery
delay). Both go through Powertools' batch processor: a record that fails is reported, and Lambda
delivers it again; every step is idempotent (identical ledger puts, a compensation marker put IF
absent, a voided record put IF absent), so a redelivered batch changes nothing.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from functions.credits.settings import settings_from_env
from functions.ledger_writer.recheck import ParkedAttempt, SqsRecheckQueue
from functions.ledger_writer.writer import LedgerWriter
from functions.shared.environment_variables import EDGEMETER_LEDGER_RECHECK_QUEUE_URL

logger = Logger(service="edgemeter-ledger-writer")
stream_processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
queue_processor = BatchProcessor(event_type=EventType.SQS)


@functools.cache
def container_writer() -> LedgerWriter:
    """This execution environment's writer (settings validated on first use)."""
    queue_url = os.environ.get(EDGEMETER_LEDGER_RECHECK_QUEUE_URL, "").strip()
    if not queue_url:
        raise RuntimeError(f"{EDGEMETER_LEDGER_RECHECK_QUEUE_URL} is not set: parked attempts have no queue")
    client = boto3.client("sqs", config=Config(retries={"mode": "standard", "max_attempts": 5}))
    return LedgerWriter(settings_from_env(), SqsRecheckQueue(client, queue_url))


def write_stream_record(record: DynamoDBRecord) -> None:
    settlement = container_writer().write_record(record.raw_event)
    if settlement is not None:
        # Request ids and attempt outcomes only: no key, no key digest is ever in a stream record.
        logger.info("debit settled", extra={"settlement": settlement.value})


def settle_parked(record: SQSRecord) -> None:
    parked = ParkedAttempt.from_json(record.body)
    settlement = container_writer().settle(parked, waited=True)
    logger.info("parked attempt settled", extra={"settlement": settlement.value})


def _from_queue(event: dict[str, Any]) -> bool:
    records = event.get("Records") or [{}]
    return bool(records[0].get("eventSource") == "aws:sqs")


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    if _from_queue(event):
        return process_partial_response(
            event=event, record_handler=settle_parked, processor=queue_processor, context=context
        )
    return process_partial_response(
        event=event, record_handler=write_stream_record, processor=stream_processor, context=context
    )
