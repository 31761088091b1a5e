"""Faults across regions on DynamoDB Local (issue 15, Must show), every region's store real.

- A region's tables become unreachable in the middle of a transfer (a forwarder in front of that
  region's database is cut: the clients meet refused connections): meanwhile the transfer is in
  flight, visibly; after recovery the retrier completes it, or reverses it.
- Home is down: the regions keep charging from their shards, and grants wait (503, Retry-After).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from bench.inprocess import BILLING_CALLER
from functions.credits.app import CreditsApi
from functions.credits.regions.billing import regional_balance
from functions.credits.regions.transfers import SETTLE_AFTER, TransferCoordinator, TransferState
from functions.credits.schemas import Decision
from functions.credits.store.errors import StoreUnavailable
from local.apigateway import (
    IncomingRequest,
    LocalLambdaContext,
    ProxyResponse,
    build_proxy_event,
    parse_proxy_response,
)
from local.dynamodb_local import DynamoDBLocal
from tests.integration.regions.regional_world import HOME, RegionalWorld, RegionTables, region_tables
from tests.reliability.unreachable import CuttableForwarder
from tests.unit.credits.service_fakes import authorize_request

TOKYO = "ap-northeast-1"
VIRGINIA = "us-east-1"
# Tokyo's store and Tokyo's transfer book, each behind a forwarder of its own.
Forwarders = tuple[CuttableForwarder, CuttableForwarder]


@pytest.fixture(scope="module")
def tables(dynamodb_local_per_region: DynamoDBLocal) -> Iterator[RegionTables]:
    with region_tables(dynamodb_local_per_region) as created:
        yield created


@pytest.fixture
def forwarders(tables: RegionTables) -> Iterator[Forwarders]:
    """Tokyo's store and Tokyo's transfer book, each behind a forwarder of its own."""
    target = urlsplit(tables.server.endpoint_url)
    assert target.hostname is not None
    assert target.port is not None
    with (
        CuttableForwarder(target.hostname, target.port) as store_path,
        CuttableForwarder(target.hostname, target.port) as book_path,
    ):
        yield store_path, book_path


def _tokyo_behind(
    tables: RegionTables, forwarders: tuple[CuttableForwarder, CuttableForwarder]
) -> RegionalWorld:
    store_path, book_path = forwarders
    return RegionalWorld(
        tables,
        store_endpoints={TOKYO: store_path.endpoint_url},
        book_endpoints={TOKYO: book_path.endpoint_url},
    )


def _later(world: RegionalWorld, seconds: float) -> TransferCoordinator:
    """The retrier as it runs ``seconds`` from now (its clock decides what is old enough)."""
    at = datetime.now(UTC) + timedelta(seconds=seconds)
    return TransferCoordinator(world.coordinator.regions, clock=lambda: at)


def test_tables_unreachable_before_the_claim_then_the_transfer_completes(
    tables: RegionTables, forwarders: Forwarders
) -> None:
    world = _tokyo_behind(tables, forwarders)
    world.grant(100, "fund")
    for path in forwarders:
        path.cut()
    sent = world.coordinator.start(world.account_id, HOME, TOKYO, 40)
    # Debited in home; Tokyo's book could not be asked: in flight, and seen so meanwhile.
    assert sent.state is TransferState.SENT
    assert world.stores[HOME].get_balance(world.account_id) == 60
    assert [record.amount for record in world.coordinator.in_flight(world.account_id)] == [40]
    # The retrier cannot finish it while Tokyo is unreachable: it stays in flight, nothing guessed.
    (still,) = _later(world, SETTLE_AFTER.total_seconds() + 1).settle(HOME)
    assert still.state is TransferState.SENT
    for path in forwarders:
        path.restore()
    audit = world.audit()
    assert audit.problems == []
    assert audit.in_flight == 40
    (done,) = _later(world, SETTLE_AFTER.total_seconds() + 1).settle(HOME)
    assert done.state is TransferState.DONE
    after = regional_balance(world.stores, world.coordinator, world.account_id)
    assert after.by_region[TOKYO] == 40
    assert after.in_flight == 0
    assert after.total == 100
    assert world.audit().problems == []


def test_tables_unreachable_between_the_claim_and_the_credit_then_the_transfer_completes(
    tables: RegionTables, forwarders: Forwarders
) -> None:
    """Tokyo's book answers (the claim is written), its balances do not (the credit fails)."""
    world = _tokyo_behind(tables, forwarders)
    world.grant(100, "fund")
    store_path, _ = forwarders
    store_path.cut()
    sent = world.coordinator.start(world.account_id, HOME, TOKYO, 25)
    assert sent.state is TransferState.SENT
    claimed = world.books[TOKYO].get(sent.transfer_id)
    assert claimed is not None
    assert claimed.state is TransferState.RECEIVING
    assert [record.amount for record in world.coordinator.in_flight(world.account_id)] == [25]
    store_path.restore()
    # Claimed by Tokyo first, so even a retrier told to reverse completes it (the arbiter's word).
    (done,) = _later(world, 3600).settle(HOME, reverse_after=timedelta(minutes=5))
    assert done.state is TransferState.DONE
    assert world.stores[TOKYO].get_balance(world.account_id) == 25
    audit = world.audit()
    assert audit.problems == []
    assert audit.in_flight == 0


def test_tables_unreachable_for_long_then_the_transfer_is_reversed(
    tables: RegionTables, forwarders: Forwarders
) -> None:
    world = _tokyo_behind(tables, forwarders)
    world.grant(100, "fund")
    for path in forwarders:
        path.cut()
    sent = world.coordinator.start(world.account_id, HOME, TOKYO, 30)
    # Past the reversal age, but the arbiter (Tokyo's book) cannot be asked: still in flight.
    (pending,) = _later(world, 600).settle(HOME, reverse_after=timedelta(minutes=5))
    assert pending.state is TransferState.SENT
    assert [record.amount for record in world.coordinator.in_flight(world.account_id)] == [30]
    for path in forwarders:
        path.restore()
    (reversed_transfer,) = _later(world, 600).settle(HOME, reverse_after=timedelta(minutes=5))
    assert reversed_transfer.state is TransferState.REVERSED
    cancelled = world.books[TOKYO].get(sent.transfer_id)
    assert cancelled is not None
    assert cancelled.state is TransferState.CANCELLED
    assert regional_balance(world.stores, world.coordinator, world.account_id).by_region == {
        HOME: 100,
        VIRGINIA: 0,
        TOKYO: 0,
    }
    audit = world.audit()
    assert audit.problems == []
    assert audit.in_flight == 0


def _grant_call(world: RegionalWorld, api: CreditsApi, idempotency_key: str) -> ProxyResponse:
    """POST /v1/accounts/{id}/grants to home's credits API (in process), as billing staff call it."""
    event = build_proxy_event(
        IncomingRequest(
            method="POST",
            path=f"/v1/accounts/{world.account_id}/grants",
            query=(),
            headers=(("content-type", "application/json"), ("host", "127.0.0.1")),
            body=json.dumps({"amount": 5, "reason": "top-up", "idempotency_key": idempotency_key}).encode(),
            source_ip="127.0.0.1",
            host="127.0.0.1",
            caller=BILLING_CALLER,
        )
    )
    context: Any = LocalLambdaContext()  # the fields of Lambda's context the handler reads
    return parse_proxy_response(api.handle(event, context))


def test_home_down_regions_keep_charging_from_their_shards_and_grants_wait(tables: RegionTables) -> None:
    target = urlsplit(tables.server.endpoint_url)
    assert target.hostname is not None
    assert target.port is not None
    with CuttableForwarder(target.hostname, target.port) as home_path:
        world = RegionalWorld(tables, store_endpoints={HOME: home_path.endpoint_url})
        home_api = CreditsApi(world.services[HOME], tables.settings[HOME])
        world.grant(20, "fund")
        world.coordinator.start(world.account_id, HOME, VIRGINIA, 5)
        world.coordinator.start(world.account_id, HOME, TOKYO, 3)
        world.split(VIRGINIA, 2)
        home_path.cut()

        def authorize(index: int) -> Decision:
            return world.authorizer.authorize(VIRGINIA, authorize_request(world.digest, f"home-down-{index}"))

        # Virginia charges from its two shards; dry, it gathers from Tokyo (home unreachable).
        assert [authorize(index).decision for index in range(8)] == ["allow"] * 8
        assert world.stores[VIRGINIA].get_balance(world.account_id) == 0
        assert world.stores[TOKYO].get_balance(world.account_id) == 0
        # Every region reachable is dry, home may hold credit: not a denial but a 503 (failover).
        with pytest.raises(StoreUnavailable):
            authorize(8)
        # Grants wait: a clear 503 with Retry-After, nothing granted.
        refused = _grant_call(world, home_api, "while-home-down")
        assert refused.status == 503
        assert int(dict(refused.headers)["Retry-After"]) >= 1
        assert json.loads(refused.body)["error"]["code"] == "service_unavailable"

        home_path.restore()
        # The same grant, repeated once home answers, is applied once.
        for _ in range(2):
            granted = _grant_call(world, home_api, "while-home-down")
            assert granted.status in (200, 201)
        assert authorize(8).decision == "allow"
        world.write_ledgers(VIRGINIA)
        audit = world.audit()
        assert audit.problems == []
        assert audit.in_flight == 0
        assert regional_balance(world.stores, world.coordinator, world.account_id).total == 20 + 5 - 9
