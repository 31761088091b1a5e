"""A revocation with a region down, on DynamoDB Local (issue 15 §4): every region home reaches refuses
the key before the call returns; the one it cannot reach (its database cut off for real) is named,
refuses to charge anything once its lease lapses, and after recovery takes the missed revocation
before its lease is renewed, so it never charges the key again."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from functions.credits.regions.leases import LEASE, LeaseBook, LeaseKeeper, LeaseLapsed
from functions.credits.regions.regional_authorize import RegionalAuthorizer
from functions.credits.regions.regional_items import DynamoDBLeaseBook
from functions.credits.store.protocol import CreditsStore
from local.dynamodb_local import DynamoDBLocal
from tests.integration.regions.regional_world import HOME, REGIONS, RegionalWorld, RegionTables, region_tables
from tests.reliability.unreachable import CuttableForwarder
from tests.unit.credits.service_fakes import authorize_request

CUT_OFF = "ap-northeast-1"
REACHED = "us-east-1"


@pytest.fixture(scope="module")
def tables(dynamodb_local_per_region: DynamoDBLocal) -> Iterator[RegionTables]:
    with region_tables(dynamodb_local_per_region) as created:
        yield created


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_region_cut_off_during_a_revocation_stops_charging_when_its_lease_lapses(
    tables: RegionTables,
) -> None:
    target = urlsplit(tables.server.endpoint_url)
    assert target.hostname is not None
    assert target.port is not None
    with CuttableForwarder(target.hostname, target.port) as cut_off_path:
        world = RegionalWorld(
            tables,
            store_endpoints={CUT_OFF: cut_off_path.endpoint_url},
            book_endpoints={CUT_OFF: cut_off_path.endpoint_url},
        )
        world.grant(100, "fund")
        doomed_digest = world.issue_key()
        for region in REGIONS[1:]:
            world.coordinator.start(world.account_id, HOME, region, 30)
        clock = Clock()
        leases: dict[str, LeaseBook] = {
            region: DynamoDBLeaseBook(
                tables.client(region, cut_off_path.endpoint_url if region == CUT_OFF else None),
                tables.settings[region].credits_table,
                # Read on every check: the test's clock jumps past the lease, the book's cache
                # judges freshness by the real time.
                monotonic=itertools.count(step=3600).__next__,
            )
            for region in REGIONS[1:]
        }
        keeper = LeaseKeeper({region: world.stores[region] for region in REGIONS[1:]}, leases)
        authorizer = RegionalAuthorizer(
            services=world.services,
            stores=world.stores,
            coordinator=world.coordinator,
            home=HOME,
            leases=leases,
            clock=clock,
        )
        assert sorted(keeper.renew(clock.now)) == sorted(leases)
        doomed = world.stores[HOME].get_key_by_digest(doomed_digest)
        assert doomed is not None

        def revoke(store: CreditsStore) -> None:
            store.revoke_key(doomed, clock.now)

        world.stores[HOME].revoke_key(doomed, clock.now)
        cut_off_path.cut()
        change = keeper.change_standing(revoke, clock.now)
        # The region home could not reach is named; the change holds everywhere once its lease lapses.
        assert change.change.pending_regions == (CUT_OFF,)
        assert change.holds_everywhere_by == clock.now + LEASE
        refused = authorizer.authorize(REACHED, authorize_request(doomed_digest, "lease-r1"))
        assert refused.decision == "deny"
        # Its link back, but home has not renewed yet: past its lease it charges nothing at all.
        cut_off_path.restore()
        clock.now += LEASE + timedelta(seconds=1)
        with pytest.raises(LeaseLapsed):
            authorizer.authorize(CUT_OFF, authorize_request(doomed_digest, "lease-r2"))
        with pytest.raises(LeaseLapsed):
            authorizer.authorize(CUT_OFF, authorize_request(world.digest, "lease-r3"))
        # Home reaches it: the missed revocation first, then the lease; it charges again, never the key.
        assert CUT_OFF in keeper.renew(clock.now)
        assert authorizer.authorize(CUT_OFF, authorize_request(doomed_digest, "lease-r4")).decision == "deny"
        assert authorizer.authorize(CUT_OFF, authorize_request(world.digest, "lease-r5")).decision == "allow"
        assert world.net_charged()["lease-r2"] == 0
        assert world.net_charged()["lease-r5"] == 1
        assert world.audit().problems == []
