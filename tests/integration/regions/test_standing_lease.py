"""Revocation reaches every region, or the unreachable one stops charging when its lease lapses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.credits.regions.leases import LEASE, InMemoryLeaseBook, LeaseKeeper, LeaseLapsed
from functions.credits.regions.regional_authorize import RegionalAuthorizer
from functions.credits.store.protocol import CreditsStore
from tests.integration.regions.test_money_across_regions import HOME, REGIONS, World
from tests.unit.credits.service_fakes import authorize_request

CUT_OFF = "ap-northeast-1"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_region_home_cannot_reach_stops_charging_at_the_latest_when_its_lease_lapses() -> None:
    world = World()
    world.grant(100, "fund")
    world.coordinator.start(world.account_id, HOME, CUT_OFF, 50)
    clock = Clock()
    leases = {region: InMemoryLeaseBook() for region in REGIONS if region != HOME}
    keeper = LeaseKeeper({r: s for r, s in world.stores.items() if r != HOME}, leases)
    authorizer = RegionalAuthorizer(
        services=world.services,
        stores=world.stores,
        coordinator=world.coordinator,
        home=HOME,
        leases=leases,
        clock=clock,
    )
    assert sorted(keeper.renew(clock.now)) == sorted(leases)
    doomed = world.stores[HOME].get_key_by_digest(world.doomed_digest)
    assert doomed is not None

    def revoke(store: CreditsStore) -> None:
        store.revoke_key(doomed, clock.now)

    world.stores[HOME].revoke_key(doomed, clock.now)
    world.stores[CUT_OFF].unavailable = True
    leases[CUT_OFF].unavailable = True
    change = keeper.change_standing(revoke, clock.now)
    assert change.change.pending_regions == (CUT_OFF,)
    assert change.holds_everywhere_by == clock.now + LEASE
    # Every reached region refuses the key at once.
    assert authorizer.authorize("us-east-1", authorize_request(world.doomed_digest, "r1")).decision == "deny"
    # The cut-off region's link to home is back but home has not renewed yet; its lease then lapses.
    world.stores[CUT_OFF].unavailable = False
    clock.now += LEASE + timedelta(seconds=1)
    with pytest.raises(LeaseLapsed):
        authorizer.authorize(CUT_OFF, authorize_request(world.doomed_digest, "r2"))
    with pytest.raises(LeaseLapsed):
        authorizer.authorize(CUT_OFF, authorize_request(world.digest, "r3"))
    # Home reaches it: the missed revocation first, then the lease; it charges again, never the key.
    leases[CUT_OFF].unavailable = False
    assert CUT_OFF in keeper.renew(clock.now)
    refused = authorizer.authorize(CUT_OFF, authorize_request(world.doomed_digest, "r4"))
    assert refused.decision == "deny"
    assert authorizer.authorize(CUT_OFF, authorize_request(world.digest, "r5")).decision == "allow"


def test_a_change_every_region_took_holds_at_once() -> None:
    world = World()
    leases = {region: InMemoryLeaseBook() for region in REGIONS if region != HOME}
    keeper = LeaseKeeper({r: s for r, s in world.stores.items() if r != HOME}, leases)
    now = datetime.now(UTC)
    doomed = world.stores[HOME].get_key_by_digest(world.doomed_digest)
    assert doomed is not None
    change = keeper.change_standing(lambda store: store.revoke_key(doomed, now), now)
    assert change.change.pending_regions == ()
    assert change.holds_everywhere_by == now
