"""The CDN rows of issue 16 end to end: the real edge handler against the real credits service
(its resolver on DynamoDB Local, called in-process through the edge's transport seam).

A link works without a key header and charges the account; its token never reaches the
origin; tampering, a path outside the link, a suspended account and an out-of-scope key each
get their 403 with nothing charged.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bench.inprocess import HandlerTransport, InProcessCredits
from functions.credits.app import CreditsApi
from functions.credits.data.tables import create_tables, delete_tables
from functions.credits.service import CreditsService
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.edge_auth import runtime, viewer_request
from functions.edge_auth.settings import CreditsApiSettings, EdgeSettings
from functions.shared.sigv4 import static_credentials
from local.dynamodb_local import DynamoDBLocal
from tests.unit.edge_auth.events import viewer_request_event

pytestmark = pytest.mark.dynamodb


@pytest.fixture
def credits(dynamodb_local: DynamoDBLocal) -> Iterator[InProcessCredits]:
    suffix = secrets.token_hex(4)
    settings = Settings.model_validate(
        {
            "users_table": f"sellers-edge-users-{suffix}",
            "credits_table": f"sellers-edge-credits-{suffix}",
            "dynamodb_endpoint": dynamodb_local.endpoint_url,
        }
    )
    create_tables(settings)
    in_process = InProcessCredits(
        CreditsApi(CreditsService(DynamoDBCreditsStore(settings), settings), settings).handle
    )
    runtime.configure(
        EdgeSettings(credits_api=CreditsApiSettings(url="https://credits.invalid/prod", region="us-east-1")),
        transport=HandlerTransport(in_process),
        credentials_loader=lambda: static_credentials("AKIDEDGE", "edge-secret"),
    )
    try:
        yield in_process
    finally:
        runtime.reset_runtime()
        delete_tables(settings)


def _ok(credits: InProcessCredits, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
    status, body = credits.call(method, path, payload)
    assert 200 <= status < 300, (status, body)
    return body


def _key_id(credits: InProcessCredits, account_id: str) -> str:
    return str(_ok(credits, "GET", f"/v1/accounts/{account_id}/keys")["keys"][0]["key_id"])


def _code(response: dict[str, Any]) -> tuple[str, str]:
    return str(response["status"]), str(json.loads(str(response["body"]))["error"]["code"])


def test_a_link_needs_no_key_charges_the_account_and_never_reaches_the_origin(
    credits: InProcessCredits,
) -> None:
    account_id, _ = credits.funded_key("links", 5)
    link = _ok(
        credits,
        "POST",
        f"/v1/accounts/{account_id}/links",
        {"key_id": _key_id(credits, account_id), "prefix": "/media/", "expires_in": 300},
    )
    token = parse_qs(urlsplit(link["url"]).query)["em_link"][0]
    forwarded = viewer_request.handler(
        viewer_request_event("GET", "/media/a.mp4", querystring=f"em_link={token}&v=2")
    )
    assert "status" not in forwarded, forwarded
    assert "em_link" not in forwarded["querystring"]
    assert token not in json.dumps(forwarded)
    assert credits.balance(account_id) == 4

    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert _code(
        viewer_request.handler(viewer_request_event("GET", "/media/a.mp4", querystring=f"em_link={tampered}"))
    ) == (
        "403",
        "link_invalid",
    )
    outside = viewer_request.handler(
        viewer_request_event("GET", "/private/a.mp4", querystring=f"em_link={token}")
    )
    assert _code(outside) == ("403", "link_path_denied")
    assert credits.balance(account_id) == 4


def test_suspended_accounts_and_out_of_scope_keys_are_403_and_not_charged(credits: InProcessCredits) -> None:
    account_id = credits.create_account("scoped")
    credits.grant(account_id, 10, "seed-scoped")
    issued = _ok(
        credits,
        "POST",
        f"/v1/accounts/{account_id}/keys",
        {"scope": {"methods": ["GET", "HEAD"], "prefixes": ["/reports/"]}},
    )
    api_key = issued["api_key"]
    allowed = viewer_request.handler(
        viewer_request_event("GET", "/reports/q4.pdf", headers={"x-api-key": api_key})
    )
    assert "status" not in allowed
    upload_headers = {"x-api-key": api_key, "content-length": "10"}
    upload = viewer_request.handler(viewer_request_event("PUT", "/reports/q4.pdf", headers=upload_headers))
    assert _code(upload) == ("403", "key_scope_denied")
    elsewhere = viewer_request.handler(
        viewer_request_event("GET", "/private/x", headers={"x-api-key": api_key})
    )
    assert _code(elsewhere) == ("403", "key_scope_denied")
    _ok(credits, "PATCH", f"/v1/accounts/{account_id}", {"status": "suspended", "reason": "unpaid"})
    suspended = viewer_request.handler(
        viewer_request_event("GET", "/reports/q4.pdf", headers={"x-api-key": api_key})
    )
    assert _code(suspended) == ("403", "account_suspended")
    assert credits.balance(account_id) == 9
