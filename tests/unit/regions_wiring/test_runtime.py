"""The regional runtime wired over the in-memory twins: a credits region's API authorizes through the
regional authorizer (gathers when dry, notes the account), and home's upkeep refills ahead of need,
returns idle credit, settles transfers and renews leases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from functions.credits.app import CreditsApi
from functions.credits.regions.leases import InMemoryLeaseBook, LeaseLapsed
from functions.credits.regions.refills import IDLE_AFTER, REFILL
from functions.credits.regions.regional_items import InMemoryRegionalAccounts
from functions.credits.regions.routes import account_regions, regions_router
from functions.credits.regions.runtime import (
    RegionalEdgeService,
    RegionalRuntime,
    RegionDry,
    RegionHandles,
)
from functions.credits.regions.transfers import InMemoryTransferBook, TransferState
from functions.credits.regions.upkeep_event import is_regional_upkeep_event
from functions.credits.schemas import CreateAccountRequest, GrantRequest, IssueKeyRequest
from functions.credits.settings import Settings
from functions.credits.store.memory import InMemoryCreditsStore
from functions.shared.api_keys import hash_api_key
from tests.integration.credits.events import FakeLambdaContext, Reply, api_event, parse_reply
from tests.unit.credits.service_fakes import FakeClock, Harness, authorize_request

HOME = "eu-west-1"
NEAR = "ap-northeast-1"
OTHER = "us-east-1"


class Regions:
    """Home and two credits regions on the twins, one clock, the account replicated everywhere."""

    def __init__(self, funded: int = 1000) -> None:
        self.clock = FakeClock()
        self.harnesses = {r: Harness(clock=self.clock) for r in (HOME, NEAR, OTHER)}
        self.stores: dict[str, InMemoryCreditsStore] = {r: h.store for r, h in self.harnesses.items()}
        self.leases = {r: InMemoryLeaseBook() for r in (NEAR, OTHER)}
        self.registries = {r: InMemoryRegionalAccounts() for r in (NEAR, OTHER)}
        handles = {
            region: RegionHandles(
                store=store,
                book=InMemoryTransferBook(),
                lease=self.leases.get(region),
                accounts=self.registries.get(region),
            )
            for region, store in self.stores.items()
        }
        self.runtime = RegionalRuntime(home=HOME, handles=handles, clock=self.clock.now)
        self.account_id = self._create(funded)
        self.apis = {
            region: RegionalEdgeService(
                self.stores[region],
                Settings(region=region),
                runtime=lambda: self.runtime,
                clock=self.clock,
            )
            for region in (NEAR, OTHER)
        }

    def _create(self, funded: int) -> str:
        service = self.harnesses[HOME].service()
        account = service.create_account(CreateAccountRequest(name="acme"))
        service.grant(account.account_id, GrantRequest(amount=funded, reason="fund", idempotency_key="fund"))
        issued = service.issue_key(account.account_id, IssueKeyRequest())
        self.digest = hash_api_key(issued.api_key)
        # What the users global table gives every credits region: the account and its keys.
        record = self.stores[HOME].get_account(account.account_id)
        assert record is not None
        for region in (NEAR, OTHER):
            self.stores[region].create_account(record)
            for key in self.stores[HOME].list_keys(account.account_id, 10, None).items:
                self.stores[region].put_key(key)
        return account.account_id

    def balance(self, region: str) -> int:
        return self.stores[region].get_balance(self.account_id) or 0


def test_the_upkeep_event_is_recognised_and_nothing_else() -> None:
    assert is_regional_upkeep_event({"edgemeter": "regional_upkeep"})
    assert not is_regional_upkeep_event({"edgemeter": "apply_void_notices"})
    assert not is_regional_upkeep_event({"httpMethod": "GET"})


def test_a_dry_region_answers_503_notes_the_ask_and_home_refills_it_ahead_of_need() -> None:
    regions = Regions()
    regions.runtime.upkeep()  # renews every lease
    with pytest.raises(RegionDry):
        regions.apis[NEAR].authorize(authorize_request(regions.digest, "r1"))
    # Nothing charged anywhere (the edge fails over to home); the ask is noted for the upkeep.
    assert (regions.balance(HOME), regions.balance(NEAR)) == (1000, 0)
    assert regions.registries[NEAR].noted()[regions.account_id].asked == 1
    assert regions.account_id not in regions.registries[OTHER].noted()
    report = regions.runtime.upkeep()
    # One credit asked in the last minute is a rate of 1/60 per second: 120 s of it, + 1.
    assert [(m.source_region, m.target_region, m.amount) for m in report.moves] == [(HOME, NEAR, 3)]
    assert regions.registries[NEAR].noted()[regions.account_id].asked == 0
    assert regions.apis[NEAR].authorize(authorize_request(regions.digest, "r2")).decision == "allow"
    assert (regions.balance(HOME), regions.balance(NEAR)) == (997, 2)


def test_without_a_lease_a_region_refuses_so_the_edge_fails_over() -> None:
    regions = Regions()
    with pytest.raises(LeaseLapsed):
        regions.apis[NEAR].authorize(authorize_request(regions.digest, "r1"))
    assert regions.balance(HOME) == 1000


def test_home_refills_a_busy_region_from_its_observed_rate_then_it_charges_locally() -> None:
    regions = Regions()
    regions.runtime.upkeep()
    regions.runtime.coordinator.start(regions.account_id, HOME, NEAR, 40)
    regions.registries[NEAR].note(regions.account_id, regions.clock.now())
    for index in range(30):
        request = authorize_request(regions.digest, f"r{index}")
        assert regions.apis[NEAR].authorize(request).decision == "allow"
        regions.clock.advance(timedelta(seconds=1))
    assert (regions.balance(HOME), regions.balance(NEAR)) == (960, 10)
    report = regions.runtime.upkeep()
    # 30 credits in the last 60 s: 0.5/s, 10 left is under 60 s of it; a refill carries 120 s (+1).
    assert [(m.source_region, m.target_region, m.amount) for m in report.moves] == [
        (HOME, NEAR, int(0.5 * REFILL.total_seconds()) + 1)
    ]
    assert report.moves[0].state is TransferState.DONE
    assert (regions.balance(HOME), regions.balance(NEAR)) == (899, 71)
    # The next request is served from the region's own shards: home's balance does not move.
    assert regions.apis[NEAR].authorize(authorize_request(regions.digest, "local")).decision == "allow"
    assert (regions.balance(HOME), regions.balance(NEAR)) == (899, 70)


def test_an_idle_region_returns_its_credit_home_and_is_forgotten() -> None:
    regions = Regions()
    regions.runtime.upkeep()
    regions.runtime.coordinator.start(regions.account_id, HOME, NEAR, 40)
    regions.registries[NEAR].note(regions.account_id, regions.clock.now())
    regions.clock.advance(IDLE_AFTER + timedelta(seconds=1))
    report = regions.runtime.upkeep()
    assert [(m.source_region, m.target_region, m.amount) for m in report.moves] == [(NEAR, HOME, 40)]
    assert regions.balance(NEAR) == 0
    assert regions.balance(HOME) == 1000
    assert regions.registries[NEAR].noted() == {}


def test_upkeep_settles_a_stuck_transfer_once_its_target_is_back() -> None:
    regions = Regions()
    regions.stores[NEAR].unavailable = True
    record = regions.runtime.coordinator.start(regions.account_id, HOME, NEAR, 25)
    assert record.state is TransferState.SENT
    split = account_regions(regions.runtime, regions.account_id)
    # The region down is named and its share left out, never guessed; the money in flight is shown.
    assert (split.balance, split.in_flight, [t.amount for t in split.transfers]) == (1000, 25, [25])
    assert (split.complete, split.unreachable_regions) == (False, [NEAR])
    regions.stores[NEAR].unavailable = False
    regions.clock.advance(timedelta(seconds=31))
    report = regions.runtime.upkeep()
    assert [r.state for r in report.settled] == [TransferState.DONE]
    split = account_regions(regions.runtime, regions.account_id)
    assert (split.in_flight, split.complete) == (0, True)
    by_region = {r.region: r.balance for r in split.regions}
    assert by_region == {HOME: 975, NEAR: 25, OTHER: 0}
    assert split.balance == 1000


def test_a_region_home_cannot_reach_is_reported_and_keeps_its_old_lease() -> None:
    regions = Regions()
    regions.runtime.upkeep()
    first = regions.leases[OTHER].lease_until()
    regions.leases[OTHER].unavailable = True
    regions.stores[OTHER].unavailable = True
    regions.clock.advance(timedelta(seconds=20))
    report = regions.runtime.upkeep()
    assert report.renewed == [NEAR]
    assert OTHER in report.unreachable
    assert regions.leases[OTHER].lease_until() == first


def test_home_api_serves_the_split_and_a_region_api_refuses_with_503_when_cut_off() -> None:
    regions = Regions()
    home_service = regions.harnesses[HOME].service()
    home_api = CreditsApi(home_service, Settings(region=HOME))
    home_api.resolver.include_router(regions_router(home_service, lambda: regions.runtime))
    near_api = CreditsApi(regions.apis[NEAR], Settings(region=NEAR))

    def call(api: CreditsApi, method: str, path: str, body: Any = None) -> Reply:
        return parse_reply(api.handle(api_event(method, path, body), FakeLambdaContext()))  # type: ignore[arg-type]

    authorize = {"key_digest": regions.digest, "request_id": "cut-off", "method": "GET", "path": "/a"}
    refused = call(near_api, "POST", "/v1/authorize", authorize)
    # No lease yet: the region must not charge; the edge fails over on the 503.
    assert (refused.status, refused.error_code) == (503, "service_unavailable")
    regions.runtime.upkeep()
    # Leased but dry: 503 again (the edge goes on to home), and the ask is noted.
    assert call(near_api, "POST", "/v1/authorize", authorize).status == 503
    regions.runtime.upkeep()
    assert call(near_api, "POST", "/v1/authorize", authorize).body["decision"] == "allow"
    split = call(home_api, "GET", f"/v1/accounts/{regions.account_id}/regions")
    assert split.status == 200
    assert split.body["balance"] == 999
    assert {r["region"]: r["balance"] for r in split.body["regions"]} == {HOME: 997, NEAR: 2, OTHER: 0}
    missing = call(home_api, "GET", "/v1/accounts/acct_00000000000000000000/regions")
    assert missing.status == 404


def test_asks_of_an_account_short_everywhere_are_counted_once_not_piled_up() -> None:
    regions = Regions(funded=1)
    regions.runtime.upkeep()
    near = regions.apis[NEAR]
    for index in range(5):
        with pytest.raises(RegionDry):
            near.authorize(authorize_request(regions.digest, f"dry-{index}", path=f"/p{index}"))
    # Home holds 1 credit: the refill is bounded by it, and the five asks are spent on this round.
    report = regions.runtime.upkeep()
    assert [(m.source_region, m.target_region, m.amount) for m in report.moves] == [(HOME, NEAR, 1)]
    assert regions.registries[NEAR].noted()[regions.account_id].asked == 0
