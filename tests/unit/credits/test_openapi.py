"""The OpenAPI document is generated from the code, validates, and covers every route."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from functions.credits.app import OPENAPI_PATH, CreditsApi
from functions.credits.service import CreditsService
from functions.credits.settings import Settings
from functions.credits.store.memory import InMemoryCreditsStore
from tests.integration.credits.events import FakeLambdaContext, api_event, parse_reply

ROUTES = {
    ("/v1/accounts", "post"),
    ("/v1/accounts/{account_id}", "get"),
    ("/v1/accounts/{account_id}/keys", "post"),
    ("/v1/accounts/{account_id}/keys", "get"),
    ("/v1/accounts/{account_id}/keys/{key_id}", "delete"),
    ("/v1/accounts/{account_id}/grants", "post"),
    ("/v1/accounts/{account_id}/ledger", "get"),
    ("/v1/accounts/{account_id}/usage", "get"),
    ("/v1/authorize", "post"),
    ("/v1/refunds", "post"),
    # sellers (issue 16): functions/credits/sellers/routes.py
    ("/v1/accounts", "get"),
    ("/v1/accounts/{account_id}", "patch"),
    ("/v1/accounts/{account_id}/links", "post"),
    ("/v1/accounts/{account_id}/alerts", "put"),
    ("/v1/accounts/{account_id}/alerts", "get"),
}


@pytest.fixture(scope="module")
def api() -> CreditsApi:
    settings = Settings()
    return CreditsApi(CreditsService(InMemoryCreditsStore(), settings), settings)


@pytest.fixture(scope="module")
def document(api: CreditsApi) -> dict[str, Any]:
    return api.openapi()


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)  # raises on an invalid document
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "edgemeter credits API"


def test_every_route_is_documented_with_its_models(document: dict[str, Any]) -> None:
    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    assert documented == ROUTES
    schemas = document["components"]["schemas"]
    for model in (
        "AuthorizeRequest",
        "Decision",
        "GrantRequest",
        "Grant",
        "IssuedKey",
        "LedgerPage",
        "Usage",
    ):
        assert model in schemas, model
    authorize = schemas["AuthorizeRequest"]
    assert set(authorize["required"]) == {"request_id", "method", "path"}
    # key_digest, or (sellers, issue 16) a signed link's link_token_digest: exactly one of them.
    for credential in ("key_digest", "link_token_digest"):
        options = authorize["properties"][credential]["anyOf"]
        assert {option.get("pattern") for option in options} >= {"^[0-9a-f]{64}$"}
    grant = schemas["GrantRequest"]["properties"]["amount"]
    assert (grant["minimum"], grant["maximum"]) == (1, 10**12)
    assert "201" in document["paths"]["/v1/accounts"]["post"]["responses"]
    errors = document["paths"]["/v1/refunds"]["post"]["responses"]["404"]
    assert errors["content"]["application/json"]["schema"]["$ref"].endswith("ErrorResponse")
    assert document["security"] == [{"sigv4": []}]


def test_the_api_serves_the_same_document(api: CreditsApi, document: dict[str, Any]) -> None:
    reply = parse_reply(api.handle(api_event("GET", OPENAPI_PATH), FakeLambdaContext()))  # type: ignore[arg-type]
    assert reply.status == 200
    assert reply.body == document
