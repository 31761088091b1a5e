"""No API key and no key digest appears in any log line of a full flow through the real handler."""

from __future__ import annotations

import importlib
import io
import logging
import re
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.telemetry import logger as telemetry_logger
from functions.shared.api_keys import hash_api_key
from tests.integration.credits.events import FakeLambdaContext, Reply, api_event, parse_reply

pytestmark = pytest.mark.dynamodb

HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@pytest.fixture
def handler(
    credits_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ModuleType, io.StringIO]]:
    """The real Lambda handler module for this module's tables, logging at DEBUG into a buffer.

    The buffer's handler carries the service logger's own (redacting) formatter, so it holds
    exactly the lines CloudWatch would get.
    """
    environment = {
        "EDGEMETER_USERS_TABLE": credits_settings.users_table,
        "EDGEMETER_CREDITS_TABLE": credits_settings.credits_table,
        "EDGEMETER_DYNAMODB_ENDPOINT": str(credits_settings.dynamodb_endpoint),
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    from functions.credits import handler as module

    module = importlib.reload(module)
    previous = telemetry_logger.log_level
    telemetry_logger.setLevel(logging.DEBUG)
    buffer = io.StringIO()
    copy = logging.StreamHandler(buffer)
    copy.setFormatter(telemetry_logger.registered_formatter)
    service_logger = logging.getLogger(telemetry_logger.name)
    service_logger.addHandler(copy)
    yield module, buffer
    service_logger.removeHandler(copy)
    telemetry_logger.setLevel(previous)


def test_a_full_flow_logs_no_key_and_no_digest(
    handler: tuple[ModuleType, io.StringIO],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module, service_log = handler
    service_logger_name = logging.getLogger(telemetry_logger.name).name
    # Every other logger, at whatever level it lets through with the root at DEBUG.
    caplog.set_level(logging.DEBUG)

    def call(method: str, path: str, body: Any = None, **options: Any) -> Reply:
        event = api_event(method, path, body, **options)
        return parse_reply(module.lambda_handler(event, FakeLambdaContext()))

    account_id = call("POST", "/v1/accounts", {"name": "logs"}).body["account_id"]
    call("POST", f"/v1/accounts/{account_id}/grants", {"amount": 3, "reason": "r", "idempotency_key": "g1"})
    issued = call(
        "POST", f"/v1/accounts/{account_id}/keys", {"rate_limit": {"per_second": 100, "burst": 100}}
    )
    api_key, key_id = issued.body["api_key"], issued.body["key_id"]
    digest = hash_api_key(api_key)
    charge = {"key_digest": digest, "request_id": "log-1", "method": "GET", "path": "/f"}
    assert call("POST", "/v1/authorize", charge).body["decision"] == "allow"
    assert call("POST", "/v1/authorize", charge).body["replayed"] is True
    assert call("POST", "/v1/refunds", {"request_id": "log-1"}).status == 200
    for n in range(4):
        call("POST", "/v1/authorize", charge | {"request_id": f"log-more-{n}"})
    assert call("POST", "/v1/authorize", charge | {"path": "no-slash"}).status == 422
    call("GET", f"/v1/accounts/{account_id}/ledger")
    call("GET", f"/v1/accounts/{account_id}/keys")
    call("DELETE", f"/v1/accounts/{account_id}/keys/{key_id}")
    assert call("POST", "/v1/authorize", charge | {"request_id": "log-2"}).body["reason"] == "revoked_api_key"

    # An unexpected failure whose message carries the digest is logged, redacted, as a bare 500.
    def explode(self: DynamoDBCreditsStore, key_digest: str) -> None:
        raise RuntimeError(f"lookup of {key_digest} failed for {api_key}")

    monkeypatch.setattr(DynamoDBCreditsStore, "get_key_by_digest", explode)
    failed = call("POST", "/v1/authorize", charge | {"request_id": "log-3"})
    assert failed.status == 500
    assert failed.body == {"error": {"code": "internal_error", "message": "internal error"}}

    plain = logging.Formatter("%(name)s %(message)s")
    lines = service_log.getvalue().splitlines()
    # The service logger's records reach CloudWatch only through its own handler (read above);
    # pytest hangs its capture handlers on it too, unformatted, which no deployment has.
    lines += [plain.format(record) for record in caplog.records if record.name != service_logger_name]
    assert any('"message":"authorization"' in line for line in lines)  # the flow was logged at all
    assert any("unhandled error" in line and "[REDACTED]" in line for line in lines)
    for line in lines:
        assert api_key not in line
        assert digest not in line
        assert api_key[3:] not in line
        assert not HEX64.search(line), line
