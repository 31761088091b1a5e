"""Issue 11 through the API on DynamoDB Local: a Range is charged by its bytes, and the ledger
and usage record the bytes every download served.

The catalog is a fake that knows one 5 MiB object; downloads cost 1 + 1 per started MiB.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.catalog.authorize_guard import CatalogVerdict
from functions.credits.app import CreditsApi
from functions.credits.service import CreditsService, NoTelemetry
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.shared.api_keys import hash_api_key
from tests.integration.credits.conftest import Caller
from tests.integration.credits.events import FakeLambdaContext, Reply, api_event, parse_reply
from tests.unit.credits.service_fakes import MIB, PER_MIB_PRICING, FakeCatalog

VIDEO = "/objects/video.mp4"
SIZE = 5 * MIB


@pytest.fixture
def priced_call(credits_settings: Settings) -> Caller:
    settings = credits_settings.model_copy(update={"pricing": PER_MIB_PRICING})
    catalog = FakeCatalog(verdicts={VIDEO: CatalogVerdict(object_size=SIZE)})
    service = CreditsService(
        DynamoDBCreditsStore(settings), settings, telemetry=NoTelemetry(), catalog=catalog
    )
    api = CreditsApi(service, settings)

    def invoke(method: str, path: str, body: Any = None, **options: Any) -> Reply:
        return parse_reply(api.handle(api_event(method, path, body, **options), FakeLambdaContext()))  # type: ignore[arg-type]

    return invoke


def download(call: Caller, api_key: str, request_id: str, **fields: Any) -> dict[str, Any]:
    body = {"key_digest": hash_api_key(api_key), "request_id": request_id, "method": "GET", "path": VIDEO}
    reply = call("POST", "/v1/authorize", body | fields)
    assert reply.status == 200, reply
    decision: dict[str, Any] = reply.body
    return decision


def test_ranges_are_charged_and_recorded_by_the_bytes_they_serve(
    priced_call: Caller, funded_key: Any
) -> None:
    account_id, api_key = funded_key(100)
    start = datetime.now(UTC)

    assert download(priced_call, api_key, "range-1", range="bytes=0-1023")["charged"] == 2
    assert download(priced_call, api_key, "suffix-1", range="bytes=-1048577")["charged"] == 3
    assert download(priced_call, api_key, "whole-1")["charged"] == 6
    assert download(priced_call, api_key, "head-1", method="HEAD")["charged"] == 1
    refused = download(priced_call, api_key, "past-end-1", range=f"bytes={SIZE}-")
    assert (refused["decision"], refused["reason"], refused["charged"]) == (
        "deny",
        "range_not_satisfiable",
        0,
    )

    ledger = priced_call("GET", f"/v1/accounts/{account_id}/ledger", query={"limit": "10"}).body["entries"]
    recorded = {entry["request_id"]: entry["bytes"] for entry in ledger if entry["kind"] == "charge"}
    assert recorded == {"range-1": 1024, "suffix-1": MIB + 1, "whole-1": SIZE, "head-1": 0}
    end = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    usage = priced_call(
        "GET", f"/v1/accounts/{account_id}/usage", query={"from": start.isoformat(), "to": end}
    ).body
    assert (usage["downloads"], usage["bytes"], usage["credits_spent"]) == (4, 1024 + MIB + 1 + SIZE, 12)
    assert priced_call("GET", f"/v1/accounts/{account_id}").body["balance"] == 88
