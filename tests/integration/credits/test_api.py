"""The credits API end to end against DynamoDB Local: every route, its happy path and its rules."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.credits.data.models import (
    LEDGER_SK_PREFIX,
    BalanceItem,
    LedgerEntryItem,
    UsersTableModel,
    account_pk,
)
from functions.credits.service import CreditsService
from functions.shared.api_keys import hash_api_key, looks_like_api_key
from tests.integration.credits.conftest import Caller
from tests.integration.credits.events import assert_error_shape

pytestmark = pytest.mark.dynamodb

FundedKey = Callable[..., tuple[str, str]]


def authorize(call: Caller, api_key: str, request_id: str, **fields: Any) -> dict[str, Any]:
    body = {"key_digest": hash_api_key(api_key), "request_id": request_id, "method": "GET", "path": "/a.txt"}
    reply = call("POST", "/v1/authorize", body | fields)
    assert reply.status == 200, reply
    return dict(reply.body)


def ledger_sum(account_id: str) -> int:
    entries = LedgerEntryItem.query(
        account_pk(account_id), LedgerEntryItem.sk.startswith(LEDGER_SK_PREFIX), consistent_read=True
    )
    return sum(int(entry.amount) for entry in entries)


def stored_balance(account_id: str) -> int:
    return int(BalanceItem.get(account_pk(account_id), "balance", consistent_read=True).balance)


def test_account_lifecycle_and_contract_fields(call: Caller) -> None:
    created = call("POST", "/v1/accounts", {"name": "Acme Ltd"})
    assert created.status == 201
    assert set(created.body) >= {"account_id", "name", "balance", "status"}
    assert created.body["balance"] == 0
    assert created.body["status"] == "active"
    account_id = created.body["account_id"]

    read = call("GET", f"/v1/accounts/{account_id}")
    assert read.status == 200
    assert read.body == created.body

    missing = call("GET", "/v1/accounts/acct_00000000000000000000")
    assert missing.status == 404
    assert missing.error_code == "not_found"
    assert_error_shape(missing)


def test_key_is_shown_once_stored_as_digest_and_revocation_is_immediate(
    call: Caller, funded_key: FundedKey
) -> None:
    account_id, api_key = funded_key(10)
    assert looks_like_api_key(api_key)
    keys = call("GET", f"/v1/accounts/{account_id}/keys")
    assert keys.status == 200
    assert len(keys.body["keys"]) == 1
    listed = keys.body["keys"][0]
    assert "api_key" not in listed
    assert api_key not in str(keys.body)

    # Nothing stored anywhere holds the key itself: only its digest.
    stored = [item.attribute_values for item in UsersTableModel.scan()]
    assert api_key not in str(stored)
    assert hashlib.sha256(api_key.encode()).hexdigest() in str(stored)

    assert authorize(call, api_key, "before-revoke")["decision"] == "allow"
    revoked = call("DELETE", f"/v1/accounts/{account_id}/keys/{listed['key_id']}")
    assert revoked.status == 200
    assert revoked.body["status"] == "revoked"
    assert revoked.body["revoked_at"]
    denied = authorize(call, api_key, "after-revoke")
    assert denied["decision"] == "deny"
    assert denied["reason"] == "revoked_api_key"
    assert denied["account_id"] == account_id
    assert denied["charged"] == 0

    # Revoking again is harmless; an unknown key id is a 404.
    assert call("DELETE", f"/v1/accounts/{account_id}/keys/{listed['key_id']}").status == 200
    assert call("DELETE", f"/v1/accounts/{account_id}/keys/key_0000000000000000").status == 404
    assert stored_balance(account_id) == ledger_sum(account_id) == 9


def test_a_retried_request_after_revocation_still_gets_its_first_outcome(
    call: Caller, funded_key: FundedKey
) -> None:
    account_id, api_key = funded_key(5)
    first = authorize(call, api_key, "charged-then-revoked")
    key_id = call("GET", f"/v1/accounts/{account_id}/keys").body["keys"][0]["key_id"]
    call("DELETE", f"/v1/accounts/{account_id}/keys/{key_id}")
    retry = authorize(call, api_key, "charged-then-revoked")
    assert retry["decision"] == "allow"
    assert retry["replayed"] is True
    assert retry["entry_id"] == first["entry_id"]
    assert stored_balance(account_id) == 4


def test_unknown_and_expired_keys_are_denied_without_charge(
    call: Caller, funded_key: FundedKey, service: CreditsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    unknown = authorize(call, "em_" + "x" * 43, "unknown-key")
    assert unknown == unknown | {"decision": "deny", "reason": "invalid_api_key", "charged": 0}

    expires = datetime.now(UTC) + timedelta(hours=1)
    account_id, api_key = funded_key(3, expires_at=expires.isoformat())
    assert authorize(call, api_key, "before-expiry")["decision"] == "allow"

    class LaterClock:
        def now(self) -> datetime:
            return expires + timedelta(seconds=1)

    monkeypatch.setattr(service, "_clock", LaterClock())
    expired = authorize(call, api_key, "after-expiry")
    assert expired["decision"] == "deny"
    assert expired["reason"] == "expired_api_key"
    assert stored_balance(account_id) == 2

    past = call("POST", f"/v1/accounts/{account_id}/keys", {"expires_at": "2001-01-01T00:00:00Z"})
    assert past.status == 422
    assert past.error_code == "validation_error"


def test_insufficient_credits_names_balance_and_price(call: Caller, funded_key: FundedKey) -> None:
    account_id, api_key = funded_key(2)
    upload = authorize(call, api_key, "big-upload", method="PUT", path="/up.bin", bytes=5 * 1024 * 1024 + 1)
    # 1 credit + 1 per started MiB: 1 + 6.
    assert upload["decision"] == "deny"
    assert upload["reason"] == "insufficient_credits"
    assert upload["price"] == 7
    assert upload["balance"] == 2
    assert upload["charged"] == 0
    small = authorize(call, api_key, "small-upload", method="PUT", path="/up.bin", bytes=1)
    assert small["decision"] == "allow"
    assert small["charged"] == 2
    assert small["balance"] is None  # an allow reads no balance (docs/decisions.md)
    assert stored_balance(account_id) == ledger_sum(account_id) == 0


class FrozenClock:
    """The service's wall clock, moved only by the test (rate limits are about time)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def test_rate_limited_key_gets_retry_after_and_unlimited_keys_write_no_bucket(
    call: Caller, funded_key: FundedKey, service: CreditsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, limited = funded_key(100, rate_limit={"per_second": 1, "burst": 3})
    # Frozen: on a loaded machine five calls can span a second and refill a slot.
    monkeypatch.setattr(service, "_clock", FrozenClock(datetime.now(UTC)))
    decisions = [authorize(call, limited, f"rl-{n}") for n in range(5)]
    assert [d["decision"] for d in decisions[:3]] == ["allow"] * 3
    assert all(d["reason"] == "rate_limited" and d["retry_after"] >= 1 for d in decisions[3:])

    _, unlimited = funded_key(100)
    unlimited_digest = hash_api_key(unlimited)
    for n in range(5):
        assert authorize(call, unlimited, f"free-{n}")["decision"] == "allow"
    bucket_items = [item.pk for item in UsersTableModel.scan() if item.pk.startswith("ratelimit#")]
    assert len(bucket_items) == 1, bucket_items  # only the limited key has one
    assert unlimited_digest not in str(bucket_items)


def test_refund_once_and_unknown_refund_is_404(call: Caller, funded_key: FundedKey) -> None:
    account_id, api_key = funded_key(10)
    charge = authorize(call, api_key, "to-refund", method="PUT", path="/x", bytes=3 * 1024 * 1024)
    assert charge["charged"] == 4
    first = call("POST", "/v1/refunds", {"request_id": "to-refund", "reason": "origin_5xx"})
    second = call("POST", "/v1/refunds", {"request_id": "to-refund", "reason": "origin_5xx"})
    assert first.status == second.status == 200
    assert first.body["refunded"] == 4
    assert first.body["replayed"] is False
    assert second.body["replayed"] is True
    assert second.body["entry_id"] == first.body["entry_id"]
    assert stored_balance(account_id) == ledger_sum(account_id) == 10

    unknown = call("POST", "/v1/refunds", {"request_id": "never-charged"})
    assert unknown.status == 404
    assert unknown.error_code == "not_found"
    assert_error_shape(unknown)
    denied = authorize(call, "em_" + "y" * 43, "denied-request")
    assert denied["decision"] == "deny"
    assert call("POST", "/v1/refunds", {"request_id": "denied-request"}).status == 404


def test_grants_are_idempotent_and_bounded(call: Caller) -> None:
    account_id = call("POST", "/v1/accounts", {"name": "g"}).body["account_id"]
    grant = {"amount": 25, "reason": "welcome", "idempotency_key": "welcome-1"}
    first = call("POST", f"/v1/accounts/{account_id}/grants", grant)
    again = call("POST", f"/v1/accounts/{account_id}/grants", grant)
    assert first.status == 201
    assert again.status == 200
    assert again.body["replayed"] is True
    assert again.body["entry_id"] == first.body["entry_id"]
    assert call("GET", f"/v1/accounts/{account_id}").body["balance"] == 25

    changed = call("POST", f"/v1/accounts/{account_id}/grants", grant | {"amount": 26})
    assert changed.status == 409
    assert changed.error_code == "conflict"
    # Near the balance limit (set directly: a thousand maximal grants would only be slow).
    BalanceItem(account_pk(account_id), "balance").update(
        actions=[BalanceItem.balance.set(10**15 - 10**12 + 1)]
    )
    huge = {"amount": 10**12, "reason": "x", "idempotency_key": "huge"}
    over = call("POST", f"/v1/accounts/{account_id}/grants", huge)
    assert over.status == 409
    assert over.error_code == "conflict"
    assert stored_balance(account_id) == 10**15 - 10**12 + 1
    exact = call("POST", f"/v1/accounts/{account_id}/grants", huge | {"amount": 10**12 - 1})
    assert exact.status == 201
    assert exact.body["balance"] == 10**15

    nobody = call("POST", "/v1/accounts/acct_11111111111111111111/grants", grant)
    assert nobody.status == 404


def test_ledger_is_paged_newest_first_and_filtered_by_time(call: Caller, funded_key: FundedKey) -> None:
    account_id, api_key = funded_key(20)
    for n in range(7):
        authorize(call, api_key, f"ledger-{n}")
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        page = call("GET", f"/v1/accounts/{account_id}/ledger", query=query)
        assert page.status == 200, page
        seen += page.body["entries"]
        cursor = page.body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 8  # the funding grant and seven charges
    times = [entry["created_at"] for entry in seen]
    assert times == sorted(times, reverse=True)
    assert seen[-1]["kind"] == "grant"
    assert seen[0]["request_id"] == "ledger-6"
    assert {"entry_id", "request_id", "kind", "amount", "method", "path", "bytes", "created_at"} <= set(
        seen[0]
    )
    assert seen[0]["amount"] == -1
    assert seen[0]["method"] == "GET"

    middle = seen[3]["created_at"]
    newer = call("GET", f"/v1/accounts/{account_id}/ledger", query={"from": middle, "limit": "100"})
    assert [entry["created_at"] for entry in newer.body["entries"]] == times[:4]
    older = call("GET", f"/v1/accounts/{account_id}/ledger", query={"to": middle, "limit": "100"})
    assert [entry["created_at"] for entry in older.body["entries"]] == times[4:]

    foreign = call("GET", "/v1/accounts/acct_22222222222222222222/ledger")
    assert foreign.status == 404
    other_account = call("POST", "/v1/accounts", {"name": "other"}).body["account_id"]
    page = call("GET", f"/v1/accounts/{account_id}/ledger", query={"limit": "1"})
    stolen = call("GET", f"/v1/accounts/{other_account}/ledger", query={"cursor": page.body["next_cursor"]})
    assert stolen.status == 422
    assert stolen.error_code == "validation_error"


def test_usage_per_period(call: Caller, funded_key: FundedKey) -> None:
    account_id, api_key = funded_key(100)
    start = datetime.now(UTC)
    authorize(call, api_key, "u-1")
    authorize(call, api_key, "u-2", method="HEAD")
    authorize(call, api_key, "u-3", method="PUT", path="/up", bytes=2 * 1024 * 1024)
    authorize(call, api_key, "u-4", method="DELETE", path="/up")
    call("POST", "/v1/refunds", {"request_id": "u-3"})
    end = datetime.now(UTC) + timedelta(seconds=1)
    usage = call(
        "GET", f"/v1/accounts/{account_id}/usage", query={"from": start.isoformat(), "to": end.isoformat()}
    )
    assert usage.status == 200, usage
    body = usage.body
    assert (body["downloads"], body["uploads"], body["other_requests"]) == (2, 1, 1)
    assert body["bytes"] == 2 * 1024 * 1024
    assert body["credits_spent"] == 1 + 1 + 3 + 1
    assert (body["refunds"], body["credits_refunded"]) == (1, 3)
    assert body["grants"] == 0  # the funding grant came before `from`
    default_period = call("GET", f"/v1/accounts/{account_id}/usage")
    assert default_period.status == 200
    assert default_period.body["grants"] == 1

    backwards = call(
        "GET", f"/v1/accounts/{account_id}/usage", query={"from": end.isoformat(), "to": start.isoformat()}
    )
    assert backwards.status == 422
    naive = call("GET", f"/v1/accounts/{account_id}/usage", query={"from": "2026-01-01T00:00:00"})
    assert naive.status == 422


def test_prices_follow_configuration(call: Caller, funded_key: FundedKey, service: CreditsService) -> None:
    from functions.credits.settings import PricingConfig

    pricing = PricingConfig.model_validate(
        {
            "prefixes": [
                {"prefix": "/free/", "methods": {"GET": {"base": 0}}},
                {"prefix": "/premium/", "methods": {"GET": {"base": 5}}},
                {"prefix": "/premium/gold/", "methods": {"GET": {"base": 9}}},
            ]
        }
    )
    service._pricing = pricing
    account_id, api_key = funded_key(100)
    assert authorize(call, api_key, "p-free", path="/free/x")["charged"] == 0
    assert authorize(call, api_key, "p-prem", path="/premium/x")["charged"] == 5
    assert authorize(call, api_key, "p-gold", path="/premium/gold/x")["charged"] == 9
    assert authorize(call, api_key, "p-head", method="HEAD", path="/premium/x")["charged"] == 1
    assert stored_balance(account_id) == ledger_sum(account_id) == 100 - 14 - 1


def test_dynamodb_throttling_is_a_503_with_retry_after(
    call: Caller, funded_key: FundedKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pynamodb.exceptions import GetError, VerboseClientError

    from functions.credits.data.models import KeyByDigestItem

    account_id, api_key = funded_key(5)

    def throttled(*args: Any, **kwargs: Any) -> None:
        cause = VerboseClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "GetItem",
            {},
        )
        raise GetError("Failed to get item", cause)

    # Below the store: its translation of DynamoDB's throttling is what is tested.
    monkeypatch.setattr(KeyByDigestItem, "get", throttled)
    reply = call(
        "POST",
        "/v1/authorize",
        {"key_digest": hash_api_key(api_key), "request_id": "throttled", "method": "GET", "path": "/a"},
    )
    assert reply.status == 503
    assert reply.error_code == "service_unavailable"
    assert reply.headers["retry-after"] == "1"
    monkeypatch.undo()
    assert stored_balance(account_id) == 5


def test_rate_limit_recovers_after_retry_after(
    call: Caller, funded_key: FundedKey, service: CreditsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, api_key = funded_key(100, rate_limit={"per_second": 2, "burst": 2})
    start = datetime.now(UTC)
    clock = FrozenClock(start)
    monkeypatch.setattr(service, "_clock", clock)
    assert [authorize(call, api_key, f"gcra-{n}")["decision"] for n in range(3)] == ["allow", "allow", "deny"]
    clock.moment = start + timedelta(milliseconds=400)
    assert authorize(call, api_key, "gcra-3")["decision"] == "deny"  # one slot every 500 ms
    clock.moment = start + timedelta(milliseconds=500)
    assert authorize(call, api_key, "gcra-4")["decision"] == "allow"
    assert authorize(call, api_key, "gcra-5")["reason"] == "rate_limited"
    clock.moment = start + timedelta(seconds=10)  # idle: the full burst is back, no more
    assert [authorize(call, api_key, f"gcra-idle-{n}")["decision"] for n in range(3)] == [
        "allow",
        "allow",
        "deny",
    ]


def test_keys_are_listed_page_by_page(call: Caller, funded_key: FundedKey) -> None:
    account_id, _ = funded_key(0)
    for _ in range(4):
        assert call("POST", f"/v1/accounts/{account_id}/keys", {}).status == 201
    listed: list[str] = []
    cursor = None
    while True:
        query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = call("GET", f"/v1/accounts/{account_id}/keys", query=query)
        listed += [key["key_id"] for key in page.body["keys"]]
        cursor = page.body["next_cursor"]
        if not cursor:
            break
    assert len(listed) == len(set(listed)) == 5


def test_a_request_id_reused_for_a_different_request_is_a_conflict(
    call: Caller, funded_key: FundedKey
) -> None:
    account_id, api_key = funded_key(5)
    authorize(call, api_key, "reused", path="/one")
    reply = call(
        "POST",
        "/v1/authorize",
        {"key_digest": hash_api_key(api_key), "request_id": "reused", "method": "GET", "path": "/two"},
    )
    assert reply.status == 409
    assert reply.error_code == "conflict"
    assert stored_balance(account_id) == 4
