"""Balance shards (issue 14): an account's balance as the sum of items on distinct partitions.

Layout (docs/decisions.md, "Balance shards as built"):

* shard 0 is today's balance item ``account#<id>`` / ``balance``; shard i > 0 is
  ``balanceshard#<id>#<i>`` / ``balance`` (``balance_shard_pk``). Each charge's ledger entry is
  written on the partition of the shard it debited, so a hot account's ledger spreads with it.
* the directory is two attributes of shard 0: ``shard_count`` (how many shards charges spread
  over, absent = 1) and ``shard_peak`` (how many exist, absent = 1). Shards are never deleted,
  so every read of the balance covers shards ``[0, peak)``; a shard at or above ``count`` only
  holds credit that a stale container refunded there, and the rebalancer sweeps it down.
* every shard carries copies of the account's ``key_revocations`` and ``account_status``; every
  change of either writes all copies in one transaction whose shard-0 update is conditioned on
  the layout it read, and a split copies them under a condition on shard 0, so the two never
  interleave and a charge on any shard sees the standing at once.

Moves between shards are one transaction (sources ``-= x IF balance >= x``, targets ``+= x``):
they never change the sum, so a move applied twice (a lost reply retried) is still exact and
nothing is ever in flight between shards of one region.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from functions.credits.data.models import (
    BALANCE_SK,
    BalanceItem,
    account_pk,
    balance_shard_pk,
    ledger_shard_pk,
)
from functions.credits.data.transactions import LabelledTransaction

# The most shards an account may have: a gather or rebalance of all of them plus the charge's
# own items stays inside one transaction (100 items), and one BatchGetItem reads them all.
MAX_SHARDS = 64
# A shard takes at most this many writes a second before the account doubles its count: a
# quarter of a partition's 1,000 WCU/s, which leaves room for bursts and the shard's ledger.
SPLIT_ABOVE_PER_SHARD = 250.0
# Under this many writes a second per shard (over the observer's window) the count halves.
MERGE_BELOW_PER_SHARD = 30.0
# Accounts whose layout a container remembers (a bound on memory, not a freshness limit:
# stale layouts are corrected by shard 0's condition and by the gather's read).
_LAYOUT_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class ShardLayout:
    """``count``: shards charges spread over; ``peak``: shards that exist (``peak >= count``)."""

    count: int
    peak: int


UNSHARDED = ShardLayout(count=1, peak=1)


def layout_of(shard_zero: BalanceItem) -> ShardLayout:
    count = 1 if shard_zero.shard_count is None else int(shard_zero.shard_count)
    peak = 1 if shard_zero.shard_peak is None else int(shard_zero.shard_peak)
    return ShardLayout(count=count, peak=max(peak, count))


class ShardTurns:
    """Which shard a container's next charge debits: its shards in turn, from a random start.

    Round robin per container spreads a hot account more evenly than a hash of the request id
    (no clumps of several charges on one shard), and containers start at random places so they do
    not move in step. A retried request id needs no particular shard: its one decision is its
    charge record, wherever it was debited.
    """

    def __init__(self, start: int | None = None) -> None:
        self._turns = itertools.count(random.randrange(1 << 16) if start is None else start)
        self._lock = threading.Lock()

    def next_shard(self, count: int) -> int:
        if count == 1:
            return 0
        with self._lock:
            return next(self._turns) % count


def ledger_pk(account_id: str, shard: int, layout: ShardLayout) -> str:
    """Where a balance change of ``shard`` writes its ledger entry: today's ``account#<id>`` for an
    account never split, else the shard's own ledger partition (reads cover both, so a container
    on an outdated layout writes somewhere that is read)."""
    return account_pk(account_id) if layout.peak == 1 else ledger_shard_pk(account_id, shard)


def ledger_partitions(account_id: str, peak: int) -> list[str]:
    """Every partition that may hold the account's ledger entries."""
    if peak == 1:
        return [account_pk(account_id)]
    return [account_pk(account_id), *(ledger_shard_pk(account_id, shard) for shard in range(peak))]


def layout_is(layout: ShardLayout) -> Condition:
    """Shard 0 still has ``layout`` (absent attributes read as 1)."""
    count: Condition = (
        BalanceItem.shard_count.does_not_exist() | (BalanceItem.shard_count == 1)
        if layout.count == 1
        else BalanceItem.shard_count == layout.count
    )
    peak: Condition = (
        BalanceItem.shard_peak.does_not_exist() | (BalanceItem.shard_peak == 1)
        if layout.peak == 1
        else BalanceItem.shard_peak == layout.peak
    )
    both: Condition = count & peak
    return both


def count_is(count: int) -> Condition:
    """Shard 0's count is ``count``: a charge on a container's remembered count learns a split."""
    if count == 1:
        single: Condition = BalanceItem.shard_count.does_not_exist() | (BalanceItem.shard_count == 1)
        return single
    same: Condition = BalanceItem.shard_count == count
    return same


class LayoutCache:
    """The layouts this container has seen, by account (unknown accounts are taken as unsharded,
    so a quiet account's charge needs no read: shard 0's condition corrects a wrong guess)."""

    def __init__(self) -> None:
        self._layouts: dict[str, ShardLayout] = {}
        self._lock = threading.Lock()

    def get(self, account_id: str) -> ShardLayout:
        with self._lock:
            return self._layouts.get(account_id, UNSHARDED)

    def put(self, account_id: str, layout: ShardLayout) -> None:
        with self._lock:
            if len(self._layouts) >= _LAYOUT_CACHE_SIZE:
                self._layouts.clear()
            self._layouts[account_id] = layout


def read_shards(account_id: str) -> tuple[ShardLayout, list[BalanceItem]] | None:
    """Shard 0 (which names the layout), then every other shard in one BatchGetItem; None when
    the account has no balance."""
    try:
        shard_zero = BalanceItem.get(balance_shard_pk(account_id, 0), BALANCE_SK, consistent_read=True)
    except DoesNotExist:
        return None
    layout = layout_of(shard_zero)
    shards = [shard_zero]
    if layout.peak > 1:
        keys = [(balance_shard_pk(account_id, shard), BALANCE_SK) for shard in range(1, layout.peak)]
        found = {item.pk: item for item in BalanceItem.batch_get(keys, consistent_read=True)}
        shards.extend(found[pk] for pk, _ in keys if pk in found)
    return layout, shards


def shard_index(account_id: str, item: BalanceItem) -> int:
    if item.pk == balance_shard_pk(account_id, 0):
        return 0
    return int(item.pk.rsplit("#", 1)[1])


def plan_gather(
    account_id: str, shards: Sequence[BalanceItem], target: int, needed: int
) -> dict[int, int] | None:
    """Credits to take from each shard other than ``target`` so that ``target`` gains ``needed``;
    None when the other shards do not hold that much."""
    taken: dict[int, int] = {}
    for item in sorted(shards, key=lambda shard: -int(shard.balance)):
        index = shard_index(account_id, item)
        if needed <= 0:
            break
        if index == target or int(item.balance) <= 0:
            continue
        take = min(needed, int(item.balance))
        taken[index] = take
        needed -= take
    return taken if needed <= 0 else None


def add_source_debits(transaction: LabelledTransaction, account_id: str, sources: dict[int, int]) -> None:
    """``shard -= x IF balance >= x`` for each source of a move (labels ``source<i>``)."""
    for index, amount in sources.items():
        transaction.update(
            f"source{index}",
            BalanceItem(balance_shard_pk(account_id, index), BALANCE_SK),
            [BalanceItem.balance.set(BalanceItem.balance - amount)],
            BalanceItem.balance >= amount,
        )


def add_standing_copies(
    transaction: LabelledTransaction,
    account_id: str,
    layout: ShardLayout,
    actions: Callable[[], Sequence[Action]],
) -> None:
    """The same standing actions on every shard but 0 (whose update the caller conditions on
    ``layout_is(layout)``, so a split cannot slip a shard past them)."""
    for shard in range(1, layout.peak):
        transaction.update(
            f"shard{shard}",
            BalanceItem(balance_shard_pk(account_id, shard), BALANCE_SK),
            list(actions()),
            BalanceItem.pk.exists(),
        )


def source_failed(reasons: Sequence[str]) -> bool:
    return any(label.startswith("source") for label in reasons)


def planned_count(rate_per_second: float, layout: ShardLayout) -> int:
    """The shard count an account's observed charge rate asks for: double while a shard would take
    more than ``SPLIT_ABOVE_PER_SHARD``, halve while it would take less than
    ``MERGE_BELOW_PER_SHARD`` (and never below 1 or above ``MAX_SHARDS``)."""
    count = layout.count
    while count < MAX_SHARDS and rate_per_second / count > SPLIT_ABOVE_PER_SHARD:
        count *= 2
    while count > 1 and rate_per_second / count < MERGE_BELOW_PER_SHARD:
        if rate_per_second / (count // 2) > SPLIT_ABOVE_PER_SHARD:
            break
        count //= 2
    return count


def even_targets(total: int, count: int, peak: int) -> list[int]:
    """Each shard's fair share: ``total`` spread over shards ``[0, count)``, nothing above."""
    share, rest = divmod(total, count)
    return [share + (1 if shard < rest else 0) if shard < count else 0 for shard in range(peak)]


def rebalance_moves(balances: Sequence[int], count: int) -> dict[int, int]:
    """Signed changes per shard that even the credit out, or nothing when no shard below the
    count holds less than half its share and no shard above it holds any."""
    targets = even_targets(sum(balances), count, len(balances))
    starving = any(balances[shard] * 2 < targets[shard] for shard in range(count))
    stranded = any(balances[shard] > 0 for shard in range(count, len(balances)))
    if not (starving or stranded):
        return {}
    return {
        shard: targets[shard] - balances[shard]
        for shard in range(len(balances))
        if targets[shard] != balances[shard]
    }
