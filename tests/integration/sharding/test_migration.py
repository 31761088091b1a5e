"""An account stored before shards existed keeps working and moves onto shards (issue 14 §8).

Shard 0 is the old balance item itself and old charge records name no shard (read as 0); the
stream-derived ledger (issue 14 §3-4) needs only a ``seq`` counter on each shard, set lazily by the
first two-write charge or ahead of time by ``edgemeter migrate`` (``ops/migrate.py``). The test
builds an account the way the old code left it (a balance item with no layout attributes, no
``seq``, charges, old ledger entries in the credits table), audits it, migrates it (twice: the
second run changes nothing), audits again, splits it, refunds an old charge, charges on the new
shards by two writes with the ledger writer running, and audits again; the ledger pages merge the
old entries and the ledger table's newest first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from cli.main import app
from functions.credits.data.models import BALANCE_SK, BalanceItem, ChargeRecordItem, account_pk, request_pk
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.rebalancer import ShardRebalancer
from functions.credits.store.records import Charged, ChargeIntent
from local.ledger_writer import LocalLedgerWriter
from ops.audit import DynamoDBCredentials, run_audit
from ops.migrate import migrate_shards
from tests.integration.sellers.helpers import new_request_id
from tests.integration.sharding.helpers import shard_balances, stream_entries_per_shard

pytestmark = pytest.mark.dynamodb

FundedKey = Callable[..., tuple[str, str]]


def _audit(settings: Settings, account_id: str) -> tuple[int | None, int]:
    report = run_audit(settings, credentials=DynamoDBCredentials("local", "local"))
    assert report.ok, report.mismatches
    assert not [pending for pending in report.pending if pending.account_id == account_id]
    totals = next(account for account in report.accounts if account.account_id == account_id)
    return totals.balance, totals.ledger_sum


def test_an_old_account_keeps_its_history_and_moves_onto_shards(
    funded_key: FundedKey, credits_settings: Settings, rebalancer: ShardRebalancer
) -> None:
    store = DynamoDBCreditsStore(credits_settings)
    account_id, _ = funded_key(100)
    start = datetime.now(UTC) - timedelta(minutes=5)
    old_requests = [new_request_id() for _ in range(10)]
    for minute, request_id in enumerate(old_requests):
        intent = ChargeIntent(
            account_id, "k-old", request_id, 2, "GET", "/o", 2, start + timedelta(seconds=minute)
        )
        assert isinstance(store.charge(intent), Charged)
    # As the old code left them: no layout on the balance item, no shard on the charge records.
    old_balance = BalanceItem.get(account_pk(account_id), BALANCE_SK, consistent_read=True)
    assert old_balance.shard_count is None
    assert old_balance.shard_peak is None
    record = ChargeRecordItem.get(request_pk(old_requests[0]), "charge", consistent_read=True)
    assert record.shard is None
    assert old_balance.seq is None
    assert _audit(credits_settings, account_id) == (80, 80)
    credentials = DynamoDBCredentials("local", "local")
    first = migrate_shards(credits_settings, credentials=credentials)
    assert first.migrated >= 1
    again = migrate_shards(credits_settings, credentials=credentials)
    assert again.migrated == 0
    assert again.already == first.shards
    assert BalanceItem.get(account_pk(account_id), BALANCE_SK, consistent_read=True).seq == 0
    assert _audit(credits_settings, account_id) == (80, 80)

    with LocalLedgerWriter(credits_settings, region=credits_settings.region) as writer:
        _split_and_charge(store, rebalancer, account_id, old_requests)
        writer.drain(settle_all_parked=True)
    assert sum(shard_balances(account_id)) == 80 + 2 - 20
    assert _audit(credits_settings, account_id) == (62, 62)
    assert sum(stream_entries_per_shard(account_id, 4)) == 20
    _pages_merge_old_and_new(store, account_id, start)


def _split_and_charge(
    store: DynamoDBCreditsStore, rebalancer: ShardRebalancer, account_id: str, old_requests: list[str]
) -> None:
    assert rebalancer.set_count(account_id, 4)
    assert rebalancer.rebalance(account_id)
    old_charge = store.get_charge(old_requests[0])
    assert old_charge is not None
    assert old_charge.shard == 0
    assert not store.refund(old_charge, reason="origin_500", now=datetime.now(UTC)).replayed
    for _ in range(20):
        intent = ChargeIntent(account_id, "k-new", new_request_id(), 1, "GET", "/n", 1, datetime.now(UTC))
        assert isinstance(store.charge(intent), Charged)


def _pages_merge_old_and_new(store: DynamoDBCreditsStore, account_id: str, start: datetime) -> None:
    pages, cursor = [], None
    while True:
        page = store.ledger_page(
            account_id,
            start=start - timedelta(days=1),
            end=datetime.now(UTC) + timedelta(minutes=1),
            limit=7,
            cursor=cursor,
        )
        pages.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(pages) == 1 + 10 + 1 + 20  # the grant, old charges, the refund, new charges
    assert len({entry.entry_id for entry in pages}) == len(pages)
    times = [entry.created_at for entry in pages]
    assert times == sorted(times, reverse=True)
    assert sum(entry.amount for entry in pages) == 62


def test_edgemeter_migrate_runs_twice_and_the_audit_stays_clean(
    funded_key: FundedKey, credits_settings: Settings
) -> None:
    account_id, _ = funded_key(25)
    assert credits_settings.dynamodb_endpoint is not None
    table = [
        "--endpoint",
        credits_settings.dynamodb_endpoint,
        "--credits-table",
        credits_settings.credits_table,
    ]
    first = CliRunner().invoke(app, ["migrate", *table])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(app, ["migrate", *table])
    assert again.exit_code == 0, again.output
    assert " 0 migrated now" in again.stdout
    assert BalanceItem.get(account_pk(account_id), BALANCE_SK, consistent_read=True).seq == 0
    audited = CliRunner().invoke(app, ["audit", *table])
    assert audited.exit_code == 0, audited.output
    assert _audit(credits_settings, account_id) == (25, 25)
