"""Money across three regions on DynamoDB Local (issue 15, Must show), every region's store real.

3 regions x 8 threads charge one account while refills and returns race grants, refunds and a
revocation; some requests lose their reply and are retried in another region, voided in the first
directly (the edge's void) or through a void notice (the void failed too). One region holds the
account over four balance shards (issue 14). Afterwards: the audit is clean across regions, no
shard went below zero, every request id was charged at most once (the retried ones exactly once
when the retry was allowed), and the account's last credit can be spent from any region.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from functions.credits.regions.billing import regional_balance, regional_usage
from functions.credits.regions.refills import SpendRateMeter, plan_refill
from functions.credits.regions.standing import apply_everywhere
from functions.credits.regions.void_notices import APPLY_AFTER, apply_void_notices, post_void_notice
from functions.credits.schemas import RefundRequest
from functions.credits.store.records import KeyState
from local.dynamodb_local import DynamoDBLocal
from tests.integration.regions.regional_world import (
    ALL_TIME,
    HOME,
    REGIONS,
    RegionalWorld,
    RegionTables,
    region_tables,
)
from tests.unit.credits.service_fakes import authorize_request

THREADS_PER_REGION = 8
REQUESTS_PER_THREAD = 6
SPLIT_REGION = "us-east-1"
EDGE_VOID_REASON = "edge_void"


@pytest.fixture(scope="module")
def tables(dynamodb_local_per_region: DynamoDBLocal) -> Iterator[RegionTables]:
    """The regions' tables, shared by this module's tests (each test has accounts of its own)."""
    with region_tables(dynamodb_local_per_region) as created:
        yield created


@dataclass
class Retried:
    """A request whose first attempt's reply was lost; retried in ``second`` after a void."""

    first: str
    second: str
    allowed_again: bool


@dataclass
class RaceLog:
    account_id: str
    allowed_in: Counter[str] = field(default_factory=Counter)
    retried: dict[str, Retried] = field(default_factory=dict)
    lowest_shard: list[int] = field(default_factory=list)
    # Each region's observed spend, which sizes the refills (in AWS: the region's stream consumer).
    meter: SpendRateMeter = field(default_factory=SpendRateMeter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def allowed(self, region: str) -> None:
        self.meter.record(region, self.account_id, 1, datetime.now(UTC))
        with self.lock:
            self.allowed_in[region] += 1


def _viewer(world: RegionalWorld, region: str, doomed: str, log: RaceLog, ids: Iterator[int]) -> None:
    for _ in range(REQUESTS_PER_THREAD):
        number = next(ids)
        request_id = f"{world.account_id}-{region}-{number}"
        digest = doomed if number % 5 == 0 else world.digest
        decision = world.authorizer.authorize(region, authorize_request(digest, request_id))
        if decision.decision != "allow":
            continue
        log.allowed(region)
        if number % 4 == 1:
            _retry_elsewhere(world, region, request_id, log, direct_void=number % 8 == 1)
        elif number % 7 == 0:  # an origin failure: refunded where it was charged
            world.services[region].refund(RefundRequest(request_id=request_id))


def _retry_elsewhere(
    world: RegionalWorld, first: str, request_id: str, log: RaceLog, *, direct_void: bool
) -> None:
    """The edge lost the reply of an attempt that charged in ``first``: it voids there (a refund by
    request id) or, when that fails too, names ``first`` in the retry, which posts a void notice."""
    second = REGIONS[(REGIONS.index(first) + 1) % len(REGIONS)]
    if direct_void:
        world.services[first].refund(RefundRequest(request_id=request_id, reason=EDGE_VOID_REASON))
    else:
        post_void_notice(world.notices, request_id, first, second)
    retry = authorize_request(world.digest, request_id, retry_of_region=None if direct_void else first)
    decision = world.authorizer.authorize(second, retry)
    with log.lock:
        log.retried[request_id] = Retried(first, second, decision.decision == "allow")
    if decision.decision == "allow":
        log.allowed(second)


def _refiller(world: RegionalWorld, log: RaceLog, stop: threading.Event) -> None:
    """Refills ahead of need, and returns home from regions that have not spent (idle)."""
    meter = log.meter
    while not stop.is_set():
        now = datetime.now(UTC)
        for region in REGIONS[1:]:
            last = meter.last_spend(region, world.account_id)
            move = plan_refill(
                home=HOME,
                region=region,
                region_balance=world.stores[region].get_balance(world.account_id) or 0,
                home_balance=world.stores[HOME].get_balance(world.account_id) or 0,
                rate_per_second=meter.rate(region, world.account_id, now),
                idle_for=(now - last) if last is not None else timedelta(hours=1),
            )
            if move.amount > 0:
                world.coordinator.start(world.account_id, move.source, move.target, move.amount)
        lowest = min(balance for shards in world.shard_balances().values() for balance in shards)
        with log.lock:
            log.lowest_shard.append(lowest)


def _race(world: RegionalWorld, doomed: str) -> RaceLog:
    log = RaceLog(account_id=world.account_id)
    ids = itertools.count()
    stop = threading.Event()

    def viewer(region: str) -> None:
        _viewer(world, region, doomed, log, ids)

    def granter() -> None:
        for index in range(10):
            world.grant(50, f"racing-{index}")

    def revoker() -> None:
        key = world.stores[HOME].get_key_by_digest(doomed)
        assert key is not None
        change = apply_everywhere(world.stores, lambda store: store.revoke_key(key, datetime.now(UTC)))
        assert change.pending_regions == ()

    threads = [threading.Thread(target=viewer, args=(r,)) for r in REGIONS for _ in range(THREADS_PER_REGION)]
    threads += [threading.Thread(target=granter), threading.Thread(target=revoker)]
    refill_thread = threading.Thread(target=_refiller, args=(world, log, stop))
    refill_thread.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    refill_thread.join()
    return log


def test_three_regions_eight_threads_on_dynamodb_local(tables: RegionTables) -> None:
    world = RegionalWorld(tables)
    world.grant(400, "initial")
    doomed = world.issue_key()
    world.coordinator.start(world.account_id, HOME, SPLIT_REGION, 40)
    world.split(SPLIT_REGION, 4)

    log = _race(world, doomed)

    # The void notices reach their regions, which refund once they are old enough.
    later = datetime.now(UTC) + APPLY_AFTER + timedelta(seconds=1)
    for region in REGIONS:
        apply_void_notices(world.notices, region, world.stores[region], later)
    world.write_ledgers(SPLIT_REGION)

    audit = world.audit()
    assert audit.problems == []
    assert audit.in_flight == 0
    # No shard went below zero: sampled throughout the race, and as left.
    assert log.lowest_shard
    assert min(log.lowest_shard) >= 0
    shards = world.shard_balances()
    assert len(shards[SPLIT_REGION]) == 4
    assert all(balance >= 0 for region_shards in shards.values() for balance in region_shards)
    # What was granted is held, in flight, or spent; every region charged viewers.
    balance = regional_balance(world.stores, world.coordinator, world.account_id)
    spent = sum(regional_usage(world.stores, world.account_id, start=ALL_TIME[0], end=ALL_TIME[1]).values())
    assert balance.total == 400 + 500 - spent
    assert all(log.allowed_in[region] > 0 for region in REGIONS)
    # Every request id charged at most once; a retried one exactly once when its retry was allowed.
    net = world.net_charged()
    assert all(0 <= credits <= 1 for credits in net.values())
    assert log.retried
    assert any(SPLIT_REGION in (retried.first, retried.second) for retried in log.retried.values())
    for request_id, retried in log.retried.items():
        assert net[request_id] == (1 if retried.allowed_again else 0), (request_id, retried)
    # The revoked key is refused in every region.
    for region in REGIONS:
        key = world.stores[region].get_key_by_digest(doomed)
        assert key is not None
        assert key.status is KeyState.REVOKED
        assert (
            world.authorizer.authorize(region, authorize_request(doomed, f"late-{region}")).decision == "deny"
        )


@pytest.mark.parametrize("spender", REGIONS)
def test_the_last_credit_can_be_spent_from_any_region(tables: RegionTables, spender: str) -> None:
    world = RegionalWorld(tables)
    world.grant(3, "fund")
    # One credit in each region, the third in home.
    world.coordinator.start(world.account_id, HOME, "us-east-1", 1)
    world.coordinator.start(world.account_id, HOME, "ap-northeast-1", 1)
    decisions = [
        world.authorizer.authorize(spender, authorize_request(world.digest, f"last-{spender}-{index}"))
        for index in range(4)
    ]
    assert [decision.decision for decision in decisions] == ["allow", "allow", "allow", "deny"]
    assert decisions[-1].reason == "insufficient_credits"
    assert world.stores[spender].get_balance(world.account_id) == 0
    assert regional_balance(world.stores, world.coordinator, world.account_id).total == 0
    assert world.audit().problems == []
