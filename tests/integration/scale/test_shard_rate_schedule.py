"""The deployed shard-rate scheduler (issue 14) on DynamoDB Local: busy accounts are marked by the
credits containers that charge them, the scheduled run follows only marked accounts (no scan),
bounded per run, and a failing account does not stop the others."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from functions.credits.data.tables import table_binding
from functions.credits.service import CreditsService, NoTelemetry
from functions.credits.settings import Settings
from functions.credits.store.hot_accounts import ChargeWatch, HotAccountList, WatchedCreditsStore
from functions.credits.store.rebalancer import ShardRebalancer
from functions.credits.store.shard_rate_schedule import follow_shard_rates
from functions.credits.store.shards import read_shards
from tests.integration.credits.conftest import api, call, credits_settings, funded_key, service
from tests.integration.sellers.helpers import authorize_key

__all__ = ["api", "call", "credits_settings", "funded_key", "service"]

pytestmark = pytest.mark.dynamodb

FundedKey = Callable[..., tuple[str, str]]


def shard_count(account_id: str) -> int:
    found = read_shards(account_id)
    assert found is not None
    return found[0].count


def test_a_container_marks_the_account_it_charges_often(
    funded_key: FundedKey, credits_settings: Settings
) -> None:
    store = WatchedCreditsStore(credits_settings)
    store.charge_watch = ChargeWatch(HotAccountList(store.table_binding), mark_charges=5)
    edge = CreditsService(store, credits_settings, telemetry=NoTelemetry())
    busy_account, busy_key = funded_key(20)
    quiet_account, quiet_key = funded_key(20)
    for _ in range(5):
        assert authorize_key(edge, busy_key)["decision"] == "allow"
    for _ in range(4):
        assert authorize_key(edge, quiet_key)["decision"] == "allow"

    due = HotAccountList(table_binding(credits_settings)).due(datetime.now(UTC), 1_000)

    assert busy_account in due
    assert quiet_account not in due


def test_the_run_follows_marked_accounts_only_and_merges_a_quiet_split_one(
    funded_key: FundedKey, credits_settings: Settings
) -> None:
    rebalancer = ShardRebalancer(credits_settings)
    marked_account, _ = funded_key(40)
    unmarked_account, _ = funded_key(40)
    for account_id in (marked_account, unmarked_account):
        assert rebalancer.set_count(account_id, 4)
    now = datetime.now(UTC)
    HotAccountList(table_binding(credits_settings)).mark(marked_account, now)

    report = follow_shard_rates(credits_settings, now, limit=1_000)

    # Quiet (no charge in the last minute): back on one shard, and not marked again.
    assert report.counts[marked_account] == 1
    assert shard_count(marked_account) == 1
    # Never marked: the run does not find it (no scan), so it keeps its four shards.
    assert unmarked_account not in report.counts
    assert shard_count(unmarked_account) == 4


def test_a_run_is_bounded_and_one_failing_account_skips_only_itself(
    funded_key: FundedKey, credits_settings: Settings
) -> None:
    watch_list = HotAccountList(table_binding(credits_settings))
    now = datetime.now(UTC)
    accounts = [funded_key(5)[0] for _ in range(3)]
    for account_id in [*accounts, "acct_without_balance"]:
        watch_list.mark(account_id, now)

    bounded = follow_shard_rates(credits_settings, now, limit=2)
    everything = follow_shard_rates(credits_settings, now, limit=1_000)

    assert len(bounded.counts) + len(bounded.failed) == 2
    assert set(accounts) <= set(everything.counts)
    assert everything.failed == ["acct_without_balance"]
    assert everything.summary()["failed"] == 1
