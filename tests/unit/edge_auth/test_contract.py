"""The edge and its fake speak the credits service's real schemas (functions/credits/schemas.py).

The handlers are tested against an in-process fake; this keeps the fake honest.
Every request the edge sends must validate as the real service's request model,
and every reply the fake gives must validate as the real service's reply model.
Denial reasons on both sides come from one list (``functions/shared/errors.py``).
"""

from __future__ import annotations

import json

from functions.credits.schemas import AuthorizeRequest, Decision, Refund, RefundRequest
from functions.edge_auth import origin_response, viewer_request
from tests.unit.edge_auth.conftest import EdgeUnderTest
from tests.unit.edge_auth.events import origin_response_event, viewer_request_event


def test_edge_requests_and_fake_replies_match_the_credits_schemas(edge: EdgeUnderTest) -> None:
    edge.api.add_account("acct_0123456789abcdef0123", 3)
    api_key = edge.api.issue_key("acct_0123456789abcdef0123")
    edge.api.add_account("acct_0123456789abcdef0999", 0)
    empty_key = edge.api.issue_key("acct_0123456789abcdef0999")
    forwarded = viewer_request.handler(
        viewer_request_event("GET", "/a/b.txt", headers={"x-api-key": api_key})
    )
    viewer_request.handler(
        viewer_request_event("PUT", "/a/up.bin", headers={"x-api-key": api_key, "content-length": "2097152"})
    )
    viewer_request.handler(viewer_request_event(headers={"x-api-key": "em_" + "z" * 43}))
    viewer_request.handler(viewer_request_event(headers={"x-api-key": empty_key}))
    viewer_request.handler(viewer_request_event("HEAD", "/a/b.txt", headers={"x-api-key": api_key}))
    origin_response.handler(origin_response_event(forwarded, 503))
    origin_response.handler(origin_response_event(forwarded, 503))

    authorize_calls = edge.api.calls_to("/v1/authorize")
    refund_calls = edge.api.calls_to("/v1/refunds")
    assert len(authorize_calls) == 5
    assert len(refund_calls) == 2
    for call in authorize_calls:
        AuthorizeRequest.model_validate_json(call.raw_body)
    for call in refund_calls:
        RefundRequest.model_validate_json(call.raw_body)
    for request_id in edge.api.charges:
        reply = edge.api.handle(
            "POST",
            "/v1/authorize",
            authorize_calls[0].headers,
            json.dumps({**authorize_calls[0].payload, "request_id": request_id}).encode(),
        )
        Decision.model_validate_json(reply.body)
    for refund in edge.api.refunds.values():
        Refund.model_validate(refund)
    for call in authorize_calls:
        reply = edge.api.handle("POST", "/v1/authorize", call.headers, call.raw_body)
        Decision.model_validate_json(reply.body)
