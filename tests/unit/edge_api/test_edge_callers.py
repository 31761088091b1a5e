"""The edge-only rule in the credits function (issue 14 §6), on events of the deployed shapes.

The edge routes arrive as HTTP API payload 1.0 events (local/apigateway.py builds them as AWS
does); an IAM caller that is not an edge role is refused before the service runs, whichever API
the request came through.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.credits.app import CreditsApi
from functions.credits.routes.edge_callers import (
    caller_arn,
    caller_role_name,
    edge_role_names,
    is_edge_caller,
)
from functions.credits.settings import Settings
from functions.shared.environment_variables import EDGEMETER_EDGE_ROLES
from local.apigateway import IncomingRequest, build_proxy_event
from tests.integration.credits.events import FakeLambdaContext, Reply, parse_reply
from tests.unit.credits.service_fakes import Harness

VIEWER_ROLE = "Edgemeter-eu-west-1-viewer-request"
ORIGIN_RESPONSE_ROLE = "Edgemeter-eu-west-1-origin-response"
EDGE_SESSION_ARN = f"arn:aws:sts::123456789012:assumed-role/{VIEWER_ROLE}/us-east-1.Edgemeter-viewer"
ADMIN_USER_ARN = "arn:aws:iam::123456789012:user/billing-admin"
OTHER_ROLE_ARN = "arn:aws:sts::123456789012:assumed-role/Admin/someone"


def _event(method: str, path: str, body: dict[str, Any], user_arn: str | None) -> dict[str, Any]:
    event = build_proxy_event(
        IncomingRequest(
            method=method,
            path=path,
            query=[],
            headers=[("Content-Type", "application/json")],
            body=json.dumps(body).encode(),
            source_ip="127.0.0.1",
            host="abc.execute-api.eu-west-1.amazonaws.com",
        )
    )
    event["requestContext"]["identity"]["userArn"] = user_arn
    return event


@pytest.fixture
def harness() -> Harness:
    return Harness()


def _call(harness: Harness, method: str, path: str, body: dict[str, Any], user_arn: str | None) -> Reply:
    api = CreditsApi(harness.service(), Settings())
    return parse_reply(api.handle(_event(method, path, body, user_arn), FakeLambdaContext()))  # type: ignore[arg-type]


def _authorize_body(harness: Harness) -> dict[str, Any]:
    _, digest = harness.funded_key(harness.service(), 5)
    return {"key_digest": digest, "request_id": "req-1", "method": "GET", "path": "/objects/a.bin"}


def test_the_edge_routes_arrive_as_http_api_payload_1_0_on_the_default_stage() -> None:
    event = _event("POST", "/v1/authorize", {}, None)
    assert event["version"] == "1.0"
    assert event["resource"] == event["path"] == "/v1/authorize"
    assert event["requestContext"]["stage"] == "$default"
    # The billing routes keep the REST API's proxy event.
    rest_event = _event("POST", "/v1/accounts", {}, None)
    assert "version" not in rest_event
    assert rest_event["resource"] == "/{proxy+}"


def test_an_edge_role_is_charged_through_the_http_api_event(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EDGEMETER_EDGE_ROLES, f"{VIEWER_ROLE},{ORIGIN_RESPONSE_ROLE}")
    reply = _call(harness, "POST", "/v1/authorize", _authorize_body(harness), EDGE_SESSION_ARN)
    assert reply.status == 200
    assert reply.body["decision"] == "allow"
    assert reply.body["charged"] == 1


@pytest.mark.parametrize("caller", [ADMIN_USER_ARN, OTHER_ROLE_ARN])
@pytest.mark.parametrize("path", ["/v1/authorize", "/v1/refunds"])
def test_a_caller_that_is_not_an_edge_role_is_refused_and_charges_nothing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caller: str, path: str
) -> None:
    monkeypatch.setenv(EDGEMETER_EDGE_ROLES, f"{VIEWER_ROLE},{ORIGIN_RESPONSE_ROLE}")
    body = _authorize_body(harness)
    if path == "/v1/refunds":
        body = {"request_id": "req-1", "reason": "origin_5xx"}
    reply = _call(harness, "POST", path, body, caller)
    assert reply.status == 403
    assert reply.body == {
        "error": {"code": "forbidden", "message": "this route is for the edge functions only"}
    }
    # Nothing was charged: the edge's own call afterwards is the first, and is charged.
    allowed = _call(harness, "POST", "/v1/authorize", _authorize_body(harness), EDGE_SESSION_ARN)
    assert allowed.body["charged"] == 1
    assert allowed.body["replayed"] is False


def test_without_the_edge_roles_configured_any_verified_caller_passes(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(EDGEMETER_EDGE_ROLES, raising=False)
    reply = _call(harness, "POST", "/v1/authorize", _authorize_body(harness), ADMIN_USER_ARN)
    assert reply.status == 200
    assert reply.body["decision"] == "allow"


def test_the_billing_routes_are_not_restricted_to_the_edge(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EDGEMETER_EDGE_ROLES, VIEWER_ROLE)
    reply = _call(harness, "POST", "/v1/accounts", {"name": "billing"}, ADMIN_USER_ARN)
    assert reply.status == 201


@pytest.mark.parametrize(
    ("user_arn", "role_name"),
    [
        (EDGE_SESSION_ARN, VIEWER_ROLE),
        ("arn:aws-cn:sts::123456789012:assumed-role/r/s", "r"),
        (ADMIN_USER_ARN, None),
        ("arn:aws:sts::123456789012:assumed-role//s", None),
        ("arn:aws:iam::123456789012:role/Edgemeter-eu-west-1-viewer-request", None),
    ],
)
def test_the_role_name_of_a_session_arn(user_arn: str, role_name: str | None) -> None:
    assert caller_role_name(user_arn) == role_name


def test_the_configured_roles_and_the_decision() -> None:
    roles = edge_role_names({EDGEMETER_EDGE_ROLES: f" {VIEWER_ROLE} ,,{ORIGIN_RESPONSE_ROLE}"})
    assert roles == {VIEWER_ROLE, ORIGIN_RESPONSE_ROLE}
    assert edge_role_names({}) == frozenset()
    assert is_edge_caller(EDGE_SESSION_ARN, roles)
    assert not is_edge_caller(ADMIN_USER_ARN, roles)
    assert is_edge_caller(None, roles)  # no principal in the event: IAM had nothing to say
    assert is_edge_caller(ADMIN_USER_ARN, frozenset())  # nothing configured (the local runtime)


def test_the_caller_arn_is_read_where_each_payload_puts_it() -> None:
    assert caller_arn(_event("POST", "/v1/authorize", {}, EDGE_SESSION_ARN)) == EDGE_SESSION_ARN
    v2_context = {"requestContext": {"authorizer": {"iam": {"userArn": EDGE_SESSION_ARN}}}}
    assert caller_arn(v2_context) == EDGE_SESSION_ARN
    assert caller_arn(_event("POST", "/v1/authorize", {}, None)) is None
    assert caller_arn({"requestContext": {"authorizer": None, "identity": {"userArn": ""}}}) is None
    assert caller_arn({}) is None
