"""The sellers' request models refuse bad input (the API answers each with a 422 JSON error)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from functions.credits.sellers.lifecycle import AccountStatus
from functions.credits.sellers.schemas import (
    MAX_EXPIRES_IN_SECONDS,
    AccountStatusRequest,
    AlertsRequest,
    CreateLinkRequest,
)
from functions.credits.sellers.scope_model import KeyScopeModel

KEY_ID = "key_0123456789abcdef"


def test_scope_round_trips_through_the_domain_scope() -> None:
    model = KeyScopeModel.model_validate({"methods": ["HEAD", "GET"], "prefixes": ["/r/"]})
    assert KeyScopeModel.from_scope(model.to_scope()) == KeyScopeModel(
        methods=["GET", "HEAD"], prefixes=["/r/"]
    )
    assert KeyScopeModel.from_scope(None) is None


def test_good_requests_validate() -> None:
    assert AccountStatusRequest.model_validate({"status": "closed", "reason": "churned"}).status is (
        AccountStatus.CLOSED
    )
    scope = KeyScopeModel.model_validate({"methods": ["GET", "HEAD"], "prefixes": ["/reports/"]}).to_scope()
    assert scope.allows("GET", "/reports/x")
    link = CreateLinkRequest.model_validate({"key_id": KEY_ID, "prefix": "/media/", "expires_in": 60})
    assert (link.path, link.prefix, link.max_uses) == (None, "/media/", None)
    assert AlertsRequest.model_validate({"thresholds": [10, 100]}).thresholds == [100, 10]
    assert AlertsRequest.model_validate({"thresholds": []}).thresholds == []


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (AccountStatusRequest, {"status": "frozen", "reason": "x"}),
        (AccountStatusRequest, {"status": "suspended"}),
        (AccountStatusRequest, {"status": "suspended", "reason": ""}),
        (AccountStatusRequest, {"status": "suspended", "reason": "a\nb"}),
        (KeyScopeModel, {"methods": ["FETCH"]}),
        (KeyScopeModel, {"methods": ["get"]}),
        (KeyScopeModel, {"methods": []}),
        (KeyScopeModel, {"methods": ["GET", "GET"]}),
        (KeyScopeModel, {"prefixes": ["reports/"]}),
        (KeyScopeModel, {"prefixes": []}),
        (KeyScopeModel, {"prefixes": "/reports/"}),
        (KeyScopeModel, {"paths": ["/x/"]}),
        (CreateLinkRequest, {"key_id": KEY_ID, "expires_in": 60}),
        (CreateLinkRequest, {"key_id": KEY_ID, "path": "/a", "prefix": "/", "expires_in": 60}),
        (CreateLinkRequest, {"key_id": KEY_ID, "path": "a.mp4", "expires_in": 60}),
        (CreateLinkRequest, {"key_id": KEY_ID, "path": "/a", "expires_in": 0}),
        (CreateLinkRequest, {"key_id": KEY_ID, "path": "/a", "expires_in": MAX_EXPIRES_IN_SECONDS + 1}),
        (CreateLinkRequest, {"key_id": KEY_ID, "path": "/a", "expires_in": "60"}),
        (CreateLinkRequest, {"key_id": KEY_ID, "path": "/a", "expires_in": 60, "max_uses": 0}),
        (CreateLinkRequest, {"key_id": "nope", "path": "/a", "expires_in": 60}),
        (AlertsRequest, {"thresholds": [10, 10]}),
        (AlertsRequest, {"thresholds": [0]}),
        (AlertsRequest, {"thresholds": ["10"]}),
        (AlertsRequest, {"thresholds": [1.5]}),
        (AlertsRequest, {"thresholds": list(range(1, 12))}),
        (AlertsRequest, {"thresholds": 10}),
        (AlertsRequest, {}),
    ],
)
def test_bad_input_is_refused(model: type[BaseModel], body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(body)
