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
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from functions.account_events.events import AccountEvent, EventType
from functions.credits.data.models import ACCOUNT_PROFILE_SK, BALANCE_SK, account_pk
from functions.credits.schemas import AuthorizeRequest, GrantRequest
from functions.credits.service import CreditsService
from functions.credits.settings import Settings
from functions.shared.api_keys import hash_api_key
from local.dynamodb_local import LOCAL_CREDENTIALS, LOCAL_REGION
from tests.integration.account_events.conftest import PumpFactory
from tests.integration.credits.conftest import Caller

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

pytestmark = pytest.mark.dynamodb

THREADS = 32
CHARGES_PER_THREAD = 2


def _table(settings: Settings, name: str) -> Table:
    resource = boto3.resource(
        "dynamodb",
        endpoint_url=settings.dynamodb_endpoint,
        region_name=LOCAL_REGION,
        aws_access_key_id=LOCAL_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=LOCAL_CREDENTIALS["aws_secret_access_key"],
    )
    return resource.Table(name)


def set_alert_thresholds(settings: Settings, account_id: str, thresholds: list[int]) -> None:
    """What PUT /v1/accounts/{id}/alerts stores: ``alert_thresholds`` on the balance item."""
    _table(settings, settings.credits_table).update_item(
        Key={"pk": account_pk(account_id), "sk": BALANCE_SK},
        UpdateExpression="SET alert_thresholds = :thresholds",
        ExpressionAttributeValues={":thresholds": thresholds},
    )


def set_status(settings: Settings, account_id: str, status: str, reason: str) -> None:
    """What PATCH /v1/accounts/{id} stores on the account item (CONTRIBUTING.md, "Events")."""
    _table(settings, settings.users_table).update_item(
        Key={"pk": account_pk(account_id), "sk": ACCOUNT_PROFILE_SK},
        UpdateExpression="SET #status = :status, status_reason = :reason, "
        "status_changed_by = :by, status_changed_at = :at",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":status": status,
            ":reason": reason,
            ":by": "arn:aws:iam::123456789012:user/billing",
            ":at": "2026-12-05T08:00:00Z",
        },
    )


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
    credits_settings: Settings,
    funded_key: Callable[[int], tuple[str, str]],
    stream_pump: PumpFactory,
) -> None:
    account_id, api_key = funded_key(120)
    set_alert_thresholds(credits_settings, account_id, [100, 10])
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
    credits_settings: Settings,
    funded_key: Callable[[int], tuple[str, str]],
    stream_pump: PumpFactory,
) -> None:
    account_id, _ = funded_key(5)
    pump, publisher = stream_pump()
    issued = call("POST", f"/v1/accounts/{account_id}/keys", {"name": "reports"})
    assert issued.status == 201, issued
    key_id = issued.body["key_id"]
    revoked = call("DELETE", f"/v1/accounts/{account_id}/keys/{key_id}")
    assert revoked.status == 200, revoked
    set_status(credits_settings, account_id, "suspended", "unpaid invoice")
    set_status(credits_settings, account_id, "active", "paid")
    set_status(credits_settings, account_id, "closed", "customer left")
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
    assert issued.body["api_key"] not in mine[0].to_json()
    assert hash_api_key(issued.body["api_key"]) not in mine[0].to_json()
    assert mine[2].detail["reason"] == "unpaid invoice"
    assert mine[4].detail["previous_status"] == "active"


def test_reading_the_same_records_again_gives_the_same_ids(
    credits_settings: Settings,
    funded_key: Callable[[int], tuple[str, str]],
    dynamodb_local: Any,
) -> None:
    from local.events import build_pump
    from tests.integration.account_events.conftest import RecordingPublisher

    account_id, _ = funded_key(0)
    set_status(credits_settings, account_id, "suspended", "fraud check")
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
