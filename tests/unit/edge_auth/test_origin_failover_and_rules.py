"""Origin-response under an origin group, and every origin-response result within CloudFront's rules.

CloudFront runs origin-response for the primary's answer and, when that answer has a failover
status, again for the secondary's (docs/decisions.md, "Edge"). Only the answer the viewer gets
may be refunded.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from functions.edge_auth import origin_response, runtime, viewer_request
from functions.edge_auth.credits_client import TransportResponse
from functions.edge_auth.settings import FailoverSettings
from functions.shared.cloudfront_rules import TriggerEvent, result_violations
from tests.unit.edge_auth.conftest import EdgeUnderTest, configure_edge, default_settings
from tests.unit.edge_auth.events import origin_response_event, response_header, viewer_request_event
from tests.unit.edge_auth.fake_credits import FakeCreditsApi

SECONDARY = "backup-store.example.com"


@pytest.fixture
def failover_edge() -> Iterator[EdgeUnderTest]:
    yield configure_edge(default_settings(failover=FailoverSettings(secondary_domain_name=SECONDARY)))
    runtime.reset_runtime()


def charged_download(edge: EdgeUnderTest, method: str = "GET") -> dict[str, Any]:
    edge.api.add_account("acct_failover", 10)
    api_key = edge.api.issue_key("acct_failover")
    forwarded = viewer_request.handler(
        viewer_request_event(method, "/media/a.mp4", headers={"x-api-key": api_key})
    )
    assert "status" not in forwarded
    assert edge.api.accounts["acct_failover"].balance == 9
    return forwarded


def from_secondary(event: dict[str, Any]) -> dict[str, Any]:
    request = event["Records"][0]["cf"]["request"]
    request["origin"] = {
        "custom": {
            "customHeaders": {},
            "domainName": SECONDARY,
            "keepaliveTimeout": 5,
            "path": "/bucket",
            "port": 443,
            "protocol": "https",
            "readTimeout": 30,
            "sslProtocols": ["TLSv1.2"],
        }
    }
    return event


def run_origin_response(event: dict[str, Any]) -> dict[str, Any]:
    shown = copy.deepcopy(event["Records"][0]["cf"])
    result = origin_response.handler(event, None)
    assert result_violations(TriggerEvent.ORIGIN_RESPONSE, shown, result) == []
    return result


@pytest.mark.parametrize("primary_status", [404, 500, 503])
def test_primary_fails_and_secondary_serves_no_refund(
    failover_edge: EdgeUnderTest, primary_status: int
) -> None:
    forwarded = charged_download(failover_edge)
    primary = run_origin_response(origin_response_event(forwarded, primary_status))
    # The primary's answer goes back to CloudFront untouched: it retries on the secondary.
    assert primary["status"] == str(primary_status)
    assert response_header(primary, "cache-control") is None
    secondary = run_origin_response(from_secondary(origin_response_event(forwarded, 200)))
    assert secondary["status"] == "200"
    assert failover_edge.api.calls_to("/v1/refunds") == []
    assert failover_edge.api.accounts["acct_failover"].balance == 9


def test_both_origins_fail_refund_once(failover_edge: EdgeUnderTest) -> None:
    forwarded = charged_download(failover_edge)
    run_origin_response(origin_response_event(forwarded, 503))
    secondary = run_origin_response(from_secondary(origin_response_event(forwarded, 404)))
    assert secondary["status"] == "404"
    assert response_header(secondary, origin_response.REFUNDED_HEADER) == "1"
    assert response_header(secondary, "cache-control") == "no-store"
    assert [call.payload["reason"] for call in failover_edge.api.calls_to("/v1/refunds")] == ["origin_404"]
    assert failover_edge.api.accounts["acct_failover"].balance == 10


def test_primary_status_outside_the_failover_codes_is_final(failover_edge: EdgeUnderTest) -> None:
    forwarded = charged_download(failover_edge)
    # 403 is not among the default failover codes: CloudFront gives it to the viewer.
    response = run_origin_response(origin_response_event(forwarded, 403))
    assert response_header(response, origin_response.REFUNDED_HEADER) == "1"
    assert failover_edge.api.accounts["acct_failover"].balance == 10


def test_without_a_secondary_a_404_is_refunded(edge: EdgeUnderTest) -> None:
    forwarded = charged_download(edge)
    run_origin_response(origin_response_event(forwarded, 404))
    assert edge.api.accounts["acct_failover"].balance == 10


def test_a_primary_answer_without_an_origin_is_taken_as_final(failover_edge: EdgeUnderTest) -> None:
    forwarded = charged_download(failover_edge)
    event = origin_response_event(forwarded, 500)
    del event["Records"][0]["cf"]["request"]["origin"]
    run_origin_response(event)
    assert failover_edge.api.accounts["acct_failover"].balance == 10


# --- the 304 policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(("refund_not_modified", "balance"), [(False, 9), (True, 10)])
def test_origin_304_is_refunded_only_when_configured(refund_not_modified: bool, balance: int) -> None:
    edge = configure_edge(default_settings(refund_not_modified=refund_not_modified))
    try:
        forwarded = charged_download(edge)
        response = run_origin_response(origin_response_event(forwarded, 304))
        assert response["status"] == "304"
        assert edge.api.accounts["acct_failover"].balance == balance
    finally:
        runtime.reset_runtime()


# --- CloudFront's read-only headers survive a replaced response ------------------------------


def test_restore_reply_keeps_the_read_only_headers(
    edge: EdgeUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = FakeCreditsApi._refund

    def refund_with_restore(self: FakeCreditsApi, payload: dict[str, Any]) -> TransportResponse:
        reply = original(self, payload)
        document = {**json.loads(reply.body), "restore_retry_after": 600}
        return TransportResponse(status=reply.status, body=json.dumps(document).encode())

    monkeypatch.setattr(FakeCreditsApi, "_refund", refund_with_restore)
    forwarded = charged_download(edge)
    event = origin_response_event(
        forwarded, 403, {"via": "1.1 abc.cloudfront.net (CloudFront)", "transfer-encoding": "chunked"}
    )
    response = run_origin_response(event)
    assert response["status"] == "503"
    assert response_header(response, "via") == "1.1 abc.cloudfront.net (CloudFront)"
