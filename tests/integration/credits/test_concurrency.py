"""Money safety under concurrency, against DynamoDB Local (moto loses updates here).

* 32 threads charge one account that holds exactly N credits: exactly N charges succeed,
  the balance ends at 0, the ledger sums to the balance change, nothing errs. Repeated.
* The same through the real Lambda handler in 8 processes, as separate Lambda containers run
  it (8, not 32: DynamoDB Local on two cores answers 32 processes in tens of seconds).
* One request id sent 10 times at once is charged once, and every reply is the same outcome.
* One refund sent 10 times at once refunds once.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import pytest

from functions.credits.data.models import LEDGER_SK_PREFIX, BalanceItem, LedgerEntryItem, account_pk
from functions.credits.schemas import AuthorizeRequest, Decision, RefundRequest
from functions.credits.service import CreditsService
from functions.credits.settings import Settings
from functions.shared.api_keys import hash_api_key
from tests.integration.credits.conftest import Caller
from tests.integration.credits.events import FakeLambdaContext, api_event, parse_reply

pytestmark = pytest.mark.dynamodb

THREADS = 32
CONTAINERS = 8


def ledger_entries(account_id: str) -> list[LedgerEntryItem]:
    return list(
        LedgerEntryItem.query(
            account_pk(account_id), LedgerEntryItem.sk.startswith(LEDGER_SK_PREFIX), consistent_read=True
        )
    )


def balance_of(account_id: str) -> int:
    return int(BalanceItem.get(account_pk(account_id), "balance", consistent_read=True).balance)


def run_together(workers: int, task: Callable[[int], Any]) -> list[Any]:
    """Run ``task(0..workers-1)`` on ``workers`` threads released at the same instant."""
    barrier = threading.Barrier(workers)

    def start(index: int) -> Any:
        barrier.wait()
        return task(index)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(start, range(workers)))


@pytest.mark.parametrize(("credits", "requests_per_thread"), [(50, 4), (97, 4), (31, 2), (63, 2)])
def test_32_threads_charge_exactly_the_credits_there_are(
    service: CreditsService,
    funded_key: Callable[..., tuple[str, str]],
    credits: int,
    requests_per_thread: int,
) -> None:
    account_id, api_key = funded_key(credits)
    digest = hash_api_key(api_key)

    def charge_repeatedly(thread: int) -> list[Decision]:
        return [
            service.authorize(
                AuthorizeRequest(
                    key_digest=digest, request_id=f"{account_id}-{thread}-{n}", method="GET", path="/obj"
                )
            )
            for n in range(requests_per_thread)
        ]

    decisions = [d for per_thread in run_together(THREADS, charge_repeatedly) for d in per_thread]
    assert len(decisions) == THREADS * requests_per_thread > credits
    allowed = [d for d in decisions if d.decision == "allow"]
    denied = [d for d in decisions if d.decision == "deny"]
    assert len(allowed) == credits
    assert {d.reason for d in denied} == {"insufficient_credits"}
    assert all(d.balance == 0 for d in denied[-1:])
    assert len({d.entry_id for d in allowed}) == credits
    assert balance_of(account_id) == 0
    entries = ledger_entries(account_id)
    charges = [e for e in entries if e.kind == "charge"]
    assert len(charges) == credits
    assert sum(int(e.amount) for e in charges) == -credits  # the ledger's change equals the balance's
    assert sum(int(e.amount) for e in entries) == balance_of(account_id)


def _container_init(environment: dict[str, str]) -> None:
    """A fresh Lambda container: its own configuration, connections and module state."""
    os.environ.update(environment)
    from functions.credits import handler

    importlib.reload(handler)


def _invoke_in_container(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    from functions.credits.handler import lambda_handler

    reply = parse_reply(lambda_handler(api_event("POST", "/v1/authorize", body), FakeLambdaContext()))
    return reply.status, reply.body


def test_lambda_containers_through_the_real_handler(
    credits_settings: Settings, funded_key: Callable[..., tuple[str, str]]
) -> None:
    credits = 13
    account_id, api_key = funded_key(credits)
    environment = {
        "EDGEMETER_USERS_TABLE": credits_settings.users_table,
        "EDGEMETER_CREDITS_TABLE": credits_settings.credits_table,
        "EDGEMETER_DYNAMODB_ENDPOINT": str(credits_settings.dynamodb_endpoint),
        "AWS_REGION": credits_settings.region,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "edgemeter-test",
    }
    bodies = [
        {
            "key_digest": hash_api_key(api_key),
            "request_id": f"{account_id}-container-{n}",
            "method": "GET",
            "path": "/obj",
        }
        for n in range(CONTAINERS * 4)
    ]
    with ProcessPoolExecutor(
        max_workers=CONTAINERS,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_container_init,
        initargs=(environment,),
    ) as containers:
        replies = list(containers.map(_invoke_in_container, bodies))
    statuses = {status for status, _ in replies}
    assert statuses == {200}, replies
    allowed = [body for _, body in replies if body["decision"] == "allow"]
    assert len(allowed) == credits
    assert {body["reason"] for _, body in replies if body["decision"] == "deny"} == {"insufficient_credits"}
    assert balance_of(account_id) == 0
    assert sum(int(e.amount) for e in ledger_entries(account_id)) == 0


def test_one_request_id_sent_10_times_at_once_is_charged_once(
    call: Caller, service: CreditsService, funded_key: Callable[..., tuple[str, str]]
) -> None:
    account_id, api_key = funded_key(5)
    request = AuthorizeRequest(
        key_digest=hash_api_key(api_key), request_id="same-request", method="PUT", path="/u", bytes=1
    )
    decisions = run_together(10, lambda _: service.authorize(request))
    assert {d.decision for d in decisions} == {"allow"}
    outcomes = {(d.account_id, d.charged, d.entry_id, d.price) for d in decisions}
    assert len(outcomes) == 1, outcomes  # every reply carries the same outcome
    assert sum(not d.replayed for d in decisions) == 1
    assert balance_of(account_id) == 5 - 2
    assert [e.request_id for e in ledger_entries(account_id) if e.kind == "charge"] == ["same-request"]

    # A later retry through the API is the same outcome again.
    again = call("POST", "/v1/authorize", request.model_dump())
    assert again.body["entry_id"] == decisions[0].entry_id
    assert again.body["replayed"] is True


def test_one_request_id_at_once_when_the_account_can_pay_only_once(
    service: CreditsService, funded_key: Callable[..., tuple[str, str]]
) -> None:
    account_id, api_key = funded_key(1)
    request = AuthorizeRequest(
        key_digest=hash_api_key(api_key), request_id="only-once", method="GET", path="/o"
    )
    decisions = run_together(10, lambda _: service.authorize(request))
    # The request id wins over the empty balance: every retry sees the one charge.
    assert {(d.decision, d.entry_id) for d in decisions} == {("allow", decisions[0].entry_id)}
    assert balance_of(account_id) == 0


def test_one_refund_sent_10_times_at_once_refunds_once(
    service: CreditsService, funded_key: Callable[..., tuple[str, str]]
) -> None:
    account_id, api_key = funded_key(10)
    service.authorize(
        AuthorizeRequest(
            key_digest=hash_api_key(api_key), request_id="refund-me", method="PUT", path="/u", bytes=1
        )
    )
    refunds = run_together(10, lambda _: service.refund(RefundRequest(request_id="refund-me")))
    assert len({r.entry_id for r in refunds}) == 1
    assert sum(not r.replayed for r in refunds) == 1
    assert balance_of(account_id) == 10
    assert sum(int(e.amount) for e in ledger_entries(account_id)) == 10
