"""The per-container key cache: fewer round trips, revocation still immediate everywhere.

Two ``CreditsService`` instances on the same tables stand for two Lambda containers: what one
caches, the other can revoke. Against DynamoDB Local (conditions and transactions are the point).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.dynamodb_counting import DynamoDBCounter, count_dynamodb
from functions.credits.data.models import BALANCE_SK, BalanceItem, ChargeRecordItem, account_pk, request_pk
from functions.credits.schemas import AuthorizeRequest
from functions.credits.service import CreditsService, NoTelemetry
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.shared.api_keys import hash_api_key
from tests.integration.credits.conftest import Caller
from tests.integration.credits.test_api import FrozenClock, ledger_sum, stored_balance

FundedKey = Callable[..., tuple[str, str]]


def container(settings: Settings) -> CreditsService:
    """Another Lambda container: its own store, connections and key cache."""
    return CreditsService(DynamoDBCreditsStore(settings), settings, telemetry=NoTelemetry())


@pytest.fixture
def counter() -> Iterator[DynamoDBCounter]:
    """Counts the DynamoDB calls of clients created during the test (containers made in it)."""
    with count_dynamodb() as counting:
        yield counting


def operations(counter: DynamoDBCounter) -> dict[str, int]:
    return counter.snapshot().operations


def authorize_on(service: CreditsService, api_key: str, request_id: str, **fields: Any) -> dict[str, Any]:
    request = AuthorizeRequest(
        key_digest=hash_api_key(api_key), request_id=request_id, method="GET", path="/file.bin", **fields
    )
    return service.authorize(request).model_dump(mode="json")


def key_id_of(call: Caller, account_id: str) -> str:
    return str(call("GET", f"/v1/accounts/{account_id}/keys").body["keys"][0]["key_id"])


def test_a_revocation_in_one_container_stops_charges_in_another_at_once(
    call: Caller, funded_key: FundedKey, credits_settings: Settings
) -> None:
    account_id, api_key = funded_key(10)
    edge_facing = container(credits_settings)
    assert authorize_on(edge_facing, api_key, "first")["decision"] == "allow"
    assert authorize_on(edge_facing, api_key, "second")["decision"] == "allow"  # from the cache

    # Billing staff revoke the key through the API: a different container.
    assert call("DELETE", f"/v1/accounts/{account_id}/keys/{key_id_of(call, account_id)}").status == 200

    denied = authorize_on(edge_facing, api_key, "after-revoke")
    assert denied["decision"] == "deny"
    assert denied["reason"] == "revoked_api_key"
    assert denied["charged"] == 0
    assert ChargeRecordItem.count(request_pk("after-revoke")) == 0
    assert stored_balance(account_id) == ledger_sum(account_id) == 8


def test_revoking_another_key_of_the_account_charges_the_cached_key_once(
    call: Caller, funded_key: FundedKey, credits_settings: Settings, counter: DynamoDBCounter
) -> None:
    account_id, kept_key = funded_key(10)
    other = call("POST", f"/v1/accounts/{account_id}/keys", {"name": "other"})
    assert other.status == 201
    edge_facing = container(credits_settings)
    assert authorize_on(edge_facing, kept_key, "warm")["decision"] == "allow"

    assert call("DELETE", f"/v1/accounts/{account_id}/keys/{other.body['key_id']}").status == 200

    # The cached count is stale: the charge is refused by its condition, the key read again,
    # and the request charged exactly once.
    allowed = authorize_on(edge_facing, kept_key, "after-other-revoked")
    assert allowed["decision"] == "allow"
    assert allowed["charged"] == 1
    assert stored_balance(account_id) == ledger_sum(account_id) == 8
    # ... and cached again with the new count: the next charge is a single transaction.
    counter.reset()
    assert authorize_on(edge_facing, kept_key, "cached-again")["decision"] == "allow"
    assert operations(counter) == {"TransactWriteItems": 1}


def test_a_stale_count_rereads_the_key_only_and_takes_no_second_rate_limit_slot(
    call: Caller, funded_key: FundedKey, credits_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of 2 fits exactly: the warm request and the one that finds the count stale."""
    account_id, limited_key = funded_key(10, rate_limit={"per_second": 1, "burst": 2})
    other = call("POST", f"/v1/accounts/{account_id}/keys", {"name": "other"})
    edge_facing = container(credits_settings)
    monkeypatch.setattr(edge_facing, "_clock", FrozenClock(datetime.now(UTC)))
    assert authorize_on(edge_facing, limited_key, "slot-1")["decision"] == "allow"

    assert call("DELETE", f"/v1/accounts/{account_id}/keys/{other.body['key_id']}").status == 200

    assert authorize_on(edge_facing, limited_key, "slot-2")["decision"] == "allow"
    third = authorize_on(edge_facing, limited_key, "slot-3")
    assert third["reason"] == "rate_limited"
    assert stored_balance(account_id) == ledger_sum(account_id) == 8


def test_a_cached_key_costs_one_transaction_and_a_first_use_three_requests(
    funded_key: FundedKey, credits_settings: Settings, counter: DynamoDBCounter
) -> None:
    _, api_key = funded_key(5)
    edge_facing = container(credits_settings)
    counter.reset()
    assert authorize_on(edge_facing, api_key, "cold")["decision"] == "allow"
    # Key read, the charge, then one atomic snapshot of key and revocation count for the cache.
    assert operations(counter) == {"GetItem": 1, "TransactWriteItems": 1, "TransactGetItems": 1}
    counter.reset()
    for index in range(3):
        assert authorize_on(edge_facing, api_key, f"warm-{index}")["decision"] == "allow"
    assert operations(counter) == {"TransactWriteItems": 3}


def test_an_expired_cached_key_is_denied_from_the_cache(
    funded_key: FundedKey,
    credits_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    counter: DynamoDBCounter,
) -> None:
    expires = datetime.now(UTC) + timedelta(hours=1)
    account_id, api_key = funded_key(3, expires_at=expires.isoformat())
    edge_facing = container(credits_settings)
    assert authorize_on(edge_facing, api_key, "before-expiry")["decision"] == "allow"

    class Later:
        def now(self) -> datetime:
            return expires + timedelta(seconds=1)

    monkeypatch.setattr(edge_facing, "_clock", Later())
    counter.reset()
    expired = authorize_on(edge_facing, api_key, "after-expiry")
    assert expired["reason"] == "expired_api_key"
    # A denial on a cached key still looks for an earlier outcome of its request id: one read.
    assert operations(counter) == {"GetItem": 1}
    assert stored_balance(account_id) == ledger_sum(account_id) == 2


def test_accounts_created_before_the_revocation_count_still_revoke_at_once(
    call: Caller, funded_key: FundedKey, credits_settings: Settings
) -> None:
    account_id, api_key = funded_key(10)
    # An account from before the count existed: its balance item has no such attribute.
    BalanceItem(account_pk(account_id), BALANCE_SK).update(actions=[BalanceItem.key_revocations.remove()])
    edge_facing = container(credits_settings)
    assert authorize_on(edge_facing, api_key, "legacy-first")["decision"] == "allow"
    assert authorize_on(edge_facing, api_key, "legacy-cached")["decision"] == "allow"

    assert call("DELETE", f"/v1/accounts/{account_id}/keys/{key_id_of(call, account_id)}").status == 200

    assert authorize_on(edge_facing, api_key, "legacy-after-revoke")["reason"] == "revoked_api_key"
    assert stored_balance(account_id) == ledger_sum(account_id) == 8


def test_charges_racing_a_revocation_never_outlive_it(
    call: Caller, funded_key: FundedKey, credits_settings: Settings
) -> None:
    """Eight threads on four containers charge one key while billing staff revoke it.

    Whatever interleaving happens, once the revocation has returned no container charges the
    key again, every allow is exactly one charge in the ledger, and the balance is the ledger's sum.
    """
    account_id, api_key = funded_key(10_000)
    containers = [container(credits_settings) for _ in range(4)]
    for index, edge_facing in enumerate(containers):
        assert authorize_on(edge_facing, api_key, f"race-warm-{index}")["decision"] == "allow"
    revoked = threading.Event()
    allows_after_revocation: list[str] = []
    allows: list[str] = []
    lock = threading.Lock()

    def charge_until_denied(thread: int) -> None:
        edge_facing = containers[thread % len(containers)]
        for attempt in range(400):
            request_id = f"race-{thread}-{attempt}"
            revocation_returned = revoked.is_set()
            decision = authorize_on(edge_facing, api_key, request_id)
            if decision["decision"] == "deny":
                assert decision["reason"] == "revoked_api_key"
                return
            with lock:
                allows.append(request_id)
                if revocation_returned:
                    allows_after_revocation.append(request_id)

    threads = [threading.Thread(target=charge_until_denied, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    key_id = key_id_of(call, account_id)
    assert call("DELETE", f"/v1/accounts/{account_id}/keys/{key_id}").status == 200
    revoked.set()
    for thread in threads:
        thread.join()

    assert allows_after_revocation == []
    assert stored_balance(account_id) == ledger_sum(account_id) == 10_000 - len(containers) - len(allows)
    for edge_facing in containers:
        assert authorize_on(edge_facing, api_key, f"late-{id(edge_facing)}")["reason"] == "revoked_api_key"


def test_the_cache_can_be_turned_off(
    funded_key: FundedKey, credits_settings: Settings, counter: DynamoDBCounter
) -> None:
    _, api_key = funded_key(5)
    uncached = container(credits_settings.model_copy(update={"key_cache_ttl_seconds": 0}))
    counter.reset()
    for index in range(2):
        assert authorize_on(uncached, api_key, f"uncached-{index}")["decision"] == "allow"
    assert operations(counter) == {"GetItem": 2, "TransactWriteItems": 2}


def test_the_api_container_serves_authorize_from_its_cache(
    counter: DynamoDBCounter, call: Caller, funded_key: FundedKey
) -> None:
    """Through the resolver (``counter`` first, so the API's own clients are counted)."""
    account_id, api_key = funded_key(4)
    digest = hash_api_key(api_key)
    for request_id in ("api-1", "api-2"):
        counter.reset()
        reply = call(
            "POST",
            "/v1/authorize",
            {"key_digest": digest, "request_id": request_id, "method": "GET", "path": "/a"},
        )
        assert reply.status == 200
        assert reply.body["decision"] == "allow"
        assert reply.body["balance"] is None
    assert operations(counter) == {"TransactWriteItems": 1}
    assert stored_balance(account_id) == ledger_sum(account_id) == 2
