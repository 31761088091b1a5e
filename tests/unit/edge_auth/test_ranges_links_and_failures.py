"""Issue 11/12/16 at the edge: Range sent and 416 mapped, signed links, failures as types,
the 414 before any charge, and every denial reason through DENIAL_STATUS."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from functions.edge_auth import runtime, viewer_request
from functions.edge_auth.credits_client import (
    ConnectError,
    CreditsUnavailableError,
    ReadTimeoutError,
    TransportResponse,
)
from functions.origin_signer import origin_request
from functions.origin_signer.settings import SignerSettings
from functions.shared.api_keys import hash_api_key
from functions.shared.cloudfront_rules import TriggerEvent, result_violations
from functions.shared.errors import DENIAL_STATUS, DenialReason
from functions.shared.sigv4 import static_credentials
from tests.unit.edge_auth.conftest import EdgeUnderTest, configure_edge, default_settings
from tests.unit.edge_auth.events import cloudfront_event, response_header, viewer_request_event
from tests.unit.edge_auth.fake_credits import FakeCreditsApi, FakeCreditsTransport

MEBIBYTE = 1024 * 1024


def funded_key(edge: EdgeUnderTest, balance: int = 100) -> str:
    edge.api.add_account("acct_range", balance)
    return edge.api.issue_key("acct_range")


def error_code(response: dict[str, Any]) -> str:
    return str(json.loads(response["body"])["error"]["code"])


# --- Range ------------------------------------------------------------------------------------


@pytest.mark.parametrize("range_header", ["bytes=0-1023", "bytes=-500", "bytes=5238784-"])
def test_get_range_is_sent_verbatim_and_priced_by_its_bytes(edge: EdgeUnderTest, range_header: str) -> None:
    api_key = funded_key(edge)
    edge.api.object_sizes["/video/big.mp4"] = 5 * MEBIBYTE
    forwarded = viewer_request.handler(
        viewer_request_event(uri="/video/big.mp4", headers={"x-api-key": api_key, "range": range_header})
    )
    assert forwarded["uri"] == "/video/big.mp4"
    (call,) = edge.api.calls_to("/v1/authorize")
    assert call.payload["range"] == range_header
    # The fake prices 1 + 1 per started MiB of what the range serves, not of the whole object.
    assert response_header(forwarded, "x-edgemeter-charged") == "2"


def test_no_range_field_without_a_range_header_nor_for_head(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge)
    viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key}))
    viewer_request.handler(viewer_request_event("HEAD", headers={"x-api-key": api_key, "range": "bytes=0-1"}))
    assert ["range" in call.payload for call in edge.api.calls_to("/v1/authorize")] == [False, False]


def test_unsatisfiable_range_is_416_with_the_size_and_not_charged(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge, balance=5)
    edge.api.object_sizes["/small.bin"] = 100
    response = viewer_request.handler(
        viewer_request_event(uri="/small.bin", headers={"x-api-key": api_key, "range": "bytes=500-600"})
    )
    assert response["status"] == "416"
    assert error_code(response) == "range_not_satisfiable"
    assert response_header(response, "content-range") == "bytes */100"
    assert edge.api.accounts["acct_range"].balance == 5


def test_overlong_range_header_is_400_without_a_call(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge)
    response = viewer_request.handler(
        viewer_request_event(headers={"x-api-key": api_key, "range": "bytes=" + "0-1," * 300})
    )
    assert response["status"] == "400"
    assert edge.api.calls_to("/v1/authorize") == []


# --- the 414 before any charge ---------------------------------------------------------------


def test_uri_that_outgrows_the_limit_once_signed_is_414_before_any_charge(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge, balance=7)
    # 3,000 '+' fit the 4,096-character limit as sent; SigV4's canonical form spells each '%2B'.
    response = viewer_request.handler(
        viewer_request_event(uri="/" + "+" * 3000, headers={"x-api-key": api_key})
    )
    assert response["status"] == "414"
    assert error_code(response) == "uri_too_long"
    assert edge.api.calls_to("/v1/authorize") == []
    assert edge.api.accounts["acct_range"].balance == 7


def test_long_query_string_that_outgrows_the_limit_is_414_before_any_charge(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge)
    response = viewer_request.handler(
        viewer_request_event(querystring="q=" + "%20" * 2800, headers={"x-api-key": api_key})
    )
    assert response["status"] == "414"
    assert edge.api.calls_to("/v1/authorize") == []


def test_a_uri_that_fits_stays_within_the_limit_after_the_origin_signer() -> None:
    edge = configure_edge(default_settings())
    origin_request.configure(
        SignerSettings(
            credentials_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:edgemeter/origin-AbCdEf",
            credentials_secret_region="us-east-1",
        ),
        fetch_secret=lambda arn, region: '{"accessKeyId": "AK", "secretAccessKey": "SK"}',
    )
    try:
        api_key = funded_key(edge)
        uri = "/" + "+" * 2700  # 8,101 characters once canonical: just under the limit
        forwarded = viewer_request.handler(viewer_request_event(uri=uri, headers={"x-api-key": api_key}))
        assert "status" not in forwarded
        forwarded["origin"] = {
            "custom": {"domainName": "store.example.com", "port": 443, "protocol": "https", "path": "/bucket"}
        }
        event = cloudfront_event("origin-request", None, request=forwarded)
        shown = json.loads(json.dumps(event["Records"][0]["cf"]))
        signed = origin_request.handler(event)
        assert result_violations(TriggerEvent.ORIGIN_REQUEST, shown, signed) == []
        assert len(signed["uri"]) + len(signed["querystring"]) < 8192
    finally:
        origin_request.reset_runtime()
        runtime.reset_runtime()


# --- signed links -----------------------------------------------------------------------------


def test_link_is_accepted_sent_as_its_digest_and_stripped(
    edge: EdgeUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    api_key = funded_key(edge)
    token = edge.api.issue_link(api_key)
    caplog.set_level(logging.DEBUG)
    forwarded = viewer_request.handler(
        viewer_request_event(uri="/media/a.mp4", querystring=f"w=640&em_link={token}&h=480")
    )
    assert "status" not in forwarded
    assert forwarded["querystring"] == "w=640&h=480"
    (call,) = edge.api.calls_to("/v1/authorize")
    assert call.payload["link_token_digest"] == hash_api_key(token)
    assert "key_digest" not in call.payload
    assert token not in call.raw_body.decode()
    assert token not in caplog.text
    assert token not in json.dumps(forwarded)


@pytest.mark.parametrize(
    "token", ["eml_short", "em_" + "a" * 43, "eml_" + "a" * 42 + "!", "eml_" + "a" * 400]
)
def test_link_of_the_wrong_shape_is_403_link_invalid_without_a_call(edge: EdgeUnderTest, token: str) -> None:
    response = viewer_request.handler(viewer_request_event(querystring=f"em_link={token}"))
    assert response["status"] == "403"
    assert error_code(response) == "link_invalid"
    assert edge.api.calls == []


@pytest.mark.parametrize(
    "denial", ["link_expired", "link_exhausted", "link_path_denied", "account_closed", "key_scope_denied"]
)
def test_link_denials_map_through_denial_status(edge: EdgeUnderTest, denial: str) -> None:
    api_key = funded_key(edge)
    token = edge.api.issue_link(api_key, denial=denial)
    response = viewer_request.handler(viewer_request_event(querystring=f"em_link={token}"))
    assert response["status"] == str(DENIAL_STATUS[DenialReason(denial)])
    assert error_code(response) == denial


def test_credential_denial_of_a_link_is_cached_per_digest(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge)
    token = edge.api.issue_link(api_key, denial="link_expired")
    for _ in range(3):
        response = viewer_request.handler(viewer_request_event(querystring=f"em_link={token}"))
        assert error_code(response) == "link_expired"
    assert len(edge.api.calls_to("/v1/authorize")) == 1
    assert all(token not in cache_key for cache_key in edge.runtime.key_denials.keys())  # noqa: SIM118 - TtlCache.keys(), not a dict


def test_link_denial_not_about_the_credential_is_not_cached(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge)
    token = edge.api.issue_link(api_key, denial="link_path_denied")
    for _ in range(2):
        viewer_request.handler(viewer_request_event(querystring=f"em_link={token}"))
    assert len(edge.api.calls_to("/v1/authorize")) == 2


# --- every denial reason through DENIAL_STATUS ------------------------------------------------


class _DenyingTransport:
    def __init__(self, reason: str) -> None:
        self.reason = reason

    def send(self, method: str, path: str, headers: Any, body: bytes, deadline: float) -> TransportResponse:
        document = {
            "decision": "deny",
            "reason": self.reason,
            "account_id": "acct_x",
            "price": 1,
            "charged": 0,
            "balance": 0,
            "entry_id": None,
            "retry_after": 3,
            "replayed": False,
        }
        return TransportResponse(200, json.dumps(document).encode())


@pytest.mark.parametrize("reason", list(DenialReason))
def test_every_denial_reason_gets_the_status_of_the_one_table(reason: DenialReason) -> None:
    runtime.configure(
        default_settings(), transport=_DenyingTransport(reason), credentials_loader=lambda: _CREDENTIALS
    )
    try:
        response = viewer_request.handler(viewer_request_event(headers={"x-api-key": "em_" + "r" * 43}))
        assert response["status"] == str(DENIAL_STATUS[reason])
        assert error_code(response) == reason
        assert result_violations(TriggerEvent.VIEWER_REQUEST, {}, response) == []
    finally:
        runtime.reset_runtime()


# --- failures as types ------------------------------------------------------------------------

_CREDENTIALS = static_credentials("AKIDEDGE", "edge-secret")


class _FailingOnceTransport:
    """Authorize fails with ``error``; refunds reach the fake credits API."""

    def __init__(self, error: CreditsUnavailableError, api: FakeCreditsApi) -> None:
        self.error = error
        self.fake = FakeCreditsTransport(api)

    def send(self, method: str, path: str, headers: Any, body: bytes, deadline: float) -> TransportResponse:
        if path.endswith("/v1/authorize"):
            raise self.error
        return self.fake.send(method, path, headers, body, deadline)


@pytest.mark.parametrize(
    ("error", "voided"),
    [
        (ConnectError("refused"), False),
        (ReadTimeoutError("timeout"), True),
        (CreditsUnavailableError("unclassified"), True),
    ],
)
def test_the_failure_type_decides_the_void(error: CreditsUnavailableError, voided: bool) -> None:
    api = FakeCreditsApi()
    runtime.configure(
        default_settings(),
        transport=_FailingOnceTransport(error, api),
        credentials_loader=lambda: _CREDENTIALS,
    )
    try:
        response = viewer_request.handler(viewer_request_event(headers={"x-api-key": "em_" + "v" * 43}))
        assert response["status"] == "503"
        assert [call.payload.get("reason") for call in api.calls_to("/v1/refunds")] == (
            ["edge_gave_up"] if voided else []
        )
    finally:
        runtime.reset_runtime()


def test_a_non_200_reply_may_have_charged_and_is_voided(edge: EdgeUnderTest) -> None:
    api_key = funded_key(edge)
    edge.api.failure_status = 502
    response = viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key}))
    assert response["status"] == "503"
    assert len(edge.api.calls_to("/v1/refunds")) == 1
