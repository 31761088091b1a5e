"""A charge never outlives the edge's time budget (DynamoDB Local).

The edge sends ``deadline_ms`` with every authorization and answers 503 when it passes.
If the service then charged, the viewer would pay for a refused request; so the service
refuses to charge near the deadline and refunds a charge that committed too late.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.credits.app import CreditsApi
from functions.credits.service import DEADLINE_SAFETY_MARGIN_MS, CreditsService, NoTelemetry
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.records import ChargeIntent, ChargeOutcome
from functions.shared.api_keys import hash_api_key
from tests.integration.credits.conftest import Caller
from tests.integration.credits.events import FakeLambdaContext, Reply, api_event, parse_reply
from tests.integration.credits.test_api import FundedKey

pytestmark = pytest.mark.dynamodb


class SteppedClock:
    """Wall clock under the test's control."""

    def __init__(self) -> None:
        self.current = datetime.now(UTC)

    def now(self) -> datetime:
        return self.current


class SlowCommitStore(DynamoDBCreditsStore):
    """The real store, but the clock jumps past the deadline while a charge commits."""

    def __init__(self, settings: Settings, clock: SteppedClock, jump: timedelta) -> None:
        super().__init__(settings)
        self._clock = clock
        self._jump = jump

    def charge(self, intent: ChargeIntent) -> ChargeOutcome:
        outcome = super().charge(intent)
        self._clock.current += self._jump
        return outcome


def _caller(settings: Settings, clock: SteppedClock, store: DynamoDBCreditsStore | None = None) -> Caller:
    """The real API over a service whose clock the test controls."""
    service = CreditsService(
        store or DynamoDBCreditsStore(settings), settings, telemetry=NoTelemetry(), clock=clock
    )
    api = CreditsApi(service, settings)

    def invoke(method: str, path: str, body: Any = None, **options: Any) -> Reply:
        return parse_reply(api.handle(api_event(method, path, body, **options), FakeLambdaContext()))  # type: ignore[arg-type]

    return invoke


def _authorize(call: Caller, api_key: str, request_id: str, deadline: datetime) -> Reply:
    return call(
        "POST",
        "/v1/authorize",
        {
            "key_digest": hash_api_key(api_key),
            "request_id": request_id,
            "method": "GET",
            "path": "/objects/a.bin",
            "deadline_ms": int(deadline.timestamp() * 1000),
        },
    )


def _ledger_amounts(call: Caller, account_id: str) -> list[tuple[str, int, str | None]]:
    page = call("GET", f"/v1/accounts/{account_id}/ledger")
    assert page.status == 200, page
    return [(entry["kind"], entry["amount"], entry.get("reason")) for entry in page.body["entries"]]


def test_a_deadline_already_passed_charges_nothing(
    call: Caller, funded_key: FundedKey, credits_settings: Settings
) -> None:
    account_id, api_key = funded_key(5)
    clock = SteppedClock()
    late = _caller(credits_settings, clock)

    reply = _authorize(late, api_key, "deadline-passed-1", clock.current - timedelta(milliseconds=1))

    assert reply.status == 503, reply
    assert reply.headers["retry-after"] == "1"
    assert reply.body["error"]["code"] == "service_unavailable"
    assert call("GET", f"/v1/accounts/{account_id}").body["balance"] == 5
    assert [kind for kind, _, _ in _ledger_amounts(call, account_id)] == ["grant"]


def test_within_the_safety_margin_nothing_is_charged(
    call: Caller, funded_key: FundedKey, credits_settings: Settings
) -> None:
    account_id, api_key = funded_key(5)
    clock = SteppedClock()
    late = _caller(credits_settings, clock)
    almost = clock.current + timedelta(milliseconds=DEADLINE_SAFETY_MARGIN_MS // 2)

    assert _authorize(late, api_key, "deadline-margin-1", almost).status == 503
    assert call("GET", f"/v1/accounts/{account_id}").body["balance"] == 5


def test_a_charge_that_commits_after_the_deadline_is_refunded_at_once(
    call: Caller, funded_key: FundedKey, credits_settings: Settings
) -> None:
    account_id, api_key = funded_key(5)
    clock = SteppedClock()
    store = SlowCommitStore(credits_settings, clock, jump=timedelta(seconds=2))
    slow = _caller(credits_settings, clock, store)

    reply = _authorize(slow, api_key, "deadline-late-commit-1", clock.current + timedelta(seconds=1))

    assert reply.status == 503, reply
    assert call("GET", f"/v1/accounts/{account_id}").body["balance"] == 5
    ledger = _ledger_amounts(call, account_id)
    movements = sorted((kind, amount) for kind, amount, _ in ledger)
    assert movements == [("charge", -1), ("grant", 5), ("refund", 1)]
    assert ("refund", 1, "deadline_exceeded") in ledger
    assert sum(amount for _, amount, _ in ledger) == 5
    # The refused request can never be served later under the same id.
    retry = _authorize(call, api_key, "deadline-late-commit-1", datetime.now(UTC) + timedelta(seconds=5))
    assert retry.status == 409, retry
    assert call("GET", f"/v1/accounts/{account_id}").body["balance"] == 5


def test_a_deadline_in_time_charges_normally(call: Caller, funded_key: FundedKey) -> None:
    account_id, api_key = funded_key(5)

    reply = _authorize(call, api_key, "deadline-in-time-1", datetime.now(UTC) + timedelta(seconds=10))

    assert reply.status == 200, reply
    assert reply.body["decision"] == "allow"
    assert call("GET", f"/v1/accounts/{account_id}").body["balance"] == 4
