"""Key scopes, spend limits and signed links through the API and authorize, on DynamoDB Local."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from functions.credits.data.models import LinkItem
from functions.credits.schemas import RefundRequest
from functions.credits.service import CreditsService
from functions.credits.settings import Settings
from functions.shared.api_keys import hash_api_key, looks_like_link_token
from functions.shared.http_methods import HttpMethod
from tests.integration.credits.conftest import Caller
from tests.integration.credits.events import assert_error_shape
from tests.integration.credits.test_api import FrozenClock, ledger_sum
from tests.integration.sellers.helpers import (
    authorize_key,
    authorize_link,
    balance_of,
    container,
    key_id_of,
    new_request_id,
    set_status,
)

pytestmark = pytest.mark.dynamodb

FundedKey = Callable[..., tuple[str, str]]


def _link(call: Caller, account_id: str, **body: Any) -> Any:
    return call("POST", f"/v1/accounts/{account_id}/links", {"key_id": key_id_of(call, account_id)} | body)


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["em_link"][0]


# --- scopes -----------------------------------------------------------------------------------


def test_out_of_scope_requests_are_denied_and_not_charged(
    call: Caller, funded_key: FundedKey, service: CreditsService
) -> None:
    scope = {"methods": ["GET", "HEAD"], "prefixes": ["/reports/"]}
    account_id, api_key = funded_key(10, scope=scope)
    assert authorize_key(service, api_key, path="/reports/q4.pdf")["decision"] == "allow"
    outside: list[tuple[HttpMethod, str]] = [
        ("PUT", "/reports/q4.pdf"),
        ("GET", "/private/x"),
        ("DELETE", "/r"),
    ]
    for method, path in outside:
        denied = authorize_key(service, api_key, method=method, path=path)
        assert (denied["decision"], denied["reason"], denied["charged"]) == ("deny", "key_scope_denied", 0)
    assert balance_of(call, account_id) == 9 == ledger_sum(account_id)
    listed = call("GET", f"/v1/accounts/{account_id}/keys").body["keys"][0]
    assert listed["scope"] == scope
    assert listed["spend_limit"] is None


def test_keys_without_a_scope_keep_working_everywhere(funded_key: FundedKey, service: CreditsService) -> None:
    _, api_key = funded_key(10)
    assert authorize_key(service, api_key, method="PUT", path="/any/where")["decision"] == "allow"


@pytest.mark.parametrize(
    "options",
    [
        {"scope": {"methods": ["FETCH"]}},
        {"scope": {"methods": []}},
        {"scope": {"prefixes": ["reports/"]}},
        {"scope": {"prefixes": []}},
        {"scope": {"paths": ["/x/"]}},
        {"scope": ["GET"]},
        {"spend_limit": 0},
        {"spend_limit": "10"},
    ],
)
def test_bad_scopes_and_limits_are_4xx_json(call: Caller, options: dict[str, Any]) -> None:
    account_id = call("POST", "/v1/accounts", {"name": "scoped"}).body["account_id"]
    assert_error_shape(call("POST", f"/v1/accounts/{account_id}/keys", options))


# --- spend limits -----------------------------------------------------------------------------


def test_a_spend_limit_stops_the_key_exactly_and_refunds_give_room_back(
    call: Caller, funded_key: FundedKey, service: CreditsService
) -> None:
    account_id, api_key = funded_key(100, spend_limit=3)
    request_ids = [new_request_id() for _ in range(3)]
    decisions = [authorize_key(service, api_key, request_id=request_id) for request_id in request_ids]
    assert [decision["decision"] for decision in decisions] == ["allow"] * 3
    over = authorize_key(service, api_key)
    assert (over["decision"], over["reason"], over["charged"]) == ("deny", "key_spend_limit_reached", 0)
    assert balance_of(call, account_id) == 97 == ledger_sum(account_id)
    assert call("GET", f"/v1/accounts/{account_id}/keys").body["keys"][0]["spend_limit"] == 3
    refunded = service.refund(RefundRequest(request_id=request_ids[0], reason="origin_5xx"))
    assert refunded.refunded == 1
    assert authorize_key(service, api_key)["decision"] == "allow"
    assert authorize_key(service, api_key)["reason"] == "key_spend_limit_reached"


def test_a_price_over_the_whole_limit_is_denied(funded_key: FundedKey, service: CreditsService) -> None:
    _, api_key = funded_key(100, spend_limit=2)
    upload = authorize_key(service, api_key, method="PUT", path="/big.bin", bytes=5 * 1024 * 1024)
    assert (upload["decision"], upload["reason"]) == ("deny", "key_spend_limit_reached")


def test_a_spend_limit_holds_under_concurrency(
    call: Caller, funded_key: FundedKey, credits_settings: Settings
) -> None:
    account_id, api_key = funded_key(1000, spend_limit=5)
    containers = [container(credits_settings) for _ in range(4)]
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def worker(number: int) -> None:
        for _ in range(4):
            decision = authorize_key(containers[number % 4], api_key)
            with lock:
                outcomes[decision["reason"] or decision["decision"]] += 1

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == Counter({"allow": 5, "key_spend_limit_reached": 27})
    assert balance_of(call, account_id) == 995 == ledger_sum(account_id)


# --- links ------------------------------------------------------------------------------------


def test_a_link_serves_its_path_charging_the_account(
    call: Caller, funded_key: FundedKey, service: CreditsService
) -> None:
    account_id, _ = funded_key(10)
    made = _link(call, account_id, path="/media/a.mp4", expires_in=600)
    assert made.status == 201, made
    token = _token(made.body["url"])
    assert looks_like_link_token(token)
    assert made.body["url"].startswith("http://127.0.0.1:8080/media/a.mp4?em_link=")
    expires_at = datetime.fromisoformat(made.body["expires_at"])
    assert timedelta(seconds=590) < expires_at - datetime.now(UTC) <= timedelta(seconds=600)
    allowed = authorize_link(service, token, path="/media/a.mp4")
    assert (allowed["decision"], allowed["account_id"], allowed["charged"]) == ("allow", account_id, 1)
    assert balance_of(call, account_id) == 9 == ledger_sum(account_id)
    stored = LinkItem.get(f"linkdigest#{hash_api_key(token)}", "link", consistent_read=True)
    assert token not in str(stored.attribute_values)


def test_each_link_failure_has_its_own_reason_and_charges_nothing(
    call: Caller, funded_key: FundedKey, service: CreditsService
) -> None:
    account_id, _ = funded_key(10)
    token = _token(_link(call, account_id, prefix="/media/", expires_in=600).body["url"])
    assert authorize_link(service, token, path="/media/deep/b.mp4")["decision"] == "allow"
    reasons = {
        "outside": authorize_link(service, token, path="/private/b.mp4")["reason"],
        "upload": authorize_link(service, token, method="PUT", path="/media/b.mp4")["reason"],
        "tampered": authorize_link(service, token[:-1] + ("A" if token[-1] != "A" else "B"), path="/media/b")[
            "reason"
        ],
    }
    assert reasons == {
        "outside": "link_path_denied",
        "upload": "key_scope_denied",
        "tampered": "link_invalid",
    }
    assert balance_of(call, account_id) == 9 == ledger_sum(account_id)


def test_links_expire(call: Caller, funded_key: FundedKey, credits_settings: Settings) -> None:
    account_id, _ = funded_key(10)
    token = _token(_link(call, account_id, path="/a.bin", expires_in=60).body["url"])
    later = container(credits_settings, clock=FrozenClock(datetime.now(UTC) + timedelta(seconds=61)))
    expired = authorize_link(later, token, path="/a.bin")
    assert (expired["decision"], expired["reason"]) == ("deny", "link_expired")


def test_max_uses_is_exact_under_concurrency_and_a_retry_replays(
    call: Caller, funded_key: FundedKey, credits_settings: Settings
) -> None:
    account_id, _ = funded_key(100)
    token = _token(_link(call, account_id, path="/a.bin", expires_in=600, max_uses=3).body["url"])
    containers = [container(credits_settings) for _ in range(4)]
    outcomes: Counter[str] = Counter()
    first_allowed: list[str] = []
    lock = threading.Lock()

    def worker(number: int) -> None:
        for _ in range(3):
            request_id = new_request_id()
            decision = authorize_link(containers[number % 4], token, path="/a.bin", request_id=request_id)
            with lock:
                outcomes[decision["reason"] or decision["decision"]] += 1
                if decision["decision"] == "allow":
                    first_allowed.append(request_id)

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == Counter({"allow": 3, "link_exhausted": 21})
    assert balance_of(call, account_id) == 97 == ledger_sum(account_id)
    retry = authorize_link(containers[0], token, path="/a.bin", request_id=first_allowed[0])
    assert (retry["decision"], retry["replayed"]) == ("allow", True)
    assert balance_of(call, account_id) == 97


def test_a_link_stops_with_its_key_and_its_account(
    call: Caller, funded_key: FundedKey, service: CreditsService
) -> None:
    account_id, _ = funded_key(10)
    token = _token(_link(call, account_id, path="/a.bin", expires_in=600).body["url"])
    assert authorize_link(service, token, path="/a.bin")["decision"] == "allow"
    assert set_status(call, account_id, "suspended", "check").status == 200
    assert authorize_link(service, token, path="/a.bin")["reason"] == "account_suspended"
    assert set_status(call, account_id, "active", "ok").status == 200
    assert call("DELETE", f"/v1/accounts/{account_id}/keys/{key_id_of(call, account_id)}").status == 200
    assert authorize_link(service, token, path="/a.bin")["reason"] == "revoked_api_key"
    assert balance_of(call, account_id) == 9 == ledger_sum(account_id)


def test_a_link_never_outlives_its_key(call: Caller, funded_key: FundedKey) -> None:
    key_expiry = datetime.now(UTC) + timedelta(seconds=120)
    account_id, _ = funded_key(10, expires_at=key_expiry.isoformat())
    made = _link(call, account_id, path="/a.bin", expires_in=3600)
    assert made.status == 201
    assert datetime.fromisoformat(made.body["expires_at"]) == key_expiry


@pytest.mark.parametrize(
    "body",
    [
        {"path": "/a", "expires_in": 7 * 24 * 3600 + 1},
        {"expires_in": 60},
        {"path": "/a", "prefix": "/", "expires_in": 60},
        {"path": "a", "expires_in": 60},
        {"path": "/a", "expires_in": 0},
        {"path": "/a", "expires_in": "60"},
        {"path": "/a", "expires_in": 60, "max_uses": 0},
        {"path": "/a", "expires_in": 60, "key_id": "key_0000000000000000"},
    ],
)
def test_bad_link_requests_are_4xx_json(call: Caller, funded_key: FundedKey, body: dict[str, Any]) -> None:
    account_id, _ = funded_key(0)
    reply = _link(call, account_id, **body)
    assert_error_shape(reply)


def test_links_refuse_keys_that_cannot_serve_them(call: Caller, funded_key: FundedKey) -> None:
    account_id, _ = funded_key(0, scope={"prefixes": ["/reports/"]})
    outside = _link(call, account_id, path="/media/a.mp4", expires_in=60)
    assert outside.status == 422
    assert_error_shape(outside)
    assert call("DELETE", f"/v1/accounts/{account_id}/keys/{key_id_of(call, account_id)}").status == 200
    revoked = _link(call, account_id, path="/reports/a.pdf", expires_in=60)
    assert (revoked.status, revoked.error_code) == (409, "revoked_api_key")


def test_authorize_takes_exactly_one_credential(call: Caller) -> None:
    digest = "0" * 64
    base = {"request_id": "r-1", "method": "GET", "path": "/a"}
    for body in (
        base,
        base | {"key_digest": digest, "link_token_digest": digest},
        base | {"link_token_digest": "x"},
    ):
        assert_error_shape(call("POST", "/v1/authorize", body))
