"""The API over the in-memory store: the store's failures become the right replies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from functions.credits.app import CreditsApi
from functions.credits.settings import Settings
from functions.credits.store.errors import CreditsStoreError
from functions.credits.store.memory import InMemoryCreditsStore
from tests.integration.credits.events import FakeLambdaContext, Reply, api_event, parse_reply
from tests.unit.credits.service_fakes import Harness

Caller = Callable[..., Reply]


@pytest.fixture
def harness() -> Harness:
    return Harness()


@pytest.fixture
def call(harness: Harness) -> Caller:
    api = CreditsApi(harness.service(), Settings())

    def invoke(method: str, path: str, body: Any = None, **options: Any) -> Reply:
        return parse_reply(api.handle(api_event(method, path, body, **options), FakeLambdaContext()))  # type: ignore[arg-type]

    return invoke


def test_a_busy_store_is_a_503_with_retry_after(harness: Harness, call: Caller) -> None:
    account = call("POST", "/v1/accounts", {"name": "busy"})
    assert account.status == 201
    harness.store.unavailable = True
    reply = call("GET", f"/v1/accounts/{account.body['account_id']}")
    assert reply.status == 503
    assert reply.error_code == "service_unavailable"
    assert reply.headers["retry-after"] == "1"


def test_a_failing_store_is_a_bare_500(
    harness: Harness, call: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: InMemoryCreditsStore, account_id: str) -> None:
        raise CreditsStoreError("DynamoDB call failed (ValidationException)")

    monkeypatch.setattr(InMemoryCreditsStore, "get_account", broken)
    reply = call("GET", "/v1/accounts/acct_00000000000000000000")
    assert reply.status == 500
    assert reply.body == {"error": {"code": "internal_error", "message": "internal error"}}


def test_a_range_too_long_for_the_contract_is_a_422(harness: Harness, call: Caller) -> None:
    body = {
        "key_digest": "a" * 64,
        "request_id": "r",
        "method": "GET",
        "path": "/a",
        "range": "bytes=" + "1" * 1100,
    }
    reply = call("POST", "/v1/authorize", body)
    assert reply.status == 422
    assert reply.error_code == "validation_error"
