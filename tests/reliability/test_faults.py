"""Faults on the money path: the edge never allows silently, and no credit is lost or doubled.

Each test drives the real edge handlers and the real credits code on DynamoDB Local, injects
one kind of fault, then audits the credits table (ops.audit) and prints what happened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from bench.inprocess import HandlerTransport
from functions.credits.data.models import LedgerEntryItem, account_pk
from functions.credits.data.tables import create_tables
from functions.edge_auth import origin_response, runtime, viewer_request
from functions.edge_auth.credits_client import CreditsUnavailableError, TransportResponse
from functions.shared.api_keys import generate_api_key
from local.dynamodb_local import DynamoDBLocal
from local.processes import free_port
from ops.audit import run_audit
from tests.reliability.conftest import (
    CreditsUnderTest,
    configure_edge,
    in_process_credits,
    reliability_settings,
)
from tests.reliability.faults import Fault, SlowCreditsApi
from tests.reliability.reporting import report_line
from tests.unit.edge_auth.events import (
    new_request_id,
    origin_response_event,
    response_header,
    viewer_request_event,
)

pytestmark = pytest.mark.dynamodb


def get_with_key(api_key: str, request_id: str | None = None, uri: str = "/objects/a.bin") -> dict[str, Any]:
    return viewer_request.handler(
        viewer_request_event(
            "GET", uri, headers={"x-api-key": api_key}, request_id=request_id or new_request_id()
        )
    )


def is_forwarded(result: dict[str, Any]) -> bool:
    """The viewer-request handler returns the request to forward, or a generated response."""
    return "status" not in result


def charged_request_ids(account_id: str) -> set[str]:
    entries = LedgerEntryItem.query(
        account_pk(account_id), LedgerEntryItem.sk.startswith("ledger#"), consistent_read=True
    )
    return {entry.request_id for entry in entries if entry.kind == "charge"}


def report(name: str, **counts: object) -> None:
    report_line(f"[reliability] {name}: " + ", ".join(f"{key}={value}" for key, value in counts.items()))


# --- the credits API down or slow ----------------------------------------------------------


def test_credits_api_down_answers_503_with_retry_after() -> None:
    configure_edge(f"http://127.0.0.1:{free_port()}", authorize_budget_ms=500)  # nothing listens there
    try:
        results = [get_with_key(generate_api_key()) for _ in range(5)]
    finally:
        runtime.reset_runtime()

    assert [result["status"] for result in results] == ["503"] * 5
    assert {response_header(result, "retry-after") for result in results} == {"5"}
    report("credits API down", requests=5, answered_503=5)


def test_slow_credits_api_answers_503_before_the_api_would_have() -> None:
    api_delay_seconds = 20.0
    with SlowCreditsApi(delay=api_delay_seconds) as slow_api:
        configure_edge(slow_api.url, authorize_budget_ms=300)
        try:
            began = time.monotonic()
            result = get_with_key(generate_api_key())
            waited = time.monotonic() - began
        finally:
            runtime.reset_runtime()

    # The authorization, then one void (refund) of whatever it may have charged.
    assert slow_api.requests_received == 2
    assert result["status"] == "503"
    assert response_header(result, "retry-after") is not None
    # Not a speed test: the budget is 0.3 s, the API would have answered after 20 s.
    assert waited < api_delay_seconds / 2
    report("credits API slow", requests=1, answered_503=1, waited_seconds=round(waited, 2))


@dataclass
class ReplyTooLateTransport:
    """Authorizations reach the credits API and commit, but the reply comes after the edge's
    budget (a cold start or a DynamoDB latency spike): the edge sees a timeout."""

    inner: HandlerTransport

    def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, deadline: float
    ) -> TransportResponse:
        reply = self.inner.send(method, path, headers, body, deadline)
        if path.endswith("/v1/authorize"):
            raise CreditsUnavailableError("timeout")
        return reply


def test_charge_whose_reply_came_too_late_is_refunded(system: CreditsUnderTest) -> None:
    account_id, api_key = system.credits.funded_key("late-replies", 10)
    configure_edge("https://credits.invalid/prod", ReplyTooLateTransport(system.transport))

    results = [get_with_key(api_key) for _ in range(3)]

    assert [result["status"] for result in results] == ["503"] * 3
    audit = run_audit(system.settings)
    assert audit.ok, audit.mismatches
    # The viewer was refused three times: the account must not have paid for it.
    assert system.credits.balance(account_id) == 10


# --- DynamoDB throttling -------------------------------------------------------------------


def test_throttling_is_retried_and_every_charge_has_its_ledger_entry(system: CreditsUnderTest) -> None:
    account_id, api_key = system.credits.funded_key("throttled", 100)
    # Every third DynamoDB attempt is throttled: retries must carry each request through.
    system.faults.choose = lambda operation, attempt: Fault.THROTTLE if attempt % 3 == 0 else None

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: get_with_key(api_key), range(40)))
    system.faults.choose = lambda operation, attempt: None

    allowed = [result for result in results if is_forwarded(result)]
    unavailable = [result for result in results if not is_forwarded(result)]
    audit = run_audit(system.settings)
    assert system.faults.injected[Fault.THROTTLE] > 0
    assert all(result["status"] == "503" for result in unavailable)
    assert audit.ok, audit.mismatches
    # Every allowed request paid once; anything charged but not allowed was refunded.
    assert audit.charges - audit.refunds == len(allowed)
    assert system.credits.balance(account_id) == 100 - len(allowed)
    report(
        "DynamoDB throttled 1 in 3",
        requests=len(results),
        faults_injected=system.faults.total_injected,
        allowed=len(allowed),
        answered_503=len(unavailable),
        refunds=audit.refunds,
        audit_mismatches=len(audit.mismatches),
    )


def test_persistent_throttling_answers_503_and_charges_nothing(system: CreditsUnderTest) -> None:
    account_id, api_key = system.credits.funded_key("always-throttled", 100)
    system.faults.choose = lambda operation, attempt: Fault.THROTTLE

    results = [get_with_key(api_key) for _ in range(3)]
    system.faults.choose = lambda operation, attempt: None

    audit = run_audit(system.settings)
    assert [result["status"] for result in results] == ["503"] * 3
    assert all(response_header(result, "retry-after") for result in results)
    # Backoff retried each DynamoDB call before giving up: more attempts than requests.
    assert system.faults.injected[Fault.THROTTLE] > len(results)
    assert audit.ok, audit.mismatches
    assert audit.charges == 0
    assert system.credits.balance(account_id) == 100
    report(
        "DynamoDB always throttled",
        requests=len(results),
        faults_injected=system.faults.total_injected,
        answered_503=len(results),
        charges=audit.charges,
    )


def test_lost_reply_of_a_committed_charge_is_not_charged_twice(system: CreditsUnderTest) -> None:
    account_id, api_key = system.credits.funded_key("lost-replies", 100)
    transactions = 0

    def lose_first_charge_reply(operation: str, attempt: int) -> Fault | None:
        # The first attempt of each charge commits but its reply is lost; the retry goes through.
        nonlocal transactions
        if operation != "TransactWriteItems":
            return None
        transactions += 1
        return Fault.LOST_REPLY if transactions % 2 == 1 and transactions < 10 else None

    system.faults.choose = lose_first_charge_reply
    results = [get_with_key(api_key) for _ in range(5)]
    system.faults.choose = lambda operation, attempt: None

    audit = run_audit(system.settings)
    allowed = [result for result in results if is_forwarded(result)]
    assert system.faults.injected[Fault.LOST_REPLY] == 5
    assert audit.ok, audit.mismatches
    # Whatever the edge answered, each request was charged at most once and the books agree.
    assert audit.charges - audit.refunds == len(allowed)
    assert system.credits.balance(account_id) == 100 - len(allowed)
    report(
        "DynamoDB reply lost after commit",
        requests=len(results),
        faults_injected=system.faults.total_injected,
        allowed=len(allowed),
        charges=audit.charges,
        audit_mismatches=len(audit.mismatches),
    )


# --- origin 5xx storm ----------------------------------------------------------------------


def test_origin_5xx_storm_is_refunded_once_per_charge(system: CreditsUnderTest) -> None:
    account_id, api_key = system.credits.funded_key("storm", 200)
    requests = 60

    def download_failing_at_origin(index: int) -> tuple[bool, int]:
        request_id = new_request_id()
        forwarded = get_with_key(api_key, request_id, uri=f"/objects/{index}.bin")
        if not is_forwarded(forwarded):
            return False, 0
        status = 500 + index % 4  # 500, 501, 502, 503
        event = origin_response_event(forwarded, status, request_id=request_id)
        answered = origin_response.handler(event)
        # CloudFront may run origin-response again for the same request: still one refund.
        origin_response.handler(origin_response_event(forwarded, status, request_id=request_id))
        return True, int(answered["status"])

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(download_failing_at_origin, range(requests)))

    audit = run_audit(system.settings)
    forwarded_count = sum(1 for forwarded, _ in outcomes if forwarded)
    assert forwarded_count > requests // 2
    assert {status for forwarded, status in outcomes if forwarded} <= {500, 501, 502, 503}
    assert audit.ok, audit.mismatches
    # Every charge was refunded (a request the edge did not forward may not be charged at all).
    assert audit.charges >= forwarded_count
    assert audit.refunds == audit.charges
    assert system.credits.balance(account_id) == 200
    report(
        "origin 5xx storm",
        requests=requests,
        faults_injected=forwarded_count,
        charges=audit.charges,
        refunds=audit.refunds,
    )


# --- DynamoDB Local stopped and restarted mid-load --------------------------------------------


def test_dynamodb_stopped_mid_load_loses_no_acknowledged_charge(tmp_path: Any, fault_policy: Any) -> None:
    database = DynamoDBLocal(data_dir=tmp_path / "dynamodb", log_path=tmp_path / "dynamodb.log").start()
    try:
        settings = reliability_settings(
            database.endpoint_url, dynamodb_connect_timeout_seconds=0.5, dynamodb_read_timeout_seconds=2.0
        )
        create_tables(settings)
        credits = in_process_credits(settings)
        account_id, api_key = credits.funded_key("killed", 1000)
        configure_edge("https://credits.invalid/prod", HandlerTransport(credits))
        acknowledged: list[str] = []
        acknowledged_after_restart = 0
        refused = 0
        lock = threading.Lock()
        restarted = threading.Event()

        def client(worker: int) -> None:
            # Bounded: until the restarted database has served 15 charges, at most 150 requests.
            nonlocal refused, acknowledged_after_restart
            for _ in range(150):
                if acknowledged_after_restart >= 15:
                    return
                result = get_with_key(api_key)
                with lock:
                    if is_forwarded(result):
                        acknowledged.append(result["headers"]["x-edgemeter-request-id"][0]["value"])
                        acknowledged_after_restart += restarted.is_set()
                    else:
                        refused += 1
                        time.sleep(0.05)  # a client backing off while the database is down

        with ThreadPoolExecutor(max_workers=3) as pool:
            load = [pool.submit(client, worker) for worker in range(3)]
            while len(acknowledged) < 20 and not all(future.done() for future in load):
                time.sleep(0.01)
            # Stopped and restarted from this (long-lived) thread: a DynamoDB Local started from a
            # worker thread receives SIGTERM when that thread ends. SIGTERM, not SIGKILL: under
            # SIGKILL DynamoDB Local itself loses the transaction it acknowledged last (shown with
            # plain boto3 and no edgemeter code; docs/decisions.md), which real DynamoDB never does,
            # so a SIGKILL would test the emulator. Clients still see connections refused mid-load.
            database.stop()
            database.start()  # same port, same data directory
            restarted.set()
            for future in load:
                future.result()
    finally:
        runtime.reset_runtime()

    try:
        audit = run_audit(settings)
        balance = credits.balance(account_id)
        charged = charged_request_ids(account_id)
    finally:
        database.stop()
    assert acknowledged_after_restart >= 15  # the service came back by itself
    assert audit.ok, audit.mismatches
    # Every charge the edge acted on survived the crash; refused requests may or may not have
    # been charged (the crash can hit after the commit), but never twice and never off the books.
    assert set(acknowledged) <= charged
    assert balance == 1000 - audit.charges + audit.refunds
    report(
        "DynamoDB Local stopped (SIGTERM) and restarted mid-load",
        requests=len(acknowledged) + refused,
        faults_injected=1,
        acknowledged=len(acknowledged),
        refused=refused,
        charges=audit.charges,
        refunds=audit.refunds,
    )


def test_charge_whose_follow_up_read_fails_is_still_served(system: CreditsUnderTest) -> None:
    """The charge commits, then the read that follows it (the key snapshot the service caches)
    is throttled past every retry."""
    account_id, api_key = system.credits.funded_key("follow-up-read-fails", 10)
    charged = False

    def throttle_reads_after_the_charge(operation: str, attempt: int) -> Fault | None:
        nonlocal charged
        if operation == "TransactWriteItems":
            charged = True
            return None
        return Fault.THROTTLE if charged and operation in {"GetItem", "TransactGetItems"} else None

    system.faults.choose = throttle_reads_after_the_charge
    result = get_with_key(api_key)
    system.faults.choose = lambda operation, attempt: None

    audit = run_audit(system.settings)
    assert audit.ok, audit.mismatches
    charged_credits = 10 - system.credits.balance(account_id)
    report(
        "read after the charge throttled",
        requests=1,
        faults_injected=system.faults.total_injected,
        edge_status=result.get("status", "forwarded"),
        charged=charged_credits,
    )
    assert system.faults.total_injected > 0
    # Served and charged, or refused and not charged: never refused but charged.
    assert is_forwarded(result) == (charged_credits == 1)
