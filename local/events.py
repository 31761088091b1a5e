"""Account events on this machine: DynamoDB Local's streams -> the same core -> a webhook or a log.

`make run` starts one ``AccountEventsPump`` thread in the supervisor. It reads the streams of the
users and credits tables through the Streams API (DynamoDB Local implements it for tables with a
StreamSpecification; ``ensure_stream`` turns it on for tables created before events existed),
turns each record into events with functions/account_events (as the deployed consumer does) and
hands them to a webhook (``--events-webhook URL``) or appends them to ``<data-dir>/events.jsonl``,
which `edgemeter events --follow` tails. The thread stops with `make run`.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from functions.account_events.events import EVENTS_LOG_FILE_NAME, AccountEvent
from functions.account_events.publishers import (
    EventPublisher,
    JsonLinesPublisher,
    PublishError,
    WebhookPublisher,
)
from functions.account_events.sharded_balance import ShardedBalanceJudge, judge_from_environment
from functions.account_events.stream_records import MalformedStreamRecord, derive_events
from functions.credits.data.models import STREAM_VIEW_TYPE
from functions.shared.environment_variables import EDGEMETER_CREDITS_TABLE, EDGEMETER_DYNAMODB_ENDPOINT
from local.config import LocalConfig
from local.credits_environment import credits_settings
from local.dynamodb_local import LOCAL_CREDENTIALS, LOCAL_REGION

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodbstreams.client import DynamoDBStreamsClient
    from mypy_boto3_dynamodbstreams.type_defs import GetRecordsOutputTypeDef

logger = logging.getLogger("edgemeter.local.events")

StartPosition = Literal["TRIM_HORIZON", "LATEST"]
DEFAULT_POLL_SECONDS = 0.5
# Iterators that must be replaced: expired (15 minutes), or, in DynamoDB Local, a LATEST iterator
# taken on a shard that had no record yet (it answers TrimmedDataAccessException from then on).
_TRIMMED = "TrimmedDataAccessException"
_RESUMABLE_ERRORS = frozenset({"ExpiredIteratorException", _TRIMMED})
# Records per GetRecords call: the Streams API's maximum.
_RECORDS_PER_CALL = 1000
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=10)


def events_log_path(data_dir: Path) -> Path:
    return data_dir / EVENTS_LOG_FILE_NAME


def local_clients(
    endpoint_url: str, region: str = LOCAL_REGION
) -> tuple[DynamoDBClient, DynamoDBStreamsClient]:
    """DynamoDB and Streams clients of DynamoDB Local (its placeholder credentials, never real ones)."""
    access_key_id = LOCAL_CREDENTIALS["aws_access_key_id"]
    secret_access_key = LOCAL_CREDENTIALS["aws_secret_access_key"]
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=_CLIENT_CONFIG,
    )
    streams = boto3.client(
        "dynamodbstreams",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=_CLIENT_CONFIG,
    )
    return dynamodb, streams


def ensure_stream(dynamodb: DynamoDBClient, table_name: str) -> str:
    """The table's stream ARN, turning the stream on first if the table was made without one."""
    table = dynamodb.describe_table(TableName=table_name)["Table"]
    specification = table.get("StreamSpecification", {})
    if specification.get("StreamEnabled") and table.get("LatestStreamArn"):
        return table["LatestStreamArn"]
    dynamodb.update_table(
        TableName=table_name,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": STREAM_VIEW_TYPE},
    )
    return dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]


@dataclass
class StreamReader:
    """Reads every shard of one stream, in order within each shard, from where it was told to start.

    Shards that exist at the first poll start at ``start``; shards found later (a shard rolled
    over) start at their beginning. A closed shard is dropped once read to its end.
    """

    streams: DynamoDBStreamsClient
    stream_arn: str
    start: StartPosition = "LATEST"
    _iterators: dict[str, str] = field(default_factory=dict, init=False)
    _last_sequence: dict[str, str] = field(default_factory=dict, init=False)
    _finished: set[str] = field(default_factory=set, init=False)
    _polled: bool = field(default=False, init=False)

    def poll(self) -> list[dict[str, Any]]:
        """The records written since the previous poll (one page per shard)."""
        self._discover_shards()
        records: list[dict[str, Any]] = []
        for shard_id in list(self._iterators):
            records.extend(self._read_shard(shard_id))
        return records

    def _discover_shards(self) -> None:
        position: StartPosition = self.start if not self._polled else "TRIM_HORIZON"
        self._polled = True
        for shard in self._shards():
            shard_id = shard["ShardId"]
            if shard_id in self._iterators or shard_id in self._finished:
                continue
            self._iterators[shard_id] = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType=position
            )["ShardIterator"]

    def _shards(self) -> list[Mapping[str, Any]]:
        shards: list[Mapping[str, Any]] = []
        options: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self.streams.describe_stream(**options)["StreamDescription"]
            shards.extend(description.get("Shards", []))
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shards
            options["ExclusiveStartShardId"] = last

    def _read_shard(self, shard_id: str) -> list[dict[str, Any]]:
        try:
            reply = self._get_records(shard_id)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code not in _RESUMABLE_ERRORS:
                raise
            # Read again at once with a fresh iterator: an empty pass would look like "all read".
            self._iterators[shard_id] = self._resume_iterator(shard_id, trimmed=code == _TRIMMED)
            reply = self._get_records(shard_id)
        records: list[dict[str, Any]] = [dict(record) for record in reply.get("Records", [])]
        if records:
            self._last_sequence[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
        next_iterator = reply.get("NextShardIterator")
        if next_iterator:
            self._iterators[shard_id] = next_iterator
        else:
            del self._iterators[shard_id]
            self._finished.add(shard_id)
        return records

    def _get_records(self, shard_id: str) -> GetRecordsOutputTypeDef:
        return self.streams.get_records(ShardIterator=self._iterators[shard_id], Limit=_RECORDS_PER_CALL)

    def _resume_iterator(self, shard_id: str, *, trimmed: bool) -> str:
        """A fresh iterator right after the last record read, or at the oldest record kept."""
        last = self._last_sequence.get(shard_id)
        options: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard_id}
        if last is None or trimmed:
            options["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            options |= {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last}
        return self.streams.get_shard_iterator(**options)["ShardIterator"]


@dataclass
class EventRelay:
    """Records -> events -> publisher; records whose events could not be published wait for the next try."""

    publisher: EventPublisher
    _waiting: list[dict[str, Any]] = field(default_factory=list, init=False)
    published: int = 0
    # issue 14: sharded accounts' balance.low, judged per pass on their totals (as the Lambda judges
    # per batch); None judges unsharded accounts only.
    judge: ShardedBalanceJudge | None = None

    def relay(self, records: Sequence[dict[str, Any]]) -> list[AccountEvent]:
        """Publish the events of the waiting records, then of ``records``; return what was published."""
        queue = [*self._waiting, *records]
        delivered: list[AccountEvent] = []
        self._waiting = []
        if self.judge is not None and queue:
            try:
                # Judging waiting records again is harmless: a fired threshold fires again only
                # for the same record, under the same event id.
                sharded = self.judge.judge(queue)
                if sharded:
                    self.publisher.publish(sharded)
            except (PublishError, BotoCoreError, ClientError, PynamoDBException) as error:
                logger.warning("sharded balance events not delivered yet, will retry: %s", error)
                self._waiting = queue
                return delivered
            delivered.extend(sharded)
        for position, record in enumerate(queue):
            try:
                events = derive_events(record)
            except MalformedStreamRecord as error:
                # It would fail the same way every time: skip it rather than stop the stream.
                logger.error("skipped a stream record: %s", error)
                continue
            try:
                self.publisher.publish(events)
            except PublishError as error:
                logger.warning("events not delivered yet, will retry: %s", error)
                self._waiting = queue[position:]
                break
            delivered.extend(events)
        self.published += len(delivered)
        return delivered


class StreamPollingThread(ABC):
    """A daemon thread repeating a pass over table streams until stopped; a context manager.

    The one local stand-in for a Lambda event source mapping: the account-events pump and the
    local ledger writer differ only in what a pass does (``_pass``) and how they drain. Stopping
    drains what is left, so changes made just before the stop are still handled.
    """

    # Errors after which the thread tries again a poll later (DynamoDB Local stopping or restarting).
    transient_errors: tuple[type[Exception], ...] = (BotoCoreError, ClientError)
    poll_failed_message = "a pass over the table streams failed: %s"
    drain_failed_message = "what was left in the table streams could not be handled: %s"

    def __init__(self, *, thread_name: str, poll_seconds: float, thread_logger: logging.Logger) -> None:
        self._poll_seconds = poll_seconds
        self._logger = thread_logger
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    @abstractmethod
    def _pass(self) -> bool:
        """One pass; whether it found work (then the next pass follows without waiting)."""

    @abstractmethod
    def drain(self) -> object:
        """Pass until the streams are quiet."""

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self, timeout_seconds: float = 10.0) -> None:
        """Stop the thread, then drain what is left."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_seconds)
        try:
            self.drain()
        except (BotoCoreError, ClientError) as error:
            self._logger.warning(self.drain_failed_message, error)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self._pass()
            except self.transient_errors as error:
                self._logger.warning(self.poll_failed_message, error)
                busy = False
            if not busy:
                self._stop.wait(self._poll_seconds)


class AccountEventsPump(StreamPollingThread):
    """A daemon thread polling both tables' streams into one relay; a context manager that stops it."""

    poll_failed_message = "reading the table streams failed: %s"
    drain_failed_message = "the last events could not be read: %s"

    def __init__(
        self,
        readers: Sequence[StreamReader],
        relay: EventRelay,
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
    ) -> None:
        super().__init__(thread_name="account-events", poll_seconds=poll_seconds, thread_logger=logger)
        self._readers = list(readers)
        self._relay = relay

    def poll_once(self) -> list[AccountEvent]:
        """One pass over every stream (what the thread repeats)."""
        return self._relay.relay(self._read_all())

    def drain(self, max_passes: int = 100) -> list[AccountEvent]:
        """Pass over the streams until a pass reads no record; the events published meanwhile.

        Used by ``stop`` and by tests.
        """
        delivered: list[AccountEvent] = []
        for _ in range(max_passes):
            records = self._read_all()
            delivered.extend(self._relay.relay(records))
            if not records:
                break
        return delivered

    def _read_all(self) -> list[dict[str, Any]]:
        return [record for reader in self._readers for record in reader.poll()]

    def _pass(self) -> bool:
        return bool(self.poll_once())


def build_pump(
    endpoint_url: str,
    table_names: Sequence[str],
    publisher: EventPublisher,
    *,
    start: StartPosition = "LATEST",
    region: str = LOCAL_REGION,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    judge: ShardedBalanceJudge | None = None,
) -> AccountEventsPump:
    """A pump over the named tables' streams (turned on where missing), not yet started."""
    dynamodb, streams = local_clients(endpoint_url, region)
    readers = [StreamReader(streams, ensure_stream(dynamodb, name), start) for name in table_names]
    return AccountEventsPump(readers, EventRelay(publisher, judge=judge), poll_seconds=poll_seconds)


def local_publisher(config: LocalConfig) -> EventPublisher:
    """The webhook if one is configured, else the JSON-lines log in the data directory."""
    if config.events_webhook_url is not None:
        return WebhookPublisher(str(config.events_webhook_url))
    return JsonLinesPublisher(events_log_path(config.data_dir))


def local_events_destination(config: LocalConfig) -> str:
    """Where `make run` sends events, for its banner."""
    if config.events_webhook_url is not None:
        return f"POST {config.events_webhook_url}"
    return f"{events_log_path(config.data_dir)}   (edgemeter events --follow)"


def start_local_events(config: LocalConfig) -> AccountEventsPump:
    """`make run`'s events thread over both tables' streams, from now on (LATEST), started."""
    settings = credits_settings(config)
    pump = build_pump(
        config.dynamodb_url,
        [settings.users_table, settings.credits_table],
        local_publisher(config),
        start="LATEST",
        region=config.region,
        judge=judge_from_environment(
            {
                EDGEMETER_CREDITS_TABLE: settings.credits_table,
                EDGEMETER_DYNAMODB_ENDPOINT: config.dynamodb_url,
                "AWS_REGION": config.region,
            }
        ),
    )
    return pump.start()
