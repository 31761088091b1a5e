"""Home's billing reads with credits regions (issue 15 §5), over the in-memory twins: the ledger
route's pages merge every region by time (each page resumes every region exactly), usage covers
every region and leaves transfers out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from functions.credits.app import CreditsApi
from functions.credits.regions.home_service import HomeRegionalService
from functions.credits.settings import Settings
from tests.integration.credits.events import FakeLambdaContext, Reply, api_event, parse_reply
from tests.unit.credits.service_fakes import START, authorize_request
from tests.unit.regions_wiring.test_runtime import HOME, NEAR, OTHER, Regions


def _home_api(regions: Regions) -> CreditsApi:
    service = HomeRegionalService(
        regions.stores[HOME], Settings(region=HOME), runtime=lambda: regions.runtime, clock=regions.clock
    )
    return CreditsApi(service, Settings(region=HOME))


def _call(api: CreditsApi, path: str, **query: Any) -> Reply:
    return parse_reply(api.handle(api_event("GET", path, query=query or None), FakeLambdaContext()))  # type: ignore[arg-type]


def _busy_regions() -> Regions:
    """Charges in all three regions, interleaved in time, and two transfers."""
    regions = Regions()
    regions.runtime.upkeep()
    for region in (NEAR, OTHER):
        regions.runtime.coordinator.start(regions.account_id, HOME, region, 10)
    for index in range(4):
        for region in (NEAR, OTHER):
            regions.clock.advance(timedelta(seconds=1))
            request = authorize_request(regions.digest, f"{region}-{index}")
            assert regions.apis[region].authorize(request).decision == "allow"
    return regions


def test_ledger_pages_merge_every_region_newest_first_and_resume_exactly() -> None:
    regions = _busy_regions()
    api = _home_api(regions)
    path = f"/v1/accounts/{regions.account_id}/ledger"
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = _call(api, path, limit="3", **({"cursor": cursor} if cursor else {}))
        assert page.status == 200, page.body
        assert len(page.body["entries"]) <= 3
        seen.extend(page.body["entries"])
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    # 1 grant + 2 transfer debits in home, a transfer credit and 4 charges in each region.
    assert len(seen) == 3 + 2 * 5
    assert len({(entry["region"], entry["entry_id"]) for entry in seen}) == len(seen)
    times = [entry["created_at"] for entry in seen]
    assert times == sorted(times, reverse=True)
    assert {
        entry["request_id"] for entry in seen if entry["region"] == NEAR and entry["kind"] == "charge"
    } == {f"{NEAR}-{index}" for index in range(4)}
    # The merged ledger sums to what the account holds everywhere (nothing in flight here).
    assert sum(entry["amount"] for entry in seen) == 1000 - 8


def test_usage_covers_every_region_and_leaves_transfers_out() -> None:
    regions = _busy_regions()
    reply = _call(
        _home_api(regions),
        f"/v1/accounts/{regions.account_id}/usage",
        **{"from": (START - timedelta(days=1)).isoformat(), "to": (START + timedelta(days=1)).isoformat()},
    )
    assert reply.status == 200, reply.body
    assert (reply.body["downloads"], reply.body["credits_spent"]) == (8, 8)
    assert (reply.body["grants"], reply.body["credits_granted"]) == (1, 1000)
    assert reply.body["other_requests"] == 0


def test_a_foreign_cursor_is_refused_like_the_plain_ledgers_not_a_500() -> None:
    regions = _busy_regions()
    reply = _call(_home_api(regions), f"/v1/accounts/{regions.account_id}/ledger", cursor="bm90LWEtY3Vyc29y")
    assert (reply.status, reply.error_code, reply.body["error"]["field"]) == (
        422,
        "validation_error",
        "cursor",
    )


def test_the_merged_ledger_is_a_503_while_a_region_cannot_be_read_never_a_partial_page() -> None:
    regions = _busy_regions()
    regions.stores[OTHER].unavailable = True
    reply = _call(_home_api(regions), f"/v1/accounts/{regions.account_id}/ledger")
    assert (reply.status, reply.error_code) == (503, "service_unavailable")
    assert reply.headers["retry-after"] == "1"
