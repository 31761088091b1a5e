"""Splits, merges and rebalances of an account's balance shards (issue 14).

Every operation here is ONE transaction conditioned on the shard layout it read
(``shards.layout_is``), so it either happens whole or not at all, and a concurrent split,
merge, revocation or status change makes it fail and read again. None changes the account's
sum: credit only moves between shards (sources ``-= x IF balance >= x``), so a move retried
after a lost reply is still exact.

* ``set_count`` raises or lowers the count. Raising creates the missing shards with the
  account's standing copied from shard 0 (conditioned on it, so a revocation cannot slip
  between). Lowering empties the shards above the new count into those below it in the same
  transaction that lowers the count: a stale container that still debits an upper shard finds
  it empty, gathers and learns the new layout.
* ``rebalance`` evens credit over ``[0, count)`` when a shard holds under half its share, or
  when a shard above the count holds credit (a stale container's refund).
* ``follow_rate`` is the policy: the account's observed rate (ledger entries of the last
  window, counted per shard partition) picks the count (``shards.planned_count``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from functions.credits.data.models import (
    BALANCE_SK,
    BalanceItem,
    LedgerEntryItem,
    balance_shard_pk,
    ledger_sk_bound,
)
from functions.credits.data.tables import bind_tables
from functions.credits.data.transactions import LabelledTransaction, TransactionCancelled, run_transaction
from functions.credits.settings import Settings
from functions.credits.store.errors import DataIntegrityError
from functions.credits.store.low_balance_alerts import armed_at_split
from functions.credits.store.shards import (
    MAX_SHARDS,
    ShardLayout,
    even_targets,
    layout_is,
    ledger_partitions,
    planned_count,
    read_shards,
    rebalance_moves,
    shard_index,
)
from functions.credits.store.stream_ledger import ledger_table_count

# The window the observed rate is measured over.
RATE_WINDOW = timedelta(seconds=60)


def _standing_is(shard_zero: BalanceItem) -> Condition:
    """Shard 0's standing is still what was read (copied into new shards)."""
    revocations = shard_zero.key_revocations
    status = shard_zero.account_status
    same: Condition = (
        BalanceItem.key_revocations.does_not_exist()
        if revocations is None
        else BalanceItem.key_revocations == revocations
    ) & (
        BalanceItem.account_status.does_not_exist()
        if status is None
        else BalanceItem.account_status == status
    )
    return same


def _balance_change(delta: int) -> tuple[list[Action], Condition | None]:
    actions: list[Action] = [BalanceItem.balance.set(BalanceItem.balance + delta)]
    return actions, (BalanceItem.balance >= -delta) if delta < 0 else None


class ShardRebalancer:
    """Layout changes and credit moves of balance shards, on the credits table."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._connection = bind_tables(settings)

    def _shards(self, account_id: str) -> tuple[ShardLayout, list[BalanceItem]]:
        found = read_shards(account_id)
        if found is None:
            raise DataIntegrityError(f"account {account_id} has no balance")
        return found

    def _commit(self, build: Callable[[], LabelledTransaction]) -> bool:
        """False when a condition failed (the shards moved since they were read)."""
        try:
            run_transaction(build, attempts=self._settings.transaction_attempts)
        except TransactionCancelled:
            return False
        return True

    def _transaction(
        self,
        account_id: str,
        layout: ShardLayout,
        deltas: dict[int, int],
        zero_actions: Sequence[Action],
        extra_zero_condition: Condition | None = None,
    ) -> LabelledTransaction:
        """Shard 0 conditioned on ``layout`` (with ``zero_actions`` and its delta), every other
        shard moved by its delta under ``balance >= -delta``."""
        transaction = LabelledTransaction(self._connection)
        actions, condition = _balance_change(deltas.get(0, 0))
        zero_condition = layout_is(layout)
        for extra in (condition, extra_zero_condition):
            if extra is not None:
                zero_condition &= extra
        transaction.update(
            "shard0",
            BalanceItem(balance_shard_pk(account_id, 0), BALANCE_SK),
            [*actions, *zero_actions],
            zero_condition,
        )
        for shard, delta in sorted(deltas.items()):
            if shard != 0 and delta != 0:
                actions, condition = _balance_change(delta)
                item = BalanceItem(balance_shard_pk(account_id, shard), BALANCE_SK)
                transaction.update(f"shard{shard}", item, actions, condition)
        return transaction

    def set_count(self, account_id: str, count: int) -> bool:
        """Spread charges over ``count`` shards (1 ≤ count ≤ 64); False when the shards moved
        under it (call again)."""
        if not 1 <= count <= MAX_SHARDS:
            raise ValueError(f"a shard count is between 1 and {MAX_SHARDS}")
        layout, shards = self._shards(account_id)
        if count == layout.count:
            return True
        peak = max(layout.peak, count)
        zero_actions = [BalanceItem.shard_count.set(count), BalanceItem.shard_peak.set(peak)]
        deltas: dict[int, int] = {}
        if count < layout.count:
            balances = self._balances(account_id, layout, shards)
            upper = sum(balances[count:])
            share = even_targets(upper, count, count)
            deltas = {shard: -balances[shard] for shard in range(count, layout.peak) if balances[shard]}
            deltas.update({shard: share[shard] for shard in range(count) if share[shard]})
        # New shards copy shard 0's standing: the split is conditioned on it being unchanged.
        standing = _standing_is(shards[0]) if peak > layout.peak else None

        def build() -> LabelledTransaction:
            transaction = self._transaction(account_id, layout, deltas, zero_actions, standing)
            self._add_new_shards(transaction, account_id, shards[0], layout.peak, peak)
            if layout.peak == 1 < peak:
                # The first split: from now on balance.low is judged on the sum, from this state.
                alerts = armed_at_split(account_id, shards[0].alert_thresholds, int(shards[0].balance))
                transaction.put("alerts", alerts)
            return transaction

        return self._commit(build)

    def _add_new_shards(
        self,
        transaction: LabelledTransaction,
        account_id: str,
        shard_zero: BalanceItem,
        first: int,
        peak: int,
    ) -> None:
        """New shards start empty with shard 0's standing, which the split is conditioned on."""
        for shard in range(first, peak):
            item = BalanceItem(
                balance_shard_pk(account_id, shard),
                BALANCE_SK,
                account_id=account_id,
                balance=0,
                key_revocations=shard_zero.key_revocations,
                account_status=shard_zero.account_status,
            )
            transaction.put(f"new{shard}", item, BalanceItem.pk.does_not_exist())

    @staticmethod
    def _balances(account_id: str, layout: ShardLayout, shards: Sequence[BalanceItem]) -> list[int]:
        balances = [0] * layout.peak
        for item in shards:
            balances[shard_index(account_id, item)] = int(item.balance)
        return balances

    def rebalance(self, account_id: str) -> bool:
        """Even the credit over the account's shards when it is uneven; True when it moved credit."""
        layout, shards = self._shards(account_id)
        deltas = rebalance_moves(self._balances(account_id, layout, shards), layout.count)
        if not deltas:
            return False
        return self._commit(lambda: self._transaction(account_id, layout, deltas, []))

    def observed_rate(self, account_id: str, now: datetime, window: timedelta = RATE_WINDOW) -> float:
        """Balance changes a second over the last ``window``, counted on every shard's ledger."""
        layout, _ = self._shards(account_id)
        low, high = ledger_sk_bound(now - window), ledger_sk_bound(now)
        bounds = LedgerEntryItem.sk.between(low, high)
        entries = sum(
            LedgerEntryItem.count(partition, bounds, consistent_read=True)
            for partition in ledger_partitions(account_id, layout.peak)
        )
        if layout.peak > 1:  # issue 14 §3: two-write charges have their entries in the ledger table
            entries += ledger_table_count(account_id, layout.peak, low=low, high=high)
        return entries / window.total_seconds()

    def follow_rate(self, account_id: str, now: datetime) -> ShardLayout:
        """Set the count the observed rate asks for, then even the credit; the layout after."""
        layout, _ = self._shards(account_id)
        wanted = planned_count(self.observed_rate(account_id, now), layout)
        if wanted != layout.count:
            self.set_count(account_id, wanted)
        self.rebalance(account_id)
        return self._shards(account_id)[0]
