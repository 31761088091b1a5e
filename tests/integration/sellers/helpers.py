"""Small helpers of the sellers' API tests."""

from __future__ import annotations

import secrets
from typing import Any

from functions.credits.schemas import AuthorizeRequest
from functions.credits.service import CreditsService, NoTelemetry
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.shared.api_keys import hash_api_key
from functions.shared.http_methods import HttpMethod
from tests.integration.credits.conftest import Caller


def unique_name(stem: str) -> str:
    """A name prefix no other test of the module uses (the tables are shared per module)."""
    return f"{stem}-{secrets.token_hex(4)}"


def container(settings: Settings, **options: Any) -> CreditsService:
    """Another Lambda container: its own store, connections and key cache."""
    return CreditsService(DynamoDBCreditsStore(settings), settings, telemetry=NoTelemetry(), **options)


def new_request_id() -> str:
    return secrets.token_urlsafe(16)


def authorize_key(
    service: CreditsService,
    api_key: str,
    *,
    method: HttpMethod = "GET",
    path: str = "/a.txt",
    request_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    request = AuthorizeRequest(
        key_digest=hash_api_key(api_key),
        request_id=request_id or new_request_id(),
        method=method,
        path=path,
        **fields,
    )
    return service.authorize(request).model_dump(mode="json")


def authorize_link(
    service: CreditsService,
    token: str,
    *,
    method: HttpMethod = "GET",
    path: str,
    request_id: str | None = None,
) -> dict[str, Any]:
    request = AuthorizeRequest(
        link_token_digest=hash_api_key(token),
        request_id=request_id or new_request_id(),
        method=method,
        path=path,
    )
    return service.authorize(request).model_dump(mode="json")


def balance_of(call: Caller, account_id: str) -> int:
    reply = call("GET", f"/v1/accounts/{account_id}")
    assert reply.status == 200, reply
    return int(reply.body["balance"])


def key_id_of(call: Caller, account_id: str) -> str:
    return str(call("GET", f"/v1/accounts/{account_id}/keys").body["keys"][0]["key_id"])


def set_status(call: Caller, account_id: str, status: str, reason: str = "test") -> Any:
    return call("PATCH", f"/v1/accounts/{account_id}", {"status": status, "reason": reason})
