"""The local sinks: a webhook (retried by urllib3 on 5xx) and the pump thread writing the JSON-lines log."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from functions.account_events.events import AccountEvent, EventType
from functions.account_events.publishers import (
    WEBHOOK_EVENT_ID_HEADER,
    JsonLinesPublisher,
    PublishError,
    WebhookPublisher,
)
from functions.credits.settings import Settings
from local.dynamodb_local import DynamoDBLocal
from local.events import build_pump
from tests.integration.account_events.test_stream_events import set_status
from tests.integration.credits.conftest import Caller

EVENT = AccountEvent("evt_1", EventType.ACCOUNT_SUSPENDED, "acct_1", "2026-12-05T08:00:00Z", {"reason": "x"})


class WebhookReceiver(ThreadingHTTPServer):
    """Answers the first ``failures`` POSTs with ``failure_status``, then 204; keeps what it got."""

    def __init__(self, failures: int, failure_status: int = 503) -> None:
        self.failures = failures
        self.failure_status = failure_status
        self.received: list[tuple[str | None, dict[str, object]]] = []
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/edgemeter"


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.received.append((self.headers.get(WEBHOOK_EVENT_ID_HEADER), body))
        if self.server.failures > 0:
            self.server.failures -= 1
            self.send_response(self.server.failure_status)
        else:
            self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def _serve(receiver: WebhookReceiver) -> Iterator[WebhookReceiver]:
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()
        thread.join()


@pytest.fixture
def flaky_receiver() -> Iterator[WebhookReceiver]:
    yield from _serve(WebhookReceiver(failures=2))


@pytest.fixture
def refusing_receiver() -> Iterator[WebhookReceiver]:
    yield from _serve(WebhookReceiver(failures=99, failure_status=400))


def test_the_webhook_is_retried_until_it_accepts(flaky_receiver: WebhookReceiver) -> None:
    WebhookPublisher(flaky_receiver.url, attempts=4, backoff_seconds=0).publish([EVENT])
    assert len(flaky_receiver.received) == 3
    assert {event_id for event_id, _ in flaky_receiver.received} == {"evt_1"}
    assert flaky_receiver.received[-1][1] == EVENT.to_document()


def test_a_webhook_that_refuses_raises_without_retrying_a_4xx(refusing_receiver: WebhookReceiver) -> None:
    with pytest.raises(PublishError, match="400"):
        WebhookPublisher(refusing_receiver.url, attempts=4, backoff_seconds=0).publish([EVENT])
    assert len(refusing_receiver.received) == 1


@pytest.mark.dynamodb
def test_the_pump_thread_writes_the_log_and_stops(
    dynamodb_local: DynamoDBLocal,
    credits_settings: Settings,
    call: Caller,
    tmp_path: Path,
) -> None:
    log = JsonLinesPublisher(tmp_path / "events.jsonl")
    pump = build_pump(
        dynamodb_local.endpoint_url,
        [credits_settings.users_table, credits_settings.credits_table],
        log,
        poll_seconds=0.05,
    )
    pump.drain()
    with pump:
        account = call("POST", "/v1/accounts", {"name": "logged"})
        account_id = account.body["account_id"]
        set_status(call, account_id, "suspended", "chargeback")
    # Stopping drains: the suspension is in the log however fast the thread was stopped.
    documents = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert [(document["type"], document["account_id"]) for document in documents] == [
        ("account.suspended", account_id)
    ]
    assert not any(thread.name == "account-events" for thread in threading.enumerate())
