"""What a charged download leaves behind besides DynamoDB units: log bytes and stored item bytes.

Counted where they can be, stated where they cannot:

- *credits Lambda logs*: the bytes the deployed handler (``functions.credits.handler.lambda_handler``:
  Powertools' logger and its EMF metrics document, flushed per invocation) writes to stdout for one
  authorization, counted at the file descriptor; plus Lambda's own platform records per
  invocation in JSON log format (``platform.start``, ``platform.report``), estimated at
  ``CREDITS_PLATFORM_LOG_BYTES``;
- *Lambda@Edge logs*: the edge's own log lines for one allowed request (logger ``edgemeter.edge``),
  counted, each with the Python runtime's text prefix (level, timestamp, request id); plus the
  START/END/REPORT lines of a text-format function, estimated at ``EDGE_PLATFORM_LOG_BYTES``;
- *API Gateway access logs*: one line of the stage's format (stacks/constructs/credits_api.py:
  JSON with the standard fields) filled with values of the edge's call, measured;
- *stored items*: the items the charge transaction puts (captured from the request botocore sent),
  sized by DynamoDB's rules plus its 100 bytes of per-item overhead, kept for the first year: a
  ledger entry never expires (12 months), a charge record for its 90-day TTL (3 months).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench.cost import DYNAMODB_ITEM_STORAGE_OVERHEAD_BYTES
from bench.dynamodb_counting import count_dynamodb
from bench.edge_bench import configure_bench_edge, viewer_request_event
from bench.inprocess import HandlerTransport, InProcessCredits
from bench.scale_harness import scale_credits, scoped_environment
from functions.credits import handler as credits_handler
from functions.edge_auth import runtime, viewer_request
from local.cdn.events import new_request_id
from local.dynamodb_capacity.item_size import item_size

# Estimated: Lambda's platform records per invocation (JSON log format: platform.start ~130 bytes,
# platform.report with its metrics and X-Ray segment ~340 bytes).
CREDITS_PLATFORM_LOG_BYTES = 470
# Estimated: START (~60 bytes), END (~52) and REPORT (~150) lines of a text-format function.
EDGE_PLATFORM_LOG_BYTES = 262
# ``[INFO]\t2026-12-05T08:00:00.000Z\t<36-character request id>\t``: the runtime's prefix per line.
PYTHON_RUNTIME_LINE_PREFIX_BYTES = 70
# First-year retention of what a charge stores, months (docs/decisions.md, "Data model").
RETENTION_MONTHS = {"ledger#": 12.0, "charge": 3.0}
LEDGER_KIND = "ledger#"


@dataclass(frozen=True, slots=True)
class OperatingBytes:
    credits_stdout_bytes_per_invocation: float
    credits_log_bytes: float  # with the platform records
    edge_log_lines_bytes_per_request: float
    edge_log_bytes: float  # with the platform lines
    access_log_bytes: float
    stored_items: dict[str, float]  # item kind -> bytes stored (with overhead) per charge
    stored_byte_months: float


def access_log_line_bytes() -> int:
    """One access-log line as the stage writes it for the edge's authorize call."""
    line = {
        "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "ip": "3.120.181.44",
        "caller": "AROAEXAMPLEROLEID123:us-east-1.edgemeter-viewer-request",
        "user": "AROAEXAMPLEROLEID123:us-east-1.edgemeter-viewer-request",
        "requestTime": "05/Dec/2026:08:00:00 +0000",
        "httpMethod": "POST",
        "resourcePath": "/v1/{proxy+}",
        "status": "200",
        "protocol": "HTTP/1.1",
        "responseLength": "96",
    }
    return len(json.dumps(line, separators=(",", ":")).encode()) + 1


@contextmanager
def _stdout_counted() -> Iterator[list[int]]:
    """Bytes written to file descriptor 1 inside the block (appended to the yielded list at the end)."""
    counted: list[int] = []
    saved = os.dup(1)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield counted
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            counted.append(os.fstat(sink.fileno()).st_size)


class _LineBytes(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.bytes = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.bytes += len(record.getMessage().encode()) + PYTHON_RUNTIME_LINE_PREFIX_BYTES + 1


def _stored_items(operations: list[tuple[str, dict[str, Any]]]) -> dict[str, float]:
    """Bytes per item kind the charge transactions put, per charge."""
    stored: dict[str, float] = {}
    charges = 0
    for operation, params in operations:
        if operation != "TransactWriteItems":
            continue
        charges += 1
        for entry in params.get("TransactItems", []):
            item = entry.get("Put", {}).get("Item")
            if item:
                sort_key = str(item.get("sk", {}).get("S", ""))
                kind = LEDGER_KIND if sort_key.startswith(LEDGER_KIND) else sort_key
                stored[kind] = stored.get(kind, 0.0) + item_size(item) + DYNAMODB_ITEM_STORAGE_OVERHEAD_BYTES
    return {kind: size / max(charges, 1) for kind, size in stored.items()}


def measure_operating_bytes(dynamodb_endpoint: str, requests: int) -> OperatingBytes:
    """``requests`` allowed downloads through the deployed credits handler, then through the edge."""
    sent: list[tuple[str, dict[str, Any]]] = []
    with count_dynamodb() as counter, scale_credits(dynamodb_endpoint) as credits:
        counter.request_observers.append(lambda operation, params: sent.append((operation, params)))
        ((_, api_key),) = credits.funded_keys(1, requests * 3 + 10, "operating")
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        deployed = InProcessCredits(credits_handler.lambda_handler)
        with scoped_environment(credits.environment):
            credits_handler.container_api.cache_clear()
            try:
                deployed.call("POST", "/v1/authorize", _payload(digest))  # the container's first use
                sent.clear()
                with _stdout_counted() as written:
                    for _ in range(requests):
                        deployed.call("POST", "/v1/authorize", _payload(digest))
                edge_lines = _edge_log_bytes(deployed, api_key, requests)
            finally:
                credits_handler.container_api.cache_clear()
    stored = _stored_items(sent)
    stdout_bytes = written[0] / requests
    return OperatingBytes(
        credits_stdout_bytes_per_invocation=stdout_bytes,
        credits_log_bytes=stdout_bytes + CREDITS_PLATFORM_LOG_BYTES,
        edge_log_lines_bytes_per_request=edge_lines,
        edge_log_bytes=edge_lines + EDGE_PLATFORM_LOG_BYTES,
        access_log_bytes=access_log_line_bytes(),
        stored_items=stored,
        stored_byte_months=sum(size * RETENTION_MONTHS.get(kind, 12.0) for kind, size in stored.items()),
    )


def _payload(key_digest: str) -> dict[str, Any]:
    return {"key_digest": key_digest, "request_id": new_request_id(), "method": "GET", "path": "/data/a.bin"}


def _edge_log_bytes(deployed: InProcessCredits, api_key: str, requests: int) -> float:
    """The edge's own log bytes per allowed request (its credits calls answered by ``deployed``)."""
    configure_bench_edge(HandlerTransport(deployed))
    edge_logger = logging.getLogger("edgemeter.edge")
    counter = _LineBytes()
    level_before = edge_logger.level
    edge_logger.addHandler(counter)
    edge_logger.setLevel(logging.INFO)
    try:
        with _stdout_counted():
            for _ in range(requests):
                viewer_request.handler(viewer_request_event(api_key, new_request_id()))
    finally:
        edge_logger.removeHandler(counter)
        edge_logger.setLevel(level_before)
        runtime.reset_runtime()
    return counter.bytes / requests
