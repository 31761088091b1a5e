"""The ledger writer on DynamoDB Local: tables of the module's own, split accounts, a drainable writer."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from functions.credits.ids import new_account_id
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.rebalancer import ShardRebalancer
from functions.credits.store.records import AccountRecord, Granted, GrantIntent
from local.ledger_writer import LocalLedgerWriter
from ops.audit import AuditReport, DynamoDBCredentials, run_audit
from tests.contract.credits.conftest import local_credentials

pytestmark = pytest.mark.dynamodb


@pytest.fixture(scope="module")
def writer_settings(dynamodb_local: object) -> Iterator[Settings]:
    from functions.credits.data.tables import create_tables, delete_tables

    suffix = f"lw-{random.getrandbits(32):08x}"
    settings = Settings(
        users_table=f"users-{suffix}",
        credits_table=f"credits-{suffix}",
        dynamodb_endpoint=dynamodb_local.endpoint_url,  # type: ignore[attr-defined]
        dynamodb_max_pool_connections=32,
        transaction_attempts=50,
    )
    with local_credentials():
        create_tables(settings)
        yield settings
        delete_tables(settings)


@pytest.fixture
def writer(writer_settings: Settings) -> LocalLedgerWriter:
    """Not started: tests drain it when they choose (a stopped Lambda, then a running one)."""
    return LocalLedgerWriter(writer_settings, region=writer_settings.region)


def split_account(settings: Settings, credits: int, shards: int = 4) -> str:
    """A funded account spread over ``shards`` balance shards, evened."""
    store = DynamoDBCreditsStore(settings)
    account_id = new_account_id()
    store.create_account(AccountRecord(account_id, "split", "active", datetime.now(UTC)))
    grant = GrantIntent(account_id, credits, "start", f"start-{account_id}", 10**9, datetime.now(UTC))
    assert isinstance(store.grant(grant), Granted)
    rebalancer = ShardRebalancer(settings)
    assert rebalancer.set_count(account_id, shards)
    assert rebalancer.rebalance(account_id)
    return account_id


def audit(settings: Settings) -> AuditReport:
    return run_audit(settings, credentials=DynamoDBCredentials("local", "local"))
