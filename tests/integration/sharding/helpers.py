"""Reads of the raw shard items, for assertions the store's API does not expose."""

from __future__ import annotations

from functions.credits.data.models import LedgerEntryItem, ledger_shard_pk
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
