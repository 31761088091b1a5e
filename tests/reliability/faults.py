"""Fault injection for the reliability suite: DynamoDB faults in-process, a slow credits API.

``dynamodb_faults`` hooks every DynamoDB client created inside its block (through
bench/dynamodb_clients.py, as bench/dynamodb_counting.py does) and answers chosen HTTP attempts
itself, before they reach DynamoDB Local:

- ``THROTTLE``: a 400 ``ThrottlingException`` (what DynamoDB says when a partition is hot); the
  request never reaches the table;
- ``LOST_REPLY``: the request is sent to DynamoDB Local for real, then the client is told it
  failed with a 500: the write happened but the caller cannot know (the ambiguous failure).

A ``FaultPolicy`` decides per attempt; counts of what was injected are kept for the report.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.client import BaseClient
from botocore.compat import HTTPHeaders

from bench.dynamodb_clients import hook_new_dynamodb_clients
from local.processes import LOOPBACK


class Fault(StrEnum):
    THROTTLE = "throttle"
    LOST_REPLY = "lost_reply"


# (operation, attempt number across the run) -> a fault, or None to let the attempt through.
FaultChooser = Callable[[str, int], Fault | None]


def no_faults(operation: str, attempt: int) -> Fault | None:
    return None


@dataclass
class FaultPolicy:
    choose: FaultChooser = no_faults
    attempts: int = 0
    injected: Counter[Fault] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def decide(self, operation: str) -> Fault | None:
        with self._lock:
            self.attempts += 1
            fault = self.choose(operation, self.attempts)
            if fault is not None:
                self.injected[fault] += 1
            return fault

    @property
    def total_injected(self) -> int:
        return sum(self.injected.values())


class _Body:
    """The raw-stream interface AWSResponse reads a body through."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _error_response(url: str, status: int, error_type: str, message: str) -> AWSResponse:
    body = (
        '{"__type":"com.amazonaws.dynamodb.v20120810#' + error_type + '","message":"' + message + '"}'
    ).encode()
    headers = HTTPHeaders.from_dict(
        {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected-fault"}
    )
    return AWSResponse(url, status, headers, _Body(body))


def _send_for_real(request: AWSPreparedRequest) -> None:
    """Deliver the request to DynamoDB Local and drop the reply (the write is done)."""
    raw_body = request.body
    if raw_body is None:
        body = b""
    elif isinstance(raw_body, bytes | bytearray):
        body = bytes(raw_body)
    elif isinstance(raw_body, str):
        body = raw_body.encode()
    else:
        read = raw_body.read()
        body = read.encode() if isinstance(read, str) else read
    delivery = urllib.request.Request(request.url, data=body, method=request.method)  # noqa: S310 - loopback
    for name, value in request.headers.items():
        delivery.add_header(name, value.decode() if isinstance(value, bytes) else value)
    try:
        with urllib.request.urlopen(delivery, timeout=10) as reply:  # noqa: S310 - loopback DynamoDB Local
            reply.read()
    except urllib.error.HTTPError as refused:
        refused.read()  # DynamoDB said no (e.g. a failed condition): the caller still hears a 500


@contextmanager
def dynamodb_faults(policy: FaultPolicy) -> Iterator[FaultPolicy]:
    """Every DynamoDB client created inside the block consults ``policy`` on each HTTP attempt."""

    def before_send(request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        fault = policy.decide(operation)
        if fault is Fault.THROTTLE:
            return _error_response(
                request.url,
                400,
                "ThrottlingException",
                "Rate of requests exceeds the allowed throughput (injected)",
            )
        if fault is Fault.LOST_REPLY:
            _send_for_real(request)
            return _error_response(request.url, 500, "InternalServerError", "reply lost (injected)")
        return None

    def attach(client: BaseClient) -> None:
        answer_some_attempts: Any = before_send  # botocore types handlers as returning None
        client.meta.events.register("before-send.dynamodb", answer_some_attempts)

    with hook_new_dynamodb_clients(attach):
        yield policy


class SlowCreditsApi:
    """An HTTP server on loopback that accepts requests and answers only after ``delay`` seconds
    (or when stopped): a credits API that is up but too slow."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.requests_received = 0
        self._release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.requests_received += 1
                length = int(self.headers.get("content-length", "0"))
                self.rfile.read(length)
                outer._release.wait(outer.delay)
                try:
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"decision":"allow"}')
                except OSError:
                    pass  # the edge gave up and closed the connection, as it should

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reports what matters."""

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def __enter__(self) -> SlowCreditsApi:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
