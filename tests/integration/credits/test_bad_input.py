"""Bad input on every route gets a 4xx with the JSON error shape, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.credits.conftest import Caller
from tests.integration.credits.events import Reply, assert_error_shape

pytestmark = pytest.mark.dynamodb

UNKNOWN_ACCOUNT = "acct_99999999999999999999"
DIGEST = "a" * 64

# (method, path-with-{account}, body or raw string, expected status or None for any 4xx)
BAD_REQUESTS: list[tuple[str, str, Any, int | None]] = [
    # accounts
    ("POST", "/v1/accounts", {}, 422),
    ("POST", "/v1/accounts", {"name": 5}, 422),
    ("POST", "/v1/accounts", {"name": ""}, 422),
    ("POST", "/v1/accounts", {"name": "x" * 201}, 422),
    ("POST", "/v1/accounts", {"name": "tab\there"}, 422),
    ("POST", "/v1/accounts", {"name": "ok", "balance": 100}, 422),
    ("POST", "/v1/accounts", "not json", 400),
    ("POST", "/v1/accounts", "[1, 2]", 422),
    ("POST", "/v1/accounts", "null", 422),
    ("POST", "/v1/accounts", '"name"', 422),
    ("GET", "/v1/accounts/not-an-id", None, 422),
    ("GET", "/v1/accounts/acct_ZZZZZZZZZZZZZZZZZZZZ", None, 422),
    ("GET", f"/v1/accounts/{UNKNOWN_ACCOUNT}", None, 404),
    # keys
    ("POST", "/v1/accounts/bad/keys", {}, 422),
    ("POST", f"/v1/accounts/{UNKNOWN_ACCOUNT}/keys", {}, 404),
    ("POST", "/v1/accounts/{account}/keys", {"rate_limit": {"per_second": 0, "burst": 1}}, 422),
    ("POST", "/v1/accounts/{account}/keys", {"rate_limit": {"per_second": "1", "burst": 1}}, 422),
    ("POST", "/v1/accounts/{account}/keys", {"rate_limit": {"per_second": 1}}, 422),
    ("POST", "/v1/accounts/{account}/keys", {"rate_limit": {"per_second": 10**9, "burst": 1}}, 422),
    ("POST", "/v1/accounts/{account}/keys", {"expires_at": 123}, 422),
    ("POST", "/v1/accounts/{account}/keys", {"expires_at": "tomorrow"}, 422),
    ("POST", "/v1/accounts/{account}/keys", {"expires_at": "2999-01-01T00:00:00"}, 422),
    ("POST", "/v1/accounts/{account}/keys", {"expires_at": "2001-01-01T00:00:00Z"}, 422),
    ("POST", "/v1/accounts/{account}/keys", {"name": 7}, 422),
    ("POST", "/v1/accounts/{account}/keys", {"key_id": "key_0000000000000000"}, 422),
    ("GET", "/v1/accounts/{account}/keys?limit=0", None, 422),
    ("GET", "/v1/accounts/{account}/keys?limit=abc", None, 422),
    ("GET", "/v1/accounts/{account}/keys?limit=100000", None, 422),
    ("GET", "/v1/accounts/{account}/keys?cursor=!!", None, 422),
    ("GET", "/v1/accounts/{account}/keys?cursor=eyJ4IjoxfQ", None, 422),
    ("GET", "/v1/accounts/{account}/keys?cursor=bm90IGpzb24", None, 422),
    ("GET", f"/v1/accounts/{UNKNOWN_ACCOUNT}/keys", None, 404),
    ("DELETE", "/v1/accounts/{account}/keys/not-a-key", None, 422),
    ("DELETE", "/v1/accounts/bad/keys/key_0000000000000000", None, 422),
    ("DELETE", "/v1/accounts/{account}/keys/key_0000000000000000", None, 404),
    # grants
    ("POST", "/v1/accounts/{account}/grants", {"amount": -1, "reason": "r", "idempotency_key": "k"}, 422),
    ("POST", "/v1/accounts/{account}/grants", {"amount": 0, "reason": "r", "idempotency_key": "k"}, 422),
    ("POST", "/v1/accounts/{account}/grants", {"amount": 10**13, "reason": "r", "idempotency_key": "k"}, 422),
    ("POST", "/v1/accounts/{account}/grants", {"amount": 10**40, "reason": "r", "idempotency_key": "k"}, 422),
    ("POST", "/v1/accounts/{account}/grants", {"amount": "5", "reason": "r", "idempotency_key": "k"}, 422),
    ("POST", "/v1/accounts/{account}/grants", {"amount": 1.5, "reason": "r", "idempotency_key": "k"}, 422),
    ("POST", "/v1/accounts/{account}/grants", {"amount": True, "reason": "r", "idempotency_key": "k"}, 422),
    ("POST", "/v1/accounts/{account}/grants", {"amount": 5, "idempotency_key": "k"}, 422),
    ("POST", "/v1/accounts/{account}/grants", {"amount": 5, "reason": "r"}, 422),
    ("POST", "/v1/accounts/{account}/grants", {"amount": 5, "reason": "r", "idempotency_key": "a b"}, 422),
    (
        "POST",
        "/v1/accounts/{account}/grants",
        {"amount": 5, "reason": "r", "idempotency_key": "k" * 129},
        422,
    ),
    ("POST", "/v1/accounts/{account}/grants", {"amount": 5, "reason": "", "idempotency_key": "k"}, 422),
    (
        "POST",
        f"/v1/accounts/{UNKNOWN_ACCOUNT}/grants",
        {"amount": 5, "reason": "r", "idempotency_key": "k"},
        404,
    ),
    # ledger and usage
    ("GET", "/v1/accounts/{account}/ledger?from=yesterday", None, 422),
    ("GET", "/v1/accounts/{account}/ledger?from=2026-01-01T00:00:00", None, 422),
    ("GET", "/v1/accounts/{account}/ledger?limit=-1", None, 422),
    ("GET", "/v1/accounts/{account}/ledger?cursor=e30", None, 422),
    ("GET", "/v1/accounts/{account}/ledger?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z", None, 422),
    ("GET", f"/v1/accounts/{UNKNOWN_ACCOUNT}/ledger", None, 404),
    ("GET", "/v1/accounts/{account}/usage?to=nope", None, 422),
    ("GET", "/v1/accounts/{account}/usage?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", None, 422),
    ("GET", f"/v1/accounts/{UNKNOWN_ACCOUNT}/usage", None, 404),
    # authorize
    ("POST", "/v1/authorize", {}, 422),
    ("POST", "/v1/authorize", {"request_id": "r", "method": "GET", "path": "/a"}, 422),
    (
        "POST",
        "/v1/authorize",
        {"key_digest": "A" * 64, "request_id": "r", "method": "GET", "path": "/a"},
        422,
    ),
    (
        "POST",
        "/v1/authorize",
        {"key_digest": "a" * 63, "request_id": "r", "method": "GET", "path": "/a"},
        422,
    ),
    ("POST", "/v1/authorize", {"key_digest": DIGEST, "request_id": "r", "method": "FOO", "path": "/a"}, 422),
    ("POST", "/v1/authorize", {"key_digest": DIGEST, "request_id": "r", "method": "get", "path": "/a"}, 422),
    ("POST", "/v1/authorize", {"key_digest": DIGEST, "request_id": "r", "method": "GET", "path": "a"}, 422),
    (
        "POST",
        "/v1/authorize",
        {"key_digest": DIGEST, "request_id": "r", "method": "GET", "path": "/" * 5000},
        422,
    ),
    (
        "POST",
        "/v1/authorize",
        {"key_digest": DIGEST, "request_id": "r r", "method": "GET", "path": "/a"},
        422,
    ),
    ("POST", "/v1/authorize", {"key_digest": DIGEST, "request_id": "", "method": "GET", "path": "/a"}, 422),
    (
        "POST",
        "/v1/authorize",
        {"key_digest": DIGEST, "request_id": "r" * 129, "method": "GET", "path": "/a"},
        422,
    ),
    (
        "POST",
        "/v1/authorize",
        {"key_digest": DIGEST, "request_id": "r", "method": "PUT", "path": "/a", "bytes": -1},
        422,
    ),
    (
        "POST",
        "/v1/authorize",
        {"key_digest": DIGEST, "request_id": "r", "method": "PUT", "path": "/a", "bytes": 10**20},
        422,
    ),
    (
        "POST",
        "/v1/authorize",
        {"key_digest": DIGEST, "request_id": "r", "method": "PUT", "path": "/a", "bytes": "10"},
        422,
    ),
    (
        "POST",
        "/v1/authorize",
        {"key_digest": DIGEST, "request_id": "r", "method": "GET", "path": "/a", "api_key": "em_x"},
        422,
    ),
    ("POST", "/v1/authorize", "{", 400),
    # refunds
    ("POST", "/v1/refunds", {}, 422),
    ("POST", "/v1/refunds", {"request_id": ""}, 422),
    ("POST", "/v1/refunds", {"request_id": 5}, 422),
    ("POST", "/v1/refunds", {"request_id": "r", "reason": "Not A Reason"}, 422),
    ("POST", "/v1/refunds", {"request_id": "never-charged-anywhere"}, 404),
    # routes
    ("GET", "/v1/nothing-here", None, 404),
    ("PATCH", "/v1/accounts", {"name": "x"}, 404),
    ("GET", "/", None, 404),
]


@pytest.fixture(scope="module")
def account_id(credits_settings: Any) -> str:
    from functions.credits.schemas import CreateAccountRequest
    from functions.credits.service import CreditsService
    from functions.credits.store.dynamodb import DynamoDBCreditsStore

    service = CreditsService(DynamoDBCreditsStore(credits_settings), credits_settings)
    return service.create_account(CreateAccountRequest(name="target")).account_id


def send(call: Caller, method: str, path: str, body: Any) -> Reply:
    if isinstance(body, str):
        return call(method, path, raw_body=body)
    return call(method, path, body)


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=lambda case: f"{case[0]} {case[1]}")
def test_bad_input_is_a_4xx_with_the_error_shape(
    call: Caller, account_id: str, case: tuple[str, str, Any, int | None]
) -> None:
    method, path, body, status = case
    reply = send(call, method, path.replace("{account}", account_id), body)
    assert_error_shape(reply)
    if status is not None:
        assert reply.status == status, reply


def test_validation_errors_name_the_fields_and_never_echo_the_input(call: Caller) -> None:
    reply = call(
        "POST", "/v1/authorize", {"key_digest": "B" * 64, "request_id": "r", "method": "GET", "path": "x"}
    )
    assert reply.status == 422
    details = reply.body["error"]["details"]
    assert {tuple(detail["loc"]) for detail in details} == {("body", "key_digest"), ("body", "path")}
    assert "B" * 64 not in json.dumps(reply.body)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/accounts",
        "/v1/accounts/{account}/keys",
        "/v1/accounts/{account}/grants",
        "/v1/authorize",
        "/v1/refunds",
    ],
)
def test_oversized_bodies_are_413(call: Caller, account_id: str, path: str) -> None:
    reply = call("POST", path.replace("{account}", account_id), {"name": "x" * 20_000})
    assert reply.status == 413
    assert reply.error_code == "payload_too_large"
    assert_error_shape(reply)


def test_a_non_json_content_type_is_415(call: Caller) -> None:
    reply = call("POST", "/v1/accounts", raw_body="name=x", headers={"Content-Type": "text/plain"})
    assert reply.status == 415
    assert_error_shape(reply)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
authorize_like = st.fixed_dictionaries(
    {},
    optional={
        "key_digest": st.one_of(
            st.just(DIGEST), st.from_regex(r"[0-9a-f]{60,66}", fullmatch=True), json_values
        ),
        "request_id": st.one_of(st.from_regex(r"[A-Za-z0-9_=-]{1,130}", fullmatch=True), json_values),
        "method": st.one_of(st.sampled_from(["GET", "HEAD", "PUT", "POST", "BREW", ""]), json_values),
        "path": st.one_of(st.from_regex(r"/[a-z/]{0,20}", fullmatch=True), json_values),
        "bytes": st.one_of(st.integers(), json_values),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(authorize_like, json_values))
def test_any_json_to_authorize_is_answered_without_a_500(call: Caller, body: Any) -> None:
    reply = call("POST", "/v1/authorize", body)
    assert reply.status in {200, 400, 404, 413, 422}, reply
    if reply.status != 200:
        assert_error_shape(reply)
    else:
        assert reply.body["decision"] == "deny"  # no key with these digests exists


grant_like = st.fixed_dictionaries(
    {},
    optional={
        "amount": st.one_of(st.integers(min_value=-(10**20), max_value=10**20), json_values),
        "reason": st.one_of(st.text(max_size=600), json_values),
        "idempotency_key": st.one_of(st.from_regex(r"[a-z0-9.:_-]{1,130}", fullmatch=True), json_values),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(grant_like, json_values))
def test_any_json_to_grants_keeps_the_balance_a_sound_integer(
    call: Caller, account_id: str, body: Any
) -> None:
    reply = call("POST", f"/v1/accounts/{account_id}/grants", body)
    assert reply.status in {200, 201, 409, 413, 422}, reply
    if reply.status >= 400:
        assert_error_shape(reply)
    balance = call("GET", f"/v1/accounts/{account_id}").body["balance"]
    assert isinstance(balance, int)
    assert 0 <= balance <= 10**15
