"""EventBridge and JSON-lines publishers, and the consumer's partial batch replies (no network)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import process_partial_response

from functions.account_events.events import EVENT_SOURCE, AccountEvent, EventType
from functions.account_events.handler import RecordPublisher, processor
from functions.account_events.publishers import (
    EventBridgePublisher,
    JsonLinesPublisher,
    PublishError,
)
from tests.unit.account_events.stream_records import balance_update


def _events(count: int) -> list[AccountEvent]:
    return [
        AccountEvent(f"evt_{number}", EventType.BALANCE_LOW, "acct_1", "2026-12-05T08:00:00Z", {"n": number})
        for number in range(count)
    ]


class FakeEventBridge:
    """Records PutEvents calls; refuses the entries whose event id is listed, ``refusals`` times each."""

    def __init__(self, refuse: dict[str, int] | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self._refusals = dict(refuse or {})

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        results: list[dict[str, Any]] = []
        for entry in Entries:
            event_id = json.loads(entry["Detail"])["id"]
            if self._refusals.get(event_id, 0) > 0:
                self._refusals[event_id] -= 1
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            else:
                results.append({"EventId": f"eb-{event_id}"})
        return {"FailedEntryCount": sum("ErrorCode" in result for result in results), "Entries": results}


def test_eventbridge_batches_of_at_most_ten_with_source_and_detail_type() -> None:
    bus = FakeEventBridge()
    EventBridgePublisher(bus, "edgemeter-events").publish(_events(23))  # type: ignore[arg-type]
    assert [len(call) for call in bus.calls] == [10, 10, 3]
    entry = bus.calls[0][0]
    assert entry["Source"] == EVENT_SOURCE
    assert entry["DetailType"] == "balance.low"
    assert entry["EventBusName"] == "edgemeter-events"
    assert json.loads(entry["Detail"])["id"] == "evt_0"


def test_eventbridge_resends_only_the_refused_entries() -> None:
    bus = FakeEventBridge(refuse={"evt_1": 1})
    EventBridgePublisher(bus, "bus").publish(_events(3))  # type: ignore[arg-type]
    assert [[json.loads(entry["Detail"])["id"] for entry in call] for call in bus.calls] == [
        ["evt_0", "evt_1", "evt_2"],
        ["evt_1"],
    ]


def test_eventbridge_raises_when_an_entry_keeps_being_refused() -> None:
    bus = FakeEventBridge(refuse={"evt_2": 99})
    with pytest.raises(PublishError, match="evt_2: InternalFailure"):
        EventBridgePublisher(bus, "bus", entry_attempts=3).publish(_events(3))  # type: ignore[arg-type]
    assert len(bus.calls) == 3


def test_json_lines_appends_one_document_per_line(tmp_path: Path) -> None:
    log = JsonLinesPublisher(tmp_path / "nested" / "events.jsonl")
    log.publish(_events(2))
    log.publish(_events(1))
    lines = log.path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["evt_0", "evt_1", "evt_0"]


def test_json_lines_unwritable_path_raises_publish_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PublishError):
        JsonLinesPublisher(blocker / "events.jsonl").publish(_events(1))


class FlakyPublisher:
    """Fails while ``failing`` is set; remembers what it delivered."""

    def __init__(self) -> None:
        self.failing = True
        self.delivered: list[AccountEvent] = []

    def publish(self, events: Sequence[AccountEvent]) -> None:
        if self.failing:
            raise PublishError("bus down")
        self.delivered.extend(events)


def test_a_record_whose_events_were_not_published_is_a_batch_item_failure() -> None:
    quiet = balance_update("acct_1", 500, 400, [100])  # no event: nothing to publish, succeeds
    crossing = balance_update("acct_1", 101, 99, [100])
    publisher = FlakyPublisher()
    reply = process_partial_response(
        event={"Records": [quiet, crossing]}, record_handler=RecordPublisher(publisher), processor=processor
    )
    assert reply["batchItemFailures"] == [{"itemIdentifier": crossing["dynamodb"]["SequenceNumber"]}]
    publisher.failing = False
    redelivered = process_partial_response(
        event={"Records": [crossing]}, record_handler=RecordPublisher(publisher), processor=processor
    )
    assert redelivered["batchItemFailures"] == []
    assert [event.type for event in publisher.delivered] == [EventType.BALANCE_LOW]
