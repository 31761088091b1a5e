"""A writer killed halfway, and batches delivered again: the same ledger, no duplicate, no gap, no
second compensation (every step is idempotent: fixed ledger items, markers and voids put IF absent)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from functions.credits.data.models import LedgerTableModel, ledger_table_pk
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.records import AlreadyCharged, Charged, ChargeIntent
from functions.credits.store.shards import read_shards
from local.events import StreamReader, ensure_stream, local_clients
from local.ledger_writer import LocalLedgerWriter
from tests.integration.ledger_writer.conftest import audit, split_account

pytestmark = pytest.mark.dynamodb

SHARDS = 4


def _ledger_table(account_id: str) -> list[dict[str, Any]]:
    """The account's ledger-table entries, as stored, in key order."""
    return [
        entry.serialize()
        for shard in range(SHARDS)
        for entry in LedgerTableModel.query(ledger_table_pk(account_id, shard), consistent_read=True)
    ]


def _all_records(settings: Settings) -> list[dict[str, Any]]:
    dynamodb, streams = local_clients(settings.dynamodb_endpoint or "", settings.region)
    reader = StreamReader(streams, ensure_stream(dynamodb, settings.credits_table), "TRIM_HORIZON")
    records: list[dict[str, Any]] = []
    while batch := reader.poll():
        records.extend(batch)
    return records


def test_a_killed_writer_and_redelivered_batches_leave_one_ledger(writer_settings: Settings) -> None:
    account_id = split_account(writer_settings, 60, SHARDS)
    containers = [DynamoDBCreditsStore(writer_settings) for _ in range(2)]
    # The second container learns the layout first (a cold one charges by the one-transaction way,
    # whose record condition answers a duplicate without any debit).
    warm = ChargeIntent(account_id, "key_r", f"warm-{account_id}", 1, "GET", "/r", 1, datetime.now(UTC))
    assert isinstance(containers[1].charge(warm), Charged)
    for number in range(24):
        request_id = f"r-{account_id}-{number}"
        intent = ChargeIntent(account_id, "key_r", request_id, 1, "GET", "/r", 1, datetime.now(UTC))
        outcomes = [containers[0].charge(intent)] + (
            [containers[1].charge(intent)] if number % 4 == 0 else []
        )
        assert isinstance(outcomes[0], Charged)
        assert all(isinstance(outcome, AlreadyCharged) for outcome in outcomes[1:])
    records = _all_records(writer_settings)

    # A writer dies after half of the stream: its entries are written, its settlements half done.
    killed = LocalLedgerWriter(writer_settings, region=writer_settings.region)
    for record in records[: len(records) // 2]:
        killed.writer.write_record(record)
    # The next one reads the stream from the start (Lambda retries the batch), and gets every
    # record twice more (a redelivered batch).
    restarted = LocalLedgerWriter(writer_settings, region=writer_settings.region)
    restarted.drain(settle_all_parked=True)
    first_ledger = _ledger_table(account_id)
    first_balance = containers[0].get_balance(account_id)
    for record in records + records:
        restarted.writer.write_record(record)
    restarted.drain(settle_all_parked=True)
    assert _ledger_table(account_id) == first_ledger
    assert containers[0].get_balance(account_id) == first_balance == 60 - 25

    found = read_shards(account_id)
    assert found is not None
    seq_total = sum(int(shard.seq or 0) for shard in found[1])
    assert len(first_ledger) == seq_total == 25 + 6 + 6  # 25 charges, 6 losing debits, 6 given back
    report = audit(writer_settings)
    assert report.ok, report.mismatches
    assert [pending for pending in report.pending if pending.account_id == account_id] == []
