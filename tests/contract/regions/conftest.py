"""Three regions' stores and transfer books, in memory or on DynamoDB Local (a database per region,
all three regions' DynamoDB stores in this one process: functions/credits/data/binding.py)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import boto3
import pytest

from functions.credits.data.tables import create_tables, delete_tables
from functions.credits.regions.dynamodb_transfers import DynamoDBTransferBook
from functions.credits.regions.transfers import (
    InMemoryTransferBook,
    RegionLedgers,
    TransferBook,
    TransferCoordinator,
)
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.errors import StoreUnavailable
from functions.credits.store.memory import InMemoryCreditsStore
from functions.credits.store.protocol import CreditsStore
from functions.credits.store.records import AccountRecord, GrantIntent
from local.dynamodb_local import DynamoDBLocal
from tests.contract.credits.conftest import local_credentials

HOME = "eu-west-1"
REGIONS = (HOME, "us-east-1", "ap-northeast-1")
_table_numbers = itertools.count()
_TABLE_TIMEOUT_SECONDS = 30.0


class Switchable:
    """A store or book that a test can take down: every call then raises ``StoreUnavailable``."""

    def __init__(self, target: object) -> None:
        self._target = target
        self.down = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StoreUnavailable("region taken down by the test")
            return attribute(*args, **kwargs)

        return call


class ManualTime:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class ThreeRegions:
    coordinator: TransferCoordinator
    stores: dict[str, CreditsStore]
    books: dict[str, TransferBook]
    switches: dict[str, list[Switchable]]
    time: ManualTime

    def take_down(self, region: str, down: bool = True) -> None:
        for switch in self.switches[region]:
            switch.down = down

    def balances(self, account_id: str) -> dict[str, int]:
        return {region: self.stores[region].get_balance(account_id) or 0 for region in REGIONS}

    def total(self, account_id: str) -> int:
        """Every region's balance plus what is in flight: constant through any transfer."""
        in_flight = sum(record.amount for record in self.coordinator.in_flight(account_id))
        return sum(self.balances(account_id).values()) + in_flight


@contextmanager
def regional_tables(server: DynamoDBLocal, regions: Sequence[str]) -> Iterator[dict[str, Settings]]:
    """Each region's own users and credits tables, in its own database of ``server`` (a DynamoDB
    Local without -sharedDb keeps a table set per region): the same table names in every region,
    so a store that reached another region's tables would find them and the tests would see it.
    Dropped on exit."""
    suffix = f"{os.getpid()}-{next(_table_numbers)}"
    settings = {
        region: Settings(
            region=region,
            users_table=f"users-regions-{suffix}",
            credits_table=f"credits-regions-{suffix}",
            dynamodb_endpoint=server.endpoint_url,
            dynamodb_max_pool_connections=64,
            # The races make DynamoDB Local cancel transactions for conflicts; on a shared machine
            # the default attempts could run out and turn a race into a 503.
            transaction_attempts=50,
        )
        for region in regions
    }
    # Created and dropped with a patient client: on a busy machine DynamoDB Local can take longer
    # than the service's 2 s read timeout to create a table with an index, and botocore's retry of
    # a CreateTable that did succeed then fails with "Cannot create preexisting table".
    patient = {
        region: region_settings.model_copy(update={"dynamodb_read_timeout_seconds": _TABLE_TIMEOUT_SECONDS})
        for region, region_settings in settings.items()
    }
    with local_credentials():
        for region_settings in patient.values():
            create_tables(region_settings)
        try:
            yield settings
        finally:
            for region_settings in patient.values():
                delete_tables(region_settings)


def regional_stores(settings: dict[str, Settings]) -> dict[str, DynamoDBCreditsStore]:
    """One ``DynamoDBCreditsStore`` per region, all in this process (each binds its own tables)."""
    return {region: DynamoDBCreditsStore(region_settings) for region, region_settings in settings.items()}


def replicate_users(settings: dict[str, Settings], home: str) -> None:
    """What the users global table does: home's items appear in every other region's replica."""
    source = settings[home]
    reader = boto3.client("dynamodb", region_name=home, endpoint_url=source.dynamodb_endpoint)
    items = reader.scan(TableName=source.users_table, ConsistentRead=True)["Items"]
    for region, replica in settings.items():
        if region == home:
            continue
        writer = boto3.client("dynamodb", region_name=region, endpoint_url=source.dynamodb_endpoint)
        for item in items:
            writer.put_item(TableName=replica.users_table, Item=item)


def _region_backends(kind: str, request: pytest.FixtureRequest) -> Iterator[dict[str, tuple[Any, Any]]]:
    if kind == "memory":
        yield {region: (InMemoryCreditsStore(), InMemoryTransferBook()) for region in REGIONS}
        return
    # Each region on DynamoDB Local in a database of its own: its DynamoDB store, and its transfer
    # book in its credits table (beside the balances, as deployed), all in this one process.
    server = request.getfixturevalue("dynamodb_local_per_region")
    with regional_tables(server, REGIONS) as settings:
        stores = regional_stores(settings)
        yield {
            region: (
                stores[region],
                DynamoDBTransferBook(
                    boto3.client("dynamodb", region_name=region, endpoint_url=server.endpoint_url),
                    region_settings.credits_table,
                ),
            )
            for region, region_settings in settings.items()
        }


@pytest.fixture(params=["memory", "dynamodb"])
def regions(request: pytest.FixtureRequest) -> Iterator[ThreeRegions]:
    for backends in _region_backends(request.param, request):
        switches: dict[str, list[Switchable]] = {}
        ledgers = {}
        for region, (store, book) in backends.items():
            store_switch, book_switch = Switchable(store), Switchable(book)
            switches[region] = [store_switch, book_switch]
            ledgers[region] = RegionLedgers(
                store=cast(CreditsStore, store_switch), book=cast(TransferBook, book_switch)
            )
        time = ManualTime()
        yield ThreeRegions(
            coordinator=TransferCoordinator(ledgers, clock=time),
            stores={region: ledger.store for region, ledger in ledgers.items()},
            books={region: ledger.book for region, ledger in ledgers.items()},
            switches=switches,
            time=time,
        )


def open_account(regions: ThreeRegions, account_id: str, home_balance: int) -> None:
    """The account in every region (the users global table's replicas), funded in home."""
    for store in regions.stores.values():
        store.create_account(
            AccountRecord(
                account_id=account_id, name=account_id, status="active", created_at=regions.time.now
            )
        )
    regions.stores[HOME].grant(
        GrantIntent(
            account_id=account_id,
            amount=home_balance,
            reason="funding",
            idempotency_key=f"fund-{account_id}",
            max_balance=10**9,
            now=regions.time.now,
        )
    )
