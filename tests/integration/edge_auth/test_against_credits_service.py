"""The edge handlers against the real credits service (its API resolver on DynamoDB Local).

The unit tests use a fake of the contract; here the decisions come from the
credits code itself, called in-process through the edge's transport seam
(``bench.inprocess.HandlerTransport``), so the CDN table rows that the service
implements today are checked end to end: allow with charge, replay, 402 with
balance and price, 403 for unknown and revoked keys, refund of an origin 5xx, and a
Range charged by its bytes (416, free, past the end).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bench.inprocess import HandlerTransport, InProcessCredits
from functions.catalog.authorize_guard import CatalogVerdict
from functions.credits.app import CreditsApi
from functions.credits.data.tables import create_tables, delete_tables
from functions.credits.service import CreditsService
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.edge_auth import origin_response, runtime, viewer_request
from functions.edge_auth.settings import CreditsApiSettings, EdgeSettings
from functions.shared.sigv4 import static_credentials
from local.dynamodb_local import DynamoDBLocal
from tests.unit.credits.service_fakes import MIB, PER_MIB_PRICING, FakeCatalog
from tests.unit.edge_auth.events import (
    new_request_id,
    origin_response_event,
    response_header,
    viewer_request_event,
)

pytestmark = pytest.mark.dynamodb


@dataclass
class RealCredits:
    credits: InProcessCredits
    transport: HandlerTransport


@pytest.fixture
def real_credits(dynamodb_local: DynamoDBLocal) -> Iterator[RealCredits]:
    suffix = secrets.token_hex(4)
    settings = Settings.model_validate(
        {
            "users_table": f"edge-users-{suffix}",
            "credits_table": f"edge-credits-{suffix}",
            "dynamodb_endpoint": dynamodb_local.endpoint_url,
        }
    )
    create_tables(settings)
    credits = InProcessCredits(
        CreditsApi(CreditsService(DynamoDBCreditsStore(settings), settings), settings).handle
    )
    transport = HandlerTransport(credits)
    runtime.configure(
        EdgeSettings(credits_api=CreditsApiSettings(url="https://credits.invalid/prod", region="us-east-1")),
        transport=transport,
        credentials_loader=lambda: static_credentials("AKIDEDGE", "edge-secret"),
    )
    try:
        yield RealCredits(credits=credits, transport=transport)
    finally:
        runtime.reset_runtime()
        delete_tables(settings)


def error_of(response: dict[str, object]) -> dict[str, object]:
    document = json.loads(str(response["body"]))
    error: dict[str, object] = document["error"]
    return error


def test_allow_charges_once_and_a_failed_origin_is_refunded(real_credits: RealCredits) -> None:
    account_id, api_key = real_credits.credits.funded_key("edge-allow", 5)
    request_id = new_request_id()
    event = viewer_request_event(
        "GET", "/bucket/file.bin", headers={"x-api-key": api_key}, request_id=request_id
    )

    forwarded = viewer_request.handler(event)
    replayed = viewer_request.handler(
        viewer_request_event("GET", "/bucket/file.bin", headers={"x-api-key": api_key}, request_id=request_id)
    )

    assert "x-api-key" not in forwarded["headers"]
    assert response_header(forwarded, "x-edgemeter-account") == account_id
    assert response_header(forwarded, "x-edgemeter-charged") == "1"
    assert "status" not in replayed
    assert real_credits.credits.balance(account_id) == 4

    response = origin_response.handler(origin_response_event(forwarded, 503))
    assert response_header(response, "x-edgemeter-refunded") == "1"
    assert response_header(response, "cache-control") == "no-store"
    assert real_credits.credits.balance(account_id) == 5


def test_not_enough_credits_is_402_with_the_services_balance_and_price(real_credits: RealCredits) -> None:
    account_id, api_key = real_credits.credits.funded_key("edge-poor", 2)
    event = viewer_request_event(
        "PUT", "/bucket/big.bin", headers={"x-api-key": api_key, "content-length": str(4 * 1024 * 1024)}
    )
    response = viewer_request.handler(event)
    assert response["status"] == "402"
    error = error_of(response)
    assert (error["code"], error["balance"], error["price"]) == ("insufficient_credits", 2, 5)
    assert real_credits.credits.balance(account_id) == 2


def test_unknown_and_revoked_keys_are_403(real_credits: RealCredits) -> None:
    account_id, api_key = real_credits.credits.funded_key("edge-revoked", 5)
    unknown = viewer_request.handler(viewer_request_event(headers={"x-api-key": "em_" + "u" * 43}))
    assert (unknown["status"], error_of(unknown)["code"]) == ("403", "invalid_api_key")

    status, keys = real_credits.credits.call("GET", f"/v1/accounts/{account_id}/keys")
    assert status == 200
    (key,) = keys["keys"]
    revoke_status, _ = real_credits.credits.call("DELETE", f"/v1/accounts/{account_id}/keys/{key['key_id']}")
    assert revoke_status in {200, 204}
    revoked = viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key}))
    assert (revoked["status"], error_of(revoked)["code"]) == ("403", "revoked_api_key")
    assert real_credits.credits.balance(account_id) == 5


@pytest.fixture
def priced_credits(dynamodb_local: DynamoDBLocal) -> Iterator[RealCredits]:
    """The real service priced per started MiB, with a catalog that knows one 5 MiB object."""
    suffix = secrets.token_hex(4)
    settings = Settings.model_validate(
        {
            "users_table": f"edge-users-{suffix}",
            "credits_table": f"edge-credits-{suffix}",
            "dynamodb_endpoint": dynamodb_local.endpoint_url,
        }
    ).model_copy(update={"pricing": PER_MIB_PRICING})
    create_tables(settings)
    catalog = FakeCatalog(verdicts={"/media/video.mp4": CatalogVerdict(object_size=5 * MIB)})
    credits = InProcessCredits(
        CreditsApi(CreditsService(DynamoDBCreditsStore(settings), settings, catalog=catalog), settings).handle
    )
    transport = HandlerTransport(credits)
    runtime.configure(
        EdgeSettings(credits_api=CreditsApiSettings(url="https://credits.invalid/prod", region="us-east-1")),
        transport=transport,
        credentials_loader=lambda: static_credentials("AKIDEDGE", "edge-secret"),
    )
    try:
        yield RealCredits(credits=credits, transport=transport)
    finally:
        runtime.reset_runtime()
        delete_tables(settings)


def test_ranges_through_the_edge_are_charged_by_their_bytes_and_416_is_free(
    priced_credits: RealCredits,
) -> None:
    account_id, api_key = priced_credits.credits.funded_key("edge-ranges", 20)

    def get(range_header: str) -> dict[str, object]:
        return viewer_request.handler(
            viewer_request_event(
                "GET", "/media/video.mp4", headers={"x-api-key": api_key, "range": range_header}
            )
        )

    assert response_header(get("bytes=0-1023"), "x-edgemeter-charged") == "2"
    assert response_header(get("bytes=-1048577"), "x-edgemeter-charged") == "3"
    refused = get(f"bytes={5 * MIB}-")
    assert (refused["status"], error_of(refused)["code"]) == ("416", "range_not_satisfiable")
    assert response_header(refused, "content-range") == f"bytes */{5 * MIB}"
    assert priced_credits.credits.balance(account_id) == 15
