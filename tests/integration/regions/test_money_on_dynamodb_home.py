"""The three-region race again with home on DynamoDB Local (the credits regions on the in-memory
twin: ``DynamoDBCreditsStore`` binds one region's tables per process, see docs/decisions.md)."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from functions.credits.data.tables import create_tables, delete_tables
from functions.credits.regions.billing import regional_audit
from functions.credits.regions.refills import SpendRateMeter, plan_refill
from functions.credits.regions.regional_authorize import RegionalAuthorizer
from functions.credits.regions.transfers import InMemoryTransferBook, RegionLedgers, TransferCoordinator
from functions.credits.schemas import GrantRequest, IssueKeyRequest, RefundRequest
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.memory import InMemoryCreditsStore
from functions.credits.store.protocol import CreditsStore
from functions.shared.api_keys import hash_api_key
from local.dynamodb_local import DynamoDBLocal
from tests.contract.credits.conftest import local_credentials
from tests.unit.credits.service_fakes import Harness, authorize_request

HOME = "eu-west-1"
REGIONS = (HOME, "us-east-1", "ap-northeast-1")
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


@pytest.fixture
def home_store(dynamodb_local: DynamoDBLocal) -> Iterator[DynamoDBCreditsStore]:
    suffix = f"regions-home-{os.getpid()}"
    settings = Settings(
        region=HOME,
        users_table=f"users-{suffix}",
        credits_table=f"credits-{suffix}",
        dynamodb_endpoint=dynamodb_local.endpoint_url,
        dynamodb_max_pool_connections=64,
        transaction_attempts=50,
    )
    with local_credentials():
        create_tables(settings)
        yield DynamoDBCreditsStore(settings)
        delete_tables(settings)


def test_three_regions_race_with_home_on_dynamodb_local(home_store: DynamoDBCreditsStore) -> None:
    harnesses = {HOME: Harness(store=cast(InMemoryCreditsStore, home_store))}
    harnesses.update({region: Harness() for region in REGIONS[1:]})
    stores: dict[str, CreditsStore] = {region: harness.store for region, harness in harnesses.items()}
    services = {region: harness.service() for region, harness in harnesses.items()}
    coordinator = TransferCoordinator(
        {region: RegionLedgers(store=store, book=InMemoryTransferBook()) for region, store in stores.items()}
    )
    authorizer = RegionalAuthorizer(services=services, stores=stores, coordinator=coordinator, home=HOME)
    account_id, digest = harnesses[HOME].funded_key(services[HOME], 0)
    services[HOME].grant(account_id, GrantRequest(amount=600, reason="fund", idempotency_key="fund"))
    doomed = services[HOME].issue_key(account_id, IssueKeyRequest())
    account = home_store.get_account(account_id)
    assert account is not None
    for region in REGIONS[1:]:
        stores[region].create_account(account)
        for key in home_store.list_keys(account_id, 100, None).items:
            stores[region].put_key(key)
    ids = itertools.count()
    meter = SpendRateMeter()
    stop = threading.Event()
    allowed_in: dict[str, int] = dict.fromkeys(REGIONS, 0)
    lock = threading.Lock()

    def viewer(region: str) -> None:
        for _ in range(12):
            request_id = f"{region}-{next(ids)}"
            key_digest = hash_api_key(doomed.api_key) if next(ids) % 4 == 0 else digest
            decision = authorizer.authorize(region, authorize_request(key_digest, request_id))
            if decision.decision == "allow":
                meter.record(region, account_id, decision.charged, datetime.now(UTC))
                with lock:
                    allowed_in[region] += 1
                if next(ids) % 5 == 0:
                    services[region].refund(RefundRequest(request_id=request_id))

    def refiller() -> None:
        while not stop.is_set():
            for region in REGIONS[1:]:
                now = datetime.now(UTC)
                last = meter.last_spend(region, account_id)
                move = plan_refill(
                    home=HOME,
                    region=region,
                    region_balance=stores[region].get_balance(account_id) or 0,
                    home_balance=home_store.get_balance(account_id) or 0,
                    rate_per_second=meter.rate(region, account_id, now),
                    idle_for=(now - last) if last is not None else timedelta(hours=1),
                )
                if move.amount > 0:
                    coordinator.start(account_id, move.source, move.target, move.amount)

    def revoker() -> None:
        key = home_store.get_key_by_digest(hash_api_key(doomed.api_key))
        assert key is not None
        for store in stores.values():
            store.revoke_key(key, datetime.now(UTC))

    def granter() -> None:
        for index in range(5):
            request = GrantRequest(amount=20, reason="top-up", idempotency_key=f"racing-{index}")
            services[HOME].grant(account_id, request)

    threads = [threading.Thread(target=viewer, args=(region,)) for region in REGIONS for _ in range(8)]
    threads += [threading.Thread(target=revoker), threading.Thread(target=granter)]
    refill_thread = threading.Thread(target=refiller)
    refill_thread.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    refill_thread.join()

    start, end = ALL_TIME
    audit = regional_audit(stores, coordinator, account_id, start=start, end=end)
    assert audit.problems == []
    # Home (DynamoDB Local) and both credits regions (fed by transfers from it) charged.
    assert all(count > 0 for count in allowed_in.values())
    assert audit.in_flight == 0
    assert all(balance >= 0 for balance in audit.balances.values())
    assert sum(audit.ledgers.values()) == sum(audit.balances.values())
