"""The pure rules of balance shards: which shard a request debits, what the rate asks for, how
credit is gathered and evened out (functions/credits/store/shards.py)."""

from __future__ import annotations

from collections import Counter

import pytest

from functions.credits.data.models import BALANCE_SK, BalanceItem, balance_shard_pk
from functions.credits.store.shards import (
    MAX_SHARDS,
    ShardLayout,
    ShardTurns,
    even_targets,
    layout_of,
    plan_gather,
    planned_count,
    rebalance_moves,
)


def _shard(account_id: str, index: int, balance: int) -> BalanceItem:
    return BalanceItem(
        balance_shard_pk(account_id, index), BALANCE_SK, account_id=account_id, balance=balance
    )


def test_an_unsharded_account_always_debits_shard_zero() -> None:
    turns = ShardTurns()
    assert {turns.next_shard(1) for _ in range(100)} == {0}


def test_a_container_takes_its_shards_in_turn_from_its_own_start() -> None:
    turns = ShardTurns(start=5)
    assert [turns.next_shard(4) for _ in range(6)] == [1, 2, 3, 0, 1, 2]
    spread = Counter(turns.next_shard(8) for _ in range(800))
    assert set(spread.values()) == {100}


def test_shard_zero_keeps_today_key_and_others_leave_the_account_partition() -> None:
    assert balance_shard_pk("acc", 0) == "account#acc"
    assert balance_shard_pk("acc", 3) == "balanceshard#acc#3"


def test_a_layout_reads_absent_attributes_as_one_shard() -> None:
    assert layout_of(_shard("a", 0, 5)) == ShardLayout(1, 1)
    item = _shard("a", 0, 5)
    item.shard_count, item.shard_peak = 2, 8
    assert layout_of(item) == ShardLayout(2, 8)


@pytest.mark.parametrize(
    ("rate", "count", "expected"),
    [
        (0.0, 1, 1),
        (200.0, 1, 1),
        (260.0, 1, 2),
        (10_000.0, 1, 64),
        (10_000.0, 64, 64),
        (1_000_000.0, 8, MAX_SHARDS),
        (100.0, 8, 2),  # 12.5/s a shard: halves while a shard stays under the split rate
        (0.0, 16, 1),
        (1_000.0, 4, 4),
    ],
)
def test_the_count_follows_the_rate(rate: float, count: int, expected: int) -> None:
    assert planned_count(rate, ShardLayout(count, count)) == expected


def test_a_gather_takes_from_the_richest_other_shards_only_what_is_needed() -> None:
    shards = [_shard("a", 0, 3), _shard("a", 1, 0), _shard("a", 2, 5), _shard("a", 3, 1)]
    assert plan_gather("a", shards, 1, 6) == {2: 5, 0: 1}
    assert plan_gather("a", shards, 1, 10) is None
    assert plan_gather("a", shards, 2, 4) == {0: 3, 3: 1}


def test_even_targets_spread_the_sum_over_the_count_and_nothing_above() -> None:
    assert even_targets(10, 4, 8) == [3, 3, 2, 2, 0, 0, 0, 0]
    assert sum(even_targets(12_345, 64, 64)) == 12_345


def test_rebalancing_moves_only_when_a_shard_starves_or_credit_is_stranded() -> None:
    assert rebalance_moves([30, 25, 20, 25], 4) == {}
    moves = rebalance_moves([90, 5, 5, 0], 4)
    assert sum(moves.values()) == 0
    assert [balance + moves.get(shard, 0) for shard, balance in enumerate([90, 5, 5, 0])] == [25] * 4
    stranded = rebalance_moves([10, 10, 0, 4], 2)
    assert sum(stranded.values()) == 0
    assert stranded[3] == -4
