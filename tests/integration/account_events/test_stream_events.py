"""Events from DynamoDB Local's streams, produced by the real credits service (issue 16).

* 32 threads charge one account across a threshold: exactly one ``balance.low``; a grant that
  lifts the balance back above re-arms it: the next crossing gives exactly one more.
* Suspension, resumption and closing of an account, key issue and revoke each give their event.
* Reading the same records again (a redelivery) gives the same event ids.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from functions.account_events.events import AccountEvent, EventType
from functions.credits.schemas import AuthorizeRequest, GrantRequest
from functions.credits.service import CreditsService
from functions.credits.settings import Settings
from functions.shared.api_keys import hash_api_key
from tests.integration.account_events.conftest import PumpFactory
from tests.integration.credits.conftest import Caller

pytestmark = pytest.mark.dynamodb

THREADS = 32
CHARGES_PER_THREAD = 2


def set_alert_thresholds(call: Caller, account_id: str, thresholds: list[int]) -> None:
    reply = call("PUT", f"/v1/accounts/{account_id}/alerts", {"thresholds": thresholds})
    assert reply.status == 200, reply


def set_status(call: Caller, account_id: str, status: str, reason: str) -> None:
    reply = call("PATCH", f"/v1/accounts/{account_id}", {"status": status, "reason": reason})
    assert reply.status == 200, reply
    assert reply.body["status"] == status


def charge_from_threads(service: CreditsService, account_id: str, api_key: str, round_name: str) -> int:
    """``THREADS`` threads released together, each charging ``CHARGES_PER_THREAD`` downloads."""
    barrier = threading.Barrier(THREADS)
    digest = hash_api_key(api_key)

    def charge(thread: int) -> int:
        barrier.wait()
        allowed = 0
        for number in range(CHARGES_PER_THREAD):
            decision = service.authorize(
                AuthorizeRequest(
                    key_digest=digest,
                    request_id=f"{account_id}-{round_name}-{thread}-{number}",
                    method="GET",
                    path="/reports/a.csv",
                )
            )
            allowed += decision.decision == "allow"
        return allowed

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return sum(pool.map(charge, range(THREADS)))


def of_account(events: list[AccountEvent], account_id: str, event_type: EventType) -> list[AccountEvent]:
    return [event for event in events if event.account_id == account_id and event.type is event_type]


def test_32_threads_crossing_a_threshold_give_exactly_one_event_and_a_grant_re_arms_it(
    service: CreditsService,
    call: Caller,
    funded_key: Callable[[int], tuple[str, str]],
    stream_pump: PumpFactory,
) -> None:
    account_id, api_key = funded_key(120)
    set_alert_thresholds(call, account_id, [100, 10])
    pump, publisher = stream_pump()

    assert charge_from_threads(service, account_id, api_key, "first") == THREADS * CHARGES_PER_THREAD
    pump.drain()
    (low,) = of_account(publisher.events, account_id, EventType.BALANCE_LOW)
    assert low.detail == {"threshold": 100, "balance": 99, "previous_balance": 100}

    # 56 left; a grant back to 156 re-arms the 100 threshold, and 64 charges cross it once more.
    service.grant(account_id, GrantRequest(amount=100, reason="top-up", idempotency_key="top-up-1"))
    assert charge_from_threads(service, account_id, api_key, "second") == THREADS * CHARGES_PER_THREAD
    pump.drain()
    lows = of_account(publisher.events, account_id, EventType.BALANCE_LOW)
    assert [event.detail["threshold"] for event in lows] == [100, 100]
    assert lows[0].id != lows[1].id


def test_lifecycle_and_key_events(
    call: Caller,
    funded_key: Callable[[int], tuple[str, str]],
    stream_pump: PumpFactory,
) -> None:
    account_id, _ = funded_key(5)
    pump, publisher = stream_pump()
    scope = {"methods": ["GET", "HEAD"], "prefixes": ["/reports/"]}
    issued = call(
        "POST", f"/v1/accounts/{account_id}/keys", {"name": "reports", "scope": scope, "spend_limit": 50}
    )
    assert issued.status == 201, issued
    key_id = issued.body["key_id"]
    revoked = call("DELETE", f"/v1/accounts/{account_id}/keys/{key_id}")
    assert revoked.status == 200, revoked
    set_status(call, account_id, "suspended", "unpaid invoice")
    set_status(call, account_id, "active", "paid")
    set_status(call, account_id, "closed", "customer left")
    pump.drain()

    mine = [event for event in publisher.events if event.account_id == account_id]
    assert [event.type for event in mine] == [
        EventType.KEY_ISSUED,
        EventType.KEY_REVOKED,
        EventType.ACCOUNT_SUSPENDED,
        EventType.ACCOUNT_RESUMED,
        EventType.ACCOUNT_CLOSED,
    ]
    assert mine[0].detail["key_id"] == key_id
    assert mine[0].detail["name"] == "reports"
    assert mine[0].detail["scope"] == scope
    assert mine[0].detail["spend_limit"] == 50
    assert issued.body["api_key"] not in mine[0].to_json()
    assert hash_api_key(issued.body["api_key"]) not in mine[0].to_json()
    assert mine[2].detail["reason"] == "unpaid invoice"
    assert mine[2].detail["changed_by"]  # the caller's IAM principal, from the request context
    assert mine[4].detail["previous_status"] == "active"


def test_reading_the_same_records_again_gives_the_same_ids(
    call: Caller,
    credits_settings: Settings,
    funded_key: Callable[[int], tuple[str, str]],
    dynamodb_local: Any,
) -> None:
    from local.events import build_pump
    from tests.integration.account_events.conftest import RecordingPublisher

    account_id, _ = funded_key(0)
    set_status(call, account_id, "suspended", "fraud check")
    tables = [credits_settings.users_table, credits_settings.credits_table]
    first, again = RecordingPublisher(), RecordingPublisher()
    build_pump(dynamodb_local.endpoint_url, tables, first, start="TRIM_HORIZON").drain()
    build_pump(dynamodb_local.endpoint_url, tables, again, start="TRIM_HORIZON").drain()
    first_ids = [event.id for event in first.events if event.account_id == account_id]
    assert [event.type for event in first.events if event.account_id == account_id] == [
        EventType.KEY_ISSUED,  # funded_key issues a key
        EventType.ACCOUNT_SUSPENDED,
    ]
    assert first_ids == [event.id for event in again.events if event.account_id == account_id]
