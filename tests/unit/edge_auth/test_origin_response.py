"""Origin-response handler: refunds for failed or missing downloads, never cached, never raising."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from functions.edge_auth import origin_response, viewer_request
from tests.unit.edge_auth.conftest import EdgeUnderTest
from tests.unit.edge_auth.events import origin_response_event, response_header, viewer_request_event


def charged_request(edge: EdgeUnderTest, method: str = "GET", balance: int = 10) -> dict[str, Any]:
    """Run a request through viewer-request (charging it) and return what went to the origin."""
    edge.api.add_account("acct_bob", balance)
    api_key = edge.api.issue_key("acct_bob")
    headers = {"x-api-key": api_key}
    if method == "PUT":
        headers["content-length"] = "10"
    forwarded = viewer_request.handler(viewer_request_event(method, "/bucket/file.bin", headers=headers))
    assert "status" not in forwarded
    return forwarded


@pytest.mark.parametrize("origin_status", [500, 502, 503, 504])
def test_origin_5xx_after_charge_is_refunded_and_not_cacheable(
    edge: EdgeUnderTest, origin_status: int
) -> None:
    forwarded = charged_request(edge)
    assert edge.api.accounts["acct_bob"].balance == 9
    event = origin_response_event(forwarded, origin_status, {"cache-control": "max-age=600", "expires": "x"})

    response = origin_response.handler(event, None)

    assert response["status"] == str(origin_status)
    assert response_header(response, "cache-control") == "no-store"
    assert "expires" not in response["headers"]
    assert response_header(response, "x-edgemeter-refunded") == "1"
    assert edge.api.accounts["acct_bob"].balance == 10
    (refund_call,) = edge.api.calls_to("/v1/refunds")
    assert refund_call.payload == {
        "request_id": response_header(forwarded, "x-edgemeter-request-id"),
        "reason": "origin_5xx",
    }


@pytest.mark.parametrize(("method", "origin_status"), [("GET", 404), ("HEAD", 404), ("GET", 403)])
def test_origin_missing_object_on_download_is_refunded(
    edge: EdgeUnderTest, method: str, origin_status: int
) -> None:
    forwarded = charged_request(edge, method)
    response = origin_response.handler(origin_response_event(forwarded, origin_status))
    assert response["status"] == str(origin_status)
    assert response_header(response, "cache-control") == "no-store"
    assert edge.api.calls_to("/v1/refunds")[0].payload["reason"] == f"origin_{origin_status}"
    assert edge.api.accounts["acct_bob"].balance == 10


def test_origin_404_on_upload_is_not_refunded(edge: EdgeUnderTest) -> None:
    forwarded = charged_request(edge, "PUT")
    response = origin_response.handler(origin_response_event(forwarded, 404))
    assert response["status"] == "404"
    assert edge.api.calls_to("/v1/refunds") == []


def test_success_is_passed_through_untouched(edge: EdgeUnderTest) -> None:
    forwarded = charged_request(edge)
    event = origin_response_event(forwarded, 200, {"cache-control": "max-age=600"})
    expected = json.loads(json.dumps(event["Records"][0]["cf"]["response"]))
    assert origin_response.handler(event) == expected
    assert edge.api.calls_to("/v1/refunds") == []


def test_uncharged_5xx_is_not_refunded_but_not_cacheable(edge: EdgeUnderTest) -> None:
    forwarded = charged_request(edge)
    forwarded["headers"]["x-edgemeter-charged"] = [{"key": "X-Edgemeter-Charged", "value": "0"}]
    response = origin_response.handler(origin_response_event(forwarded, 500))
    assert response_header(response, "cache-control") == "no-store"
    assert edge.api.calls_to("/v1/refunds") == []


def test_repeated_origin_response_refunds_once(edge: EdgeUnderTest) -> None:
    forwarded = charged_request(edge)
    for _ in range(2):
        origin_response.handler(origin_response_event(forwarded, 503))
    assert len(edge.api.calls_to("/v1/refunds")) == 2
    assert edge.api.accounts["acct_bob"].balance == 10


def test_request_id_falls_back_to_config_request_id(edge: EdgeUnderTest) -> None:
    forwarded = charged_request(edge)
    request_id = forwarded["headers"].pop("x-edgemeter-request-id")[0]["value"]
    origin_response.handler(origin_response_event(forwarded, 500, request_id=request_id))
    assert edge.api.refunds[request_id]["refunded"] == 1


def test_refund_for_unknown_charge_is_logged_not_raised(
    edge: EdgeUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    forwarded = charged_request(edge)
    forwarded["headers"]["x-edgemeter-request-id"] = [
        {"key": "X-Edgemeter-Request-Id", "value": "never-charged"}
    ]
    with caplog.at_level(logging.WARNING, logger="edgemeter.edge"):
        response = origin_response.handler(origin_response_event(forwarded, 500))
    assert response["status"] == "500"
    assert "x-edgemeter-refunded" not in response["headers"]
    assert "refund_no_charge" in caplog.text


def test_refund_api_failure_keeps_the_response_and_logs_for_reconciliation(
    edge: EdgeUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    forwarded = charged_request(edge)
    edge.api.failure_status = 500
    with caplog.at_level(logging.ERROR, logger="edgemeter.edge"):
        response = origin_response.handler(origin_response_event(forwarded, 502))
    assert response["status"] == "502"
    assert response_header(response, "cache-control") == "no-store"
    assert "refund_failed" in caplog.text
    assert "status_500" in caplog.text
    # One retry after a fast failure, then give up.
    assert len(edge.api.calls_to("/v1/refunds")) == 2
    assert edge.api.accounts["acct_bob"].balance == 9


@pytest.mark.parametrize(
    "event",
    [
        None,
        {},
        {"Records": []},
        {"Records": [{"cf": {"config": {}, "request": {}}}]},
        {"Records": [{"cf": {"response": "nope"}}]},
    ],
)
def test_unreadable_event_gets_a_well_formed_502(event: Any) -> None:
    response = origin_response.handler(event)
    assert response["status"] == "502"
    assert response_header(response, "cache-control") == "no-store"
    assert json.loads(response["body"])["error"]["code"] == "internal_error"


def test_malformed_response_parts_are_returned_not_raised(edge: EdgeUnderTest) -> None:
    event = {"Records": [{"cf": {"config": 7, "request": "x", "response": {"status": "5xx", "headers": []}}}]}
    assert origin_response.handler(event) == {"status": "5xx", "headers": []}
    event = {"Records": [{"cf": {"request": {"headers": 3}, "response": {"status": 500, "headers": None}}}]}
    response = origin_response.handler(event)
    assert response["headers"]["cache-control"] == [{"key": "Cache-Control", "value": "no-store"}]
