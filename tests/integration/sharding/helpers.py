"""Reads of the raw shard items, for assertions the store's API does not expose."""

from __future__ import annotations

from functions.credits.data.models import LedgerEntryItem, LedgerTableModel, ledger_shard_pk, ledger_table_pk
from functions.credits.store.shards import read_shards, shard_index


def shard_balances(account_id: str) -> list[int]:
    """Every shard's balance, by index (``[0, peak)``)."""
    found = read_shards(account_id)
    assert found is not None
    layout, shards = found
    balances = [0] * layout.peak
    for item in shards:
        balances[shard_index(account_id, item)] = int(item.balance)
    return balances


def ledger_entries_per_shard(account_id: str) -> list[int]:
    """Entries on each shard's own ledger partition (an account that was split)."""
    found = read_shards(account_id)
    assert found is not None
    return [
        LedgerEntryItem.count(ledger_shard_pk(account_id, shard), LedgerEntryItem.sk.startswith("ledger#"))
        for shard in range(found[0].peak)
    ]


def stream_entries_per_shard(account_id: str, peak: int) -> list[int]:
    """Entries the ledger writer put on each shard's ledger-table partition (issue 14 §3)."""
    return [
        LedgerTableModel.count(ledger_table_pk(account_id, shard), LedgerTableModel.sk.startswith("ledger#"))
        for shard in range(peak)
    ]
