"""The sellers' routes are in the OpenAPI document with their models, parameters and errors."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from functions.credits.app import CreditsApi
from functions.credits.service import CreditsService
from functions.credits.settings import Settings
from functions.credits.store.memory import InMemoryCreditsStore


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    settings = Settings()
    return CreditsApi(CreditsService(InMemoryCreditsStore(), settings), settings).openapi()


def _response_schema(operation: dict[str, Any], status: str) -> str:
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    return str(schema["$ref"]).rsplit("/", 1)[-1]


def test_each_sellers_route_names_its_models(document: dict[str, Any]) -> None:
    validate(document)
    paths = document["paths"]
    assert _response_schema(paths["/v1/accounts"]["get"], "200") == "AccountList"
    assert _response_schema(paths["/v1/accounts/{account_id}"]["patch"], "200") == "AccountStatusReply"
    assert _response_schema(paths["/v1/accounts/{account_id}/links"]["post"], "201") == "Link"
    assert _response_schema(paths["/v1/accounts/{account_id}/alerts"]["put"], "200") == "Alerts"
    for path, method in (
        ("/v1/accounts/{account_id}", "patch"),
        ("/v1/accounts/{account_id}/links", "post"),
        ("/v1/accounts/{account_id}/alerts", "put"),
    ):
        assert {"404", "409", "422"} <= set(paths[path][method]["responses"]), (path, method)


def test_the_list_filters_and_request_fields_are_documented(document: dict[str, Any]) -> None:
    parameters = {parameter["name"] for parameter in document["paths"]["/v1/accounts"]["get"]["parameters"]}
    assert parameters == {"name_prefix", "status", "balance_below", "limit", "cursor"}
    schemas = document["components"]["schemas"]
    assert schemas["AccountStatus"]["enum"] == ["active", "suspended", "closed"]
    assert set(schemas["CreateLinkRequest"]["properties"]) == {
        "key_id",
        "path",
        "prefix",
        "expires_in",
        "max_uses",
    }
    assert {"scope", "spend_limit"} <= set(schemas["IssueKeyRequest"]["properties"])
    assert {"scope", "spend_limit"} <= set(schemas["Key"]["properties"])
    assert "alert_thresholds" in schemas["Account"]["properties"]
    assert "link_token_digest" in schemas["AuthorizeRequest"]["properties"]
