"""Three regions on DynamoDB Local in one process, for the money and fault tests (issue 15).

Each region: its own database of one DynamoDB Local (no -sharedDb), its own users and credits
tables (tests/contract/regions/conftest.py ``regional_tables``), its ``DynamoDBCreditsStore``
and ``CreditsService``, and its transfer book in its credits table. The void notices' global
table is one small table in home's database (the book every region posts to and reads).
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import boto3
from botocore.config import Config

from functions.credits.data.binding import bound_to
from functions.credits.regions.billing import RegionalAudit, is_transfer, merged_ledger, regional_audit
from functions.credits.regions.dynamodb_transfers import DynamoDBTransferBook
from functions.credits.regions.regional_authorize import RegionalAuthorizer
from functions.credits.regions.transfers import RegionLedgers, TransferCoordinator
from functions.credits.regions.void_notices import DynamoDBVoidNoticeBook
from functions.credits.schemas import GrantRequest, IssueKeyRequest
from functions.credits.service import CreditsService
from functions.credits.settings import Settings
from functions.credits.store.memory import InMemoryCreditsStore
from functions.credits.store.rebalancer import ShardRebalancer
from functions.credits.store.records import LedgerKind
from functions.credits.store.shards import read_shards
from functions.shared.api_keys import hash_api_key
from local.dynamodb_local import DynamoDBLocal
from local.ledger_writer import LocalLedgerWriter
from tests.contract.credits.conftest import local_credentials
from tests.contract.regions.conftest import regional_stores, regional_tables
from tests.unit.credits.service_fakes import Harness

HOME = "eu-west-1"
REGIONS = (HOME, "us-east-1", "ap-northeast-1")
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
_notice_tables = itertools.count()


@dataclass(frozen=True)
class RegionTables:
    """The regions' table settings and the void notices' table (in home's database)."""

    settings: dict[str, Settings]
    server: DynamoDBLocal
    notices_table: str

    def client(self, region: str, endpoint_url: str | None = None) -> Any:
        """A low-level client of ``region``'s database; through ``endpoint_url`` (a forwarder a
        fault test cuts) with one retry and short timeouts, so an unreachable region fails fast."""
        if endpoint_url is None:
            return boto3.client("dynamodb", region_name=region, endpoint_url=self.server.endpoint_url)
        config = Config(connect_timeout=0.5, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"})
        return boto3.client("dynamodb", region_name=region, endpoint_url=endpoint_url, config=config)


@contextmanager
def region_tables(server: DynamoDBLocal) -> Iterator[RegionTables]:
    notices_table = f"void-notices-{os.getpid()}-{next(_notice_tables)}"
    with regional_tables(server, REGIONS) as settings, local_credentials():
        home_client = boto3.client("dynamodb", region_name=HOME, endpoint_url=server.endpoint_url)
        home_client.create_table(
            TableName=notices_table,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        try:
            yield RegionTables(settings=settings, server=server, notices_table=notices_table)
        finally:
            home_client.delete_table(TableName=notices_table)


def _through(settings: Settings, endpoint_url: str | None) -> Settings:
    if endpoint_url is None:
        return settings
    return settings.model_copy(
        update={
            "dynamodb_endpoint": endpoint_url,
            "dynamodb_max_retry_attempts": 1,
            "dynamodb_connect_timeout_seconds": 0.5,
        }
    )


class RegionalWorld:
    """One account readable in every region, its money in home, the regions' services and books."""

    def __init__(
        self,
        tables: RegionTables,
        *,
        store_endpoints: Mapping[str, str] | None = None,
        book_endpoints: Mapping[str, str] | None = None,
    ) -> None:
        """``store_endpoints``/``book_endpoints``: a region's store or transfer book reached through
        another endpoint (a forwarder the fault tests cut), with few retries and short timeouts."""
        self.tables = tables
        self.stores = regional_stores(
            {
                region: _through(settings, (store_endpoints or {}).get(region))
                for region, settings in tables.settings.items()
            }
        )
        # The service's fakes take any store; these are the DynamoDB ones.
        harnesses = {
            region: Harness(store=cast(InMemoryCreditsStore, store)) for region, store in self.stores.items()
        }
        self.services: dict[str, CreditsService] = {r: h.service() for r, h in harnesses.items()}
        self.books = {
            region: DynamoDBTransferBook(
                tables.client(region, (book_endpoints or {}).get(region)), settings.credits_table
            )
            for region, settings in tables.settings.items()
        }
        self.coordinator = TransferCoordinator(
            {region: RegionLedgers(store=self.stores[region], book=self.books[region]) for region in REGIONS}
        )
        self.authorizer = RegionalAuthorizer(
            services=self.services, stores=self.stores, coordinator=self.coordinator, home=HOME
        )
        self.notices = DynamoDBVoidNoticeBook(tables.client(HOME), tables.notices_table)
        self.account_id, self.digest = harnesses[HOME].funded_key(self.services[HOME], 0)
        self.replicate_users()

    def replicate_users(self) -> None:
        """What the users global table gives every credits region: the account and its keys."""
        home_store = self.stores[HOME]
        account = home_store.get_account(self.account_id)
        assert account is not None
        for region in REGIONS[1:]:
            if self.stores[region].get_account(self.account_id) is None:
                self.stores[region].create_account(account)
            for key in home_store.list_keys(self.account_id, 100, None).items:
                if self.stores[region].get_key(self.account_id, key.key_id) is None:
                    self.stores[region].put_key(key)

    def issue_key(self) -> str:
        """A second key of the account, in every region; its digest."""
        return hash_api_key(self.issue_api_key())

    def issue_api_key(self) -> str:
        """Another key of the account, in every region; the key itself (what a viewer sends)."""
        issued = self.services[HOME].issue_key(self.account_id, IssueKeyRequest())
        self.replicate_users()
        return issued.api_key

    def net_charged(self) -> Counter[str]:
        """Credits each (non-transfer) request id was charged, net of refunds, over every region."""
        net: Counter[str] = Counter()
        start, end = ALL_TIME
        for _, entry in merged_ledger(self.stores, self.account_id, start=start, end=end):
            if entry.kind in (LedgerKind.CHARGE, LedgerKind.REFUND) and not is_transfer(entry):
                net[entry.request_id] -= entry.amount
        return net

    def grant(self, amount: int, idempotency_key: str) -> None:
        request = GrantRequest(amount=amount, reason="top-up", idempotency_key=idempotency_key)
        self.services[HOME].grant(self.account_id, request)

    def split(self, region: str, shards: int) -> None:
        """Spread the account's balance in ``region`` over ``shards`` balance shards (issue 14)."""
        with bound_to(self.stores[region].table_binding):
            assert ShardRebalancer(self.tables.settings[region]).set_count(self.account_id, shards)

    def shard_balances(self) -> dict[str, list[int]]:
        """Every balance shard of the account, per region, as stored."""
        balances = {}
        for region, store in self.stores.items():
            with bound_to(store.table_binding):
                found = read_shards(self.account_id)
            balances[region] = [] if found is None else [int(item.balance) for item in found[1]]
        return balances

    def write_ledgers(self, region: str) -> None:
        """Run the ledger writer over ``region``'s credits stream until it is quiet (a split
        account's charges reach the ledger table through it, issue 14)."""
        LocalLedgerWriter(self.tables.settings[region], region=region).drain(settle_all_parked=True)

    def audit(self) -> RegionalAudit:
        start, end = ALL_TIME
        return regional_audit(self.stores, self.coordinator, self.account_id, start=start, end=end)
