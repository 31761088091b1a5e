"""Viewer-request handler: every row of the brief's CDN table, caches, key hygiene."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from functions.edge_auth import runtime, viewer_request
from functions.edge_auth.credits_client import CreditsUnavailableError, TransportResponse
from functions.edge_auth.settings import CacheSettings, QueryKeySettings, load_settings_file
from functions.shared.api_keys import hash_api_key
from functions.shared.sigv4 import static_credentials
from tests.unit.edge_auth.conftest import EdgeUnderTest, configure_edge, default_settings
from tests.unit.edge_auth.events import new_request_id, response_header, viewer_request_event
from tests.unit.edge_auth.fake_credits import FakeKey

MAX_GENERATED_RESPONSE_BYTES = 40 * 1024


def assert_generated_json_error(response: dict[str, Any], status: int, code: str) -> dict[str, Any]:
    assert response["status"] == str(status)
    assert isinstance(response["statusDescription"], str)
    assert response["statusDescription"]
    assert response_header(response, "content-type") == "application/json"
    assert response_header(response, "cache-control") == "no-store"
    assert response["bodyEncoding"] == "text"
    assert len(json.dumps(response).encode()) < MAX_GENERATED_RESPONSE_BYTES
    document = json.loads(response["body"])
    assert document["error"]["code"] == code
    assert isinstance(document["error"]["message"], str)
    assert document["error"]["message"]
    return dict(document["error"])


def funded_key(edge: EdgeUnderTest, balance: int = 10, account_id: str = "acct_alice") -> str:
    edge.api.add_account(account_id, balance)
    return edge.api.issue_key(account_id)


# --- allowed ---------------------------------------------------------------------------------


def test_allowed_download_is_forwarded_without_key_and_with_account_and_charge(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge, balance=10)
    request_id = new_request_id()
    event = viewer_request_event(
        "GET",
        "/bucket/report.pdf",
        headers={"x-api-key": api_key, "x-edgemeter-account": "acct_spoofed", "accept": "*/*"},
        querystring="versionId=3&api_key=" + api_key,
        request_id=request_id,
    )

    forwarded = viewer_request.handler(event, None)

    assert "status" not in forwarded
    assert forwarded["uri"] == "/bucket/report.pdf"
    assert "x-api-key" not in forwarded["headers"]
    assert forwarded["querystring"] == "versionId=3"
    assert forwarded["headers"]["accept"] == [{"key": "Accept", "value": "*/*"}]
    assert forwarded["headers"]["x-edgemeter-account"] == [
        {"key": "X-Edgemeter-Account", "value": "acct_alice"}
    ]
    assert response_header(forwarded, "x-edgemeter-charged") == "1"
    assert response_header(forwarded, "x-edgemeter-request-id") == request_id
    assert edge.api.accounts["acct_alice"].balance == 9
    (call,) = edge.api.calls_to("/v1/authorize")
    payload = dict(call.payload)
    # The wall-clock deadline the service honours: our budget (1.5 s) from now.
    deadline_ms = payload.pop("deadline_ms")
    assert abs(deadline_ms - (time.time() * 1000 + 1500)) < 1000
    assert payload == {
        "key_digest": hash_api_key(api_key),
        "request_id": request_id,
        "method": "GET",
        "path": "/bucket/report.pdf",
        "bytes": 0,
    }
    assert call.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEDGE/")
    assert call.headers["x-amz-security-token"] == "edge-session-token"
    assert edge.transport.deadlines == [edge.clock.now + 1.5]


def test_bearer_key_is_accepted_and_authorization_stripped(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge)
    forwarded = viewer_request.handler(viewer_request_event(headers={"authorization": f"Bearer {api_key}"}))
    assert "status" not in forwarded
    assert "authorization" not in forwarded["headers"]
    assert edge.api.calls_to("/v1/authorize")[0].payload["key_digest"] == hash_api_key(api_key)


def test_upload_with_body_is_priced_by_content_length(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge, balance=10)
    body = b"x" * 1500
    size = 3 * 1024 * 1024 + 1  # the declared size prices the upload: 1 + 4 started MiB
    event = viewer_request_event(
        "PUT", "/bucket/upload.bin", headers={"x-api-key": api_key, "content-length": str(size)}, body=body
    )

    forwarded = viewer_request.handler(event)

    assert forwarded["body"]["data"] == event["Records"][0]["cf"]["request"]["body"]["data"]
    assert response_header(forwarded, "x-edgemeter-charged") == "5"
    assert edge.api.calls_to("/v1/authorize")[0].payload["bytes"] == size
    assert edge.api.accounts["acct_alice"].balance == 5


def test_upload_without_content_length_is_411_and_not_charged(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge)
    response = viewer_request.handler(viewer_request_event("PUT", headers={"x-api-key": api_key}))
    assert_generated_json_error(response, 411, "bad_request")
    assert edge.api.calls == []


@pytest.mark.parametrize("content_length", ["-1", "12abc", "1e9", "99999999999999999999", "١٢"])
def test_upload_with_malformed_content_length_is_400(edge: EdgeUnderTest, content_length: str) -> None:
    api_key = funded_key(edge)
    event = viewer_request_event("PUT", headers={"x-api-key": api_key, "content-length": content_length})
    assert_generated_json_error(viewer_request.handler(event), 400, "bad_request")
    assert edge.api.calls == []


def test_retried_request_id_is_charged_once(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge, balance=10)
    request_id = new_request_id()
    for _ in range(2):
        forwarded = viewer_request.handler(
            viewer_request_event(headers={"x-api-key": api_key}, request_id=request_id)
        )
        assert response_header(forwarded, "x-edgemeter-charged") == "1"
    assert edge.api.accounts["acct_alice"].balance == 9


# --- 401 / 403 -------------------------------------------------------------------------------


def test_no_key_is_401_with_www_authenticate(edge: EdgeUnderTest) -> None:
    response = viewer_request.handler(viewer_request_event(headers={"authorization": "Basic dXNlcjpwdw=="}))
    assert_generated_json_error(response, 401, "missing_api_key")
    assert response["headers"]["www-authenticate"] == [{"key": "WWW-Authenticate", "value": "ApiKey"}]
    assert edge.api.calls == []


def test_query_key_is_ignored_unless_enabled(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge)
    response = viewer_request.handler(viewer_request_event(querystring=f"api_key={api_key}"))
    assert_generated_json_error(response, 401, "missing_api_key")


def test_query_key_when_enabled_is_used_and_stripped() -> None:
    edge = configure_edge(default_settings(query_key=QueryKeySettings(enabled=True, parameter="key")))
    try:
        api_key = funded_key(edge)
        forwarded = viewer_request.handler(viewer_request_event(querystring=f"a=1&key={api_key}&b=%20x"))
        assert "status" not in forwarded
        assert forwarded["querystring"] == "a=1&b=%20x"
    finally:
        runtime.reset_runtime()


@pytest.mark.parametrize(
    ("key_state", "expected_code"),
    [
        ("unknown", "invalid_api_key"),
        ("revoked", "revoked_api_key"),
        ("expired", "expired_api_key"),
        ("suspended", "account_suspended"),
    ],
)
def test_key_level_denials_are_403(edge: EdgeUnderTest, key_state: str, expected_code: str) -> None:
    api_key = funded_key(edge)
    digest = hash_api_key(api_key)
    if key_state == "unknown":
        del edge.api.keys[digest]
    elif key_state == "revoked":
        edge.api.keys[digest].revoked = True
    elif key_state == "expired":
        edge.api.keys[digest].expired = True
    else:
        edge.api.accounts["acct_alice"].suspended = True
    response = viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key}))
    assert_generated_json_error(response, 403, expected_code)
    assert edge.api.accounts["acct_alice"].balance == 10


@pytest.mark.parametrize("presented", ["not-a-key", "em_" + "a" * 42, "em_" + "a" * 300])
def test_malformed_key_is_403_without_asking_the_credits_api(edge: EdgeUnderTest, presented: str) -> None:
    response = viewer_request.handler(viewer_request_event(headers={"x-api-key": presented}))
    assert_generated_json_error(response, 403, "invalid_api_key")
    assert edge.api.calls == []


# --- 402 / 429 / 404 / 503 restore -----------------------------------------------------------


def test_not_enough_credits_is_402_with_balance_and_price(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge, balance=2)
    event = viewer_request_event(
        "PUT", headers={"x-api-key": api_key, "content-length": str(5 * 1024 * 1024)}
    )
    error = assert_generated_json_error(viewer_request.handler(event), 402, "insufficient_credits")
    assert (error["balance"], error["price"]) == (2, 6)
    # Some credits are left, so this is not cached as an empty account: a download still passes.
    assert "status" not in viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key}))


def test_rate_limited_is_429_with_retry_after(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge)
    edge.api.rate_limited_digests[hash_api_key(api_key)] = 7
    response = viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key}))
    error = assert_generated_json_error(response, 429, "rate_limited")
    assert response_header(response, "retry-after") == "7"
    assert error["retry_after"] == 7


def test_object_not_found_is_404(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge)
    edge.api.object_reasons["/bucket/missing.bin"] = "object_not_found"
    event = viewer_request_event(uri="/bucket/missing.bin", headers={"x-api-key": api_key})
    assert_generated_json_error(viewer_request.handler(event), 404, "object_not_found")


def test_restore_in_progress_is_503_with_retry_after(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge)
    edge.api.object_reasons["/bucket/archived.bin"] = "restore_in_progress"
    edge.api.restore_retry_after = 900
    response = viewer_request.handler(
        viewer_request_event(uri="/bucket/archived.bin", headers={"x-api-key": api_key})
    )
    assert_generated_json_error(response, 503, "restore_in_progress")
    assert response_header(response, "retry-after") == "900"


# --- credits API failure: 503, never allow ---------------------------------------------------


@pytest.mark.parametrize("failure_status", [500, 502, 503, 504, 400, 403, 404])
def test_credits_api_non_200_is_503_with_retry_after(edge: EdgeUnderTest, failure_status: int) -> None:
    api_key = funded_key(edge)
    edge.api.failure_status = failure_status
    response = viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key}))
    assert_generated_json_error(response, 503, "service_unavailable")
    assert response_header(response, "retry-after") == "5"


@pytest.mark.parametrize(
    "reply_body",
    [
        b"not json",
        b"[]",
        b'{"decision": "allow"}',
        b'{"decision": "allow", "account_id": "acct_x", "charged": "1"}',
        b'{"decision": "maybe", "account_id": "acct_x"}',
        b'{"decision": "deny", "reason": "new_reason_we_do_not_know"}',
        b'{"decision": "deny", "reason": "invalid_api_key", "price": true}',
    ],
)
def test_unusable_authorize_reply_is_503_never_allow(reply_body: bytes) -> None:
    class ScriptedTransport:
        def send(
            self, method: str, path: str, headers: Any, body: bytes, deadline: float
        ) -> TransportResponse:
            return TransportResponse(status=200, body=reply_body)

    runtime.configure(default_settings(), transport=ScriptedTransport(), credentials_loader=_credentials)
    try:
        api_key = "em_" + "b" * 43
        response = viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key}))
        assert_generated_json_error(response, 503, "service_unavailable")
    finally:
        runtime.reset_runtime()


def test_transport_failure_is_503() -> None:
    class FailingTransport:
        def send(
            self, method: str, path: str, headers: Any, body: bytes, deadline: float
        ) -> TransportResponse:
            raise CreditsUnavailableError("refused")

    runtime.configure(default_settings(), transport=FailingTransport(), credentials_loader=_credentials)
    try:
        response = viewer_request.handler(viewer_request_event(headers={"x-api-key": "em_" + "c" * 43}))
        assert_generated_json_error(response, 503, "service_unavailable")
    finally:
        runtime.reset_runtime()


def test_missing_credentials_is_503() -> None:
    def no_credentials() -> Any:
        raise RuntimeError("no credentials")

    edge = configure_edge(default_settings())
    runtime.configure(default_settings(), transport=edge.transport, credentials_loader=no_credentials)
    try:
        response = viewer_request.handler(viewer_request_event(headers={"x-api-key": "em_" + "d" * 43}))
        assert_generated_json_error(response, 503, "service_unavailable")
        assert edge.api.calls == []
    finally:
        runtime.reset_runtime()


def test_missing_settings_file_is_503_and_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    runtime.reset_runtime()
    missing = tmp_path / "config.json"
    monkeypatch.setattr(runtime, "load_settings_file", lambda: load_settings_file(missing))
    with caplog.at_level(logging.CRITICAL, logger="edgemeter.edge"):
        response = viewer_request.handler(viewer_request_event(headers={"x-api-key": "em_" + "e" * 43}))
    assert_generated_json_error(response, 503, "service_unavailable")
    assert "config.json is missing" in caplog.text
    runtime.reset_runtime()


def test_settings_file_that_is_not_utf8_is_503_and_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    runtime.reset_runtime()
    garbled = tmp_path / "config.json"
    garbled.write_bytes(b'{"credits_api_url": "\xff\xfe"}')
    monkeypatch.setattr(runtime, "load_settings_file", lambda: load_settings_file(garbled))
    with caplog.at_level(logging.CRITICAL, logger="edgemeter.edge"):
        response = viewer_request.handler(viewer_request_event(headers={"x-api-key": "em_" + "e" * 43}))
    assert_generated_json_error(response, 503, "service_unavailable")
    assert "config.json is not UTF-8 text" in caplog.text
    runtime.reset_runtime()


# --- negative caches -------------------------------------------------------------------------


def test_unknown_key_is_cached_by_digest_until_its_ttl(edge: EdgeUnderTest) -> None:
    api_key = "em_" + "f" * 43
    event_calls = []
    for _ in range(3):
        response = viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key}))
        assert_generated_json_error(response, 403, "invalid_api_key")
        event_calls.append(len(edge.api.calls))
    assert event_calls == [1, 1, 1]
    assert edge.runtime.key_denials.keys() == [hash_api_key(api_key)]

    # The key gets issued meanwhile: it works once the (30 s) TTL has run out.
    edge.api.add_account("acct_new", 5)
    edge.api.keys[hash_api_key(api_key)] = FakeKey(account_id="acct_new")
    edge.clock.advance(29.9)
    assert viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key}))["status"] == "403"
    edge.clock.advance(0.2)
    assert "status" not in viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key}))


def test_empty_account_is_cached_until_a_grant_can_take_effect(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge, balance=0)
    for _ in range(3):
        error = assert_generated_json_error(
            viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key})),
            402,
            "insufficient_credits",
        )
        assert (error["balance"], error["price"]) == (0, 1)
    assert len(edge.api.calls_to("/v1/authorize")) == 1

    edge.api.accounts["acct_alice"].balance += 10  # a grant
    edge.clock.advance(5.0)
    assert "status" not in viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key}))
    assert len(edge.api.calls_to("/v1/authorize")) == 2


def test_cached_empty_account_answers_only_the_same_kind_of_request(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge, balance=0)
    download = viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key}))
    assert assert_generated_json_error(download, 402, "insufficient_credits")["price"] == 1
    upload_headers = {"x-api-key": api_key, "content-length": str(3 * 1024 * 1024)}
    for _ in range(2):
        upload = viewer_request.handler(viewer_request_event("PUT", headers=upload_headers))
        # The upload's own price, not the cached download's.
        assert assert_generated_json_error(upload, 402, "insufficient_credits")["price"] == 4
    assert len(edge.api.calls_to("/v1/authorize")) == 2


def test_caches_are_bounded() -> None:
    edge = configure_edge(default_settings(cache=CacheSettings(max_entries=3)))
    try:
        keys = [f"em_{index:043d}" for index in range(5)]
        for api_key in keys:
            viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key}))
        assert edge.runtime.key_denials.keys() == [hash_api_key(api_key) for api_key in keys[2:]]
    finally:
        runtime.reset_runtime()


def test_zero_ttl_disables_the_cache() -> None:
    edge = configure_edge(default_settings(cache=CacheSettings(unknown_key_ttl_seconds=0)))
    try:
        for _ in range(2):
            viewer_request.handler(viewer_request_event(headers={"x-api-key": "em_" + "g" * 43}))
        assert len(edge.api.calls) == 2
    finally:
        runtime.reset_runtime()


# --- the key never leaks ---------------------------------------------------------------------


def test_key_never_appears_in_logs_forwarded_request_or_cache_keys(
    edge: EdgeUnderTest, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    api_key = funded_key(edge, balance=1)
    unknown_key = "em_" + "h" * 43
    with caplog.at_level(logging.DEBUG):
        forwarded = viewer_request.handler(
            viewer_request_event(
                headers={"x-api-key": api_key, "authorization": f"Bearer {api_key}"},
                querystring=f"api_key={api_key}",
            )
        )
        denied_empty = viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key}))
        denied_empty_cached = viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key}))
        denied_unknown = viewer_request.handler(viewer_request_event(headers={"x-api-key": unknown_key}))
        edge.api.failure_status = 500
        unavailable = viewer_request.handler(viewer_request_event(headers={"x-api-key": "em_" + "i" * 43}))

    assert "status" not in forwarded
    assert [denied_empty["status"], denied_empty_cached["status"], denied_unknown["status"]] == [
        "402"
    ] * 2 + ["403"]
    assert unavailable["status"] == "503"
    assert any(record.name == "edgemeter.edge" for record in caplog.records)
    captured = capsys.readouterr()
    for secret in (api_key, unknown_key, "em_" + "i" * 43):
        assert secret not in caplog.text
        assert secret not in captured.out + captured.err
        assert secret not in json.dumps(forwarded)
        for response in (denied_empty, denied_empty_cached, denied_unknown, unavailable):
            assert secret not in json.dumps(response)
        for call in edge.api.calls:
            assert secret.encode() not in call.raw_body
            assert all(secret not in value for value in call.headers.values())
        cache_keys = edge.runtime.key_denials.keys() + edge.runtime.empty_accounts.keys()
        assert all(secret not in cache_key for cache_key in cache_keys)
    (empty_account_cache_key,) = edge.runtime.empty_accounts.keys()
    assert empty_account_cache_key.startswith(hash_api_key(api_key) + ":")
    assert set(edge.runtime.key_denials.keys()) == {hash_api_key(unknown_key)}


def _credentials() -> Any:
    return static_credentials("AKIDEDGE", "edge-secret")


# --- requests the credits API would refuse are answered here, not turned into 503s -----------


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND"])
def test_unsupported_method_is_405(edge: EdgeUnderTest, method: str) -> None:
    api_key = funded_key(edge)
    response = viewer_request.handler(viewer_request_event(method, headers={"x-api-key": api_key}))
    assert_generated_json_error(response, 405, "method_not_allowed")
    assert response_header(response, "allow") == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
    assert edge.api.calls == []


def test_overlong_uri_is_414(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge)
    response = viewer_request.handler(
        viewer_request_event(uri="/" + "a" * 4096, headers={"x-api-key": api_key})
    )
    assert_generated_json_error(response, 414, "uri_too_long")
    assert edge.api.calls == []


@pytest.mark.parametrize("request_id", ["", "has space", "x" * 129])
def test_unusable_request_id_is_400(edge: EdgeUnderTest, request_id: str) -> None:
    api_key = funded_key(edge)
    event = viewer_request_event(headers={"x-api-key": api_key})
    event["Records"][0]["cf"]["config"]["requestId"] = request_id
    assert_generated_json_error(viewer_request.handler(event), 400, "bad_request")
    assert edge.api.calls == []


@pytest.mark.parametrize("account_id", ["acct\r\nx-evil: 1", "", "a" * 129, "acct ünïcode"])
def test_allow_with_an_account_id_unfit_for_a_header_is_503(account_id: str) -> None:
    reply = {
        "decision": "allow",
        "reason": None,
        "account_id": account_id,
        "price": 1,
        "charged": 1,
        "balance": 0,
        "entry_id": None,
        "retry_after": None,
        "replayed": False,
    }

    class ScriptedTransport:
        def send(
            self, method: str, path: str, headers: Any, body: bytes, deadline: float
        ) -> TransportResponse:
            return TransportResponse(status=200, body=json.dumps(reply).encode())

    runtime.configure(default_settings(), transport=ScriptedTransport(), credentials_loader=_credentials)
    try:
        response = viewer_request.handler(viewer_request_event(headers={"x-api-key": "em_" + "k" * 43}))
        assert_generated_json_error(response, 503, "service_unavailable")
    finally:
        runtime.reset_runtime()
