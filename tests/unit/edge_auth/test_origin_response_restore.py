"""Origin-response: a refunded 403 that the credits service found to be an archived object
(``restore_retry_after`` in the refund reply) reaches the viewer as 503 restore_in_progress."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.edge_auth import origin_response, viewer_request
from functions.edge_auth.credits_client import TransportResponse
from tests.unit.edge_auth.conftest import EdgeUnderTest
from tests.unit.edge_auth.events import origin_response_event, response_header, viewer_request_event
from tests.unit.edge_auth.fake_credits import FakeCreditsApi


def charged_get(edge: EdgeUnderTest) -> dict[str, Any]:
    edge.api.add_account("acct_cold", 10)
    api_key = edge.api.issue_key("acct_cold")
    forwarded = viewer_request.handler(
        viewer_request_event("GET", "/archive/a.wav", headers={"x-api-key": api_key})
    )
    assert "status" not in forwarded
    return forwarded


def with_restore_reply(monkeypatch: pytest.MonkeyPatch, retry_after: object) -> None:
    original = FakeCreditsApi._refund

    def refund_with_restore(self: FakeCreditsApi, payload: dict[str, Any]) -> TransportResponse:
        reply = original(self, payload)
        document = json.loads(reply.body)
        document["restore_retry_after"] = retry_after
        return TransportResponse(status=reply.status, body=json.dumps(document).encode())

    monkeypatch.setattr(FakeCreditsApi, "_refund", refund_with_restore)


def test_archived_403_becomes_503_with_retry_after(edge: EdgeUnderTest, monkeypatch: pytest.MonkeyPatch):
    with_restore_reply(monkeypatch, 10_800)
    forwarded = charged_get(edge)
    response = origin_response.handler(origin_response_event(forwarded, 403, {}), None)
    assert response["status"] == "503"
    assert response_header(response, "retry-after") == "10800"
    assert response_header(response, "cache-control") == "no-store"
    error = json.loads(response["body"])["error"]
    assert (error["code"], error["retry_after"]) == ("restore_in_progress", 10_800)
    assert response_header(response, origin_response.REFUNDED_HEADER) == "1"
    assert edge.api.accounts["acct_cold"].balance == 10


@pytest.mark.parametrize("bad_value", [None, 0, True, "60"])
def test_a_plain_403_stays_a_403(edge: EdgeUnderTest, monkeypatch: pytest.MonkeyPatch, bad_value: object):
    with_restore_reply(monkeypatch, bad_value)
    forwarded = charged_get(edge)
    response = origin_response.handler(origin_response_event(forwarded, 403, {}), None)
    assert response["status"] == "403"
