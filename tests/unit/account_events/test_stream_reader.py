"""local/events.py's stream reader and relay against a fake Streams API (no DynamoDB Local)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.account_events.events import AccountEvent, EventType
from functions.account_events.publishers import PublishError
from local.events import EventRelay, StreamReader
from tests.unit.account_events.stream_records import balance_update

STREAM = "arn:aws:dynamodb:us-east-1:000000000000:table/credits/stream/2026"


def _error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "GetRecords")


@dataclass
class FakeStreams:
    """Shards as lists of records; an iterator is ``shard:position``; errors can be queued per call."""

    shards: dict[str, list[dict[str, Any]]]
    closed: set[str] = field(default_factory=set)
    errors: list[ClientError] = field(default_factory=list)
    iterator_requests: list[dict[str, Any]] = field(default_factory=list)

    def describe_stream(self, **options: Any) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": shard} for shard in self.shards]}}

    def get_shard_iterator(self, **options: Any) -> dict[str, Any]:
        self.iterator_requests.append(options)
        records = self.shards[options["ShardId"]]
        kind = options["ShardIteratorType"]
        if kind == "LATEST":
            position = len(records)
        elif kind == "AFTER_SEQUENCE_NUMBER":
            sequences = [record["dynamodb"]["SequenceNumber"] for record in records]
            position = sequences.index(options["SequenceNumber"]) + 1
        else:
            position = 0
        return {"ShardIterator": f"{options['ShardId']}:{position}"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        if self.errors:
            raise self.errors.pop(0)
        shard, _, position_text = ShardIterator.partition(":")
        position = int(position_text)
        records = self.shards[shard][position : position + Limit]
        end = position + len(records)
        reply: dict[str, Any] = {"Records": records}
        if not (shard in self.closed and end == len(self.shards[shard])):
            reply["NextShardIterator"] = f"{shard}:{end}"
        return reply


def _reader(streams: FakeStreams, start: str = "TRIM_HORIZON") -> StreamReader:
    return StreamReader(streams, STREAM, start)  # type: ignore[arg-type]


def test_reads_every_shard_in_order_and_only_new_records_after() -> None:
    first, second = balance_update("a", 5, 4), balance_update("a", 4, 3)
    streams = FakeStreams({"shard-1": [first, second]})
    reader = _reader(streams)
    assert reader.poll() == [first, second]
    assert reader.poll() == []
    third = balance_update("a", 3, 2)
    streams.shards["shard-1"].append(third)
    assert reader.poll() == [third]


def test_latest_skips_what_was_there_but_a_later_shard_is_read_from_its_start() -> None:
    old = balance_update("a", 5, 4)
    streams = FakeStreams({"shard-1": [old]})
    reader = _reader(streams, "LATEST")
    assert reader.poll() == []
    newer = balance_update("a", 4, 3)
    streams.shards["shard-2"] = [newer]
    assert reader.poll() == [newer]


def test_a_closed_shard_is_dropped_once_read_to_its_end() -> None:
    record = balance_update("a", 5, 4)
    streams = FakeStreams({"shard-1": [record]}, closed={"shard-1"})
    reader = _reader(streams)
    assert reader.poll() == [record]
    assert reader.poll() == []
    assert len(streams.iterator_requests) == 1


def test_an_expired_iterator_resumes_after_the_last_record_read() -> None:
    first, second = balance_update("a", 5, 4), balance_update("a", 4, 3)
    streams = FakeStreams({"shard-1": [first]})
    reader = _reader(streams)
    assert reader.poll() == [first]
    streams.shards["shard-1"].append(second)
    streams.errors.append(_error("ExpiredIteratorException"))
    assert reader.poll() == [second]
    assert streams.iterator_requests[-1]["ShardIteratorType"] == "AFTER_SEQUENCE_NUMBER"


def test_a_trimmed_iterator_restarts_at_the_oldest_record_kept() -> None:
    record = balance_update("a", 5, 4)
    streams = FakeStreams({"shard-1": []})
    reader = _reader(streams, "LATEST")
    assert reader.poll() == []
    streams.shards["shard-1"].append(record)
    streams.errors.append(_error("TrimmedDataAccessException"))
    assert reader.poll() == [record]


def test_other_errors_are_raised() -> None:
    streams = FakeStreams({"shard-1": []}, errors=[_error("ResourceNotFoundException")])
    with pytest.raises(ClientError):
        _reader(streams).poll()


class FailingOnce:
    def __init__(self) -> None:
        self.calls = 0
        self.delivered: list[AccountEvent] = []

    def publish(self, events: Sequence[AccountEvent]) -> None:
        self.calls += 1
        if events and self.calls == 1:
            raise PublishError("webhook down")
        self.delivered.extend(events)


def test_the_relay_keeps_records_whose_events_failed_and_sends_them_first_next_time() -> None:
    publisher = FailingOnce()
    relay = EventRelay(publisher)
    crossing = balance_update("a", 101, 99, [100])
    assert relay.relay([crossing]) == []
    later = balance_update("a", 99, 9, [10])
    delivered = relay.relay([later])
    assert [event.detail["threshold"] for event in delivered] == [100, 10]
    assert [event.type for event in publisher.delivered] == [EventType.BALANCE_LOW, EventType.BALANCE_LOW]
    assert relay.published == 2


def test_the_relay_skips_a_malformed_record_and_goes_on() -> None:
    publisher = FailingOnce()
    publisher.calls = 1  # accepts from the start
    broken = balance_update("a", 101, 99, [100])
    del broken["dynamodb"]["Keys"]
    crossing = balance_update("a", 101, 99, [100])
    delivered = EventRelay(publisher).relay([broken, crossing])
    assert [event.type for event in delivered] == [EventType.BALANCE_LOW]
