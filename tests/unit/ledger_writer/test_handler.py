"""The ledger writer Lambda's entry point: stream batches and queue messages through Powertools'
batch processor, a failed record reported (so Lambda delivers it again), the rest done."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from functions.ledger_writer import handler
from functions.ledger_writer.recheck import ParkedAttempt
from functions.ledger_writer.writer import Settlement
from functions.shared.environment_variables import EDGEMETER_LEDGER_RECHECK_QUEUE_URL


@dataclass(frozen=True)
class FakeLambdaContext:
    function_name: str = "edgemeter-ledger-writer"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:edgemeter-ledger-writer"
    aws_request_id: str = "request-1"


@dataclass
class FakeWriter:
    """Records what it was handed; refuses the stream record numbered ``failing``."""

    failing: str | None = None
    written: list[str] = field(default_factory=list)
    settled: list[ParkedAttempt] = field(default_factory=list)

    def write_record(self, record: Mapping[str, Any]) -> Settlement | None:
        number = record["dynamodb"]["SequenceNumber"]
        if number == self.failing:
            raise RuntimeError("DynamoDB is busy")
        self.written.append(number)
        return Settlement.KEPT

    def settle(self, parked: ParkedAttempt, *, waited: bool) -> Settlement:
        assert waited
        self.settled.append(parked)
        return Settlement.COMPENSATED


@pytest.fixture
def fake_writer(monkeypatch: pytest.MonkeyPatch) -> FakeWriter:
    writer = FakeWriter(failing="200")
    monkeypatch.setattr(handler, "container_writer", lambda: writer)
    return writer


def _stream_record(number: str) -> dict[str, Any]:
    return {
        "eventID": f"event-{number}",
        "eventName": "MODIFY",
        "eventSource": "aws:dynamodb",
        "dynamodb": {"SequenceNumber": number, "Keys": {"pk": {"S": "account#a"}, "sk": {"S": "balance"}}},
    }


def test_a_failed_stream_record_is_reported_and_the_others_written(fake_writer: FakeWriter) -> None:
    event = {"Records": [_stream_record("100"), _stream_record("200"), _stream_record("300")]}
    reply: Any = handler.handler(event, FakeLambdaContext())  # type: ignore[arg-type]
    assert reply == {"batchItemFailures": [{"itemIdentifier": "200"}]}
    assert fake_writer.written == ["100", "300"]


def test_queue_messages_are_settled_after_their_delay(fake_writer: FakeWriter) -> None:
    parked = ParkedAttempt("acct_1", 2, "rid-1", "at_1", 1)
    message = {
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": parked.to_json(),
        "eventSource": "aws:sqs",
        "attributes": {},
        "messageAttributes": {},
    }
    reply: Any = handler.handler({"Records": [message]}, FakeLambdaContext())  # type: ignore[arg-type]
    assert reply == {"batchItemFailures": []}
    assert fake_writer.settled == [parked]


def test_without_its_queue_the_writer_does_not_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EDGEMETER_LEDGER_RECHECK_QUEUE_URL, raising=False)
    handler.container_writer.cache_clear()
    with pytest.raises(RuntimeError, match="EDGEMETER_LEDGER_RECHECK_QUEUE_URL"):
        handler.container_writer()
