"""The audit on the stream-derived ledger (issue 14 §7), pure: money in flight is pending, a gap or
a duplicate sequence number is a mismatch, a compensated pair nets to zero per request id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from functions.credits.data.models import (
    CHARGE_SK,
    BalanceItem,
    ChargeRecordItem,
    CompensationItem,
    CreditsTableModel,
    LedgerEntryItem,
    LedgerTableModel,
    account_pk,
    balance_shard_pk,
    compensation_sk,
    ledger_sk,
    request_pk,
)
from functions.credits.store.stream_ledger import (
    OperationKind,
    ShardOperation,
    compensation_entry_id,
    ledger_table_entry,
)
from ops.audit import MismatchKind, PendingKind, audit_items

ACCOUNT = "acct_a"
AT = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def _shard(index: int, balance: int, seq: int) -> BalanceItem:
    return BalanceItem(
        balance_shard_pk(ACCOUNT, index), "balance", account_id=ACCOUNT, balance=balance, seq=seq
    )


def _debit(request_id: str, attempt: str, seq: int, shard: int = 1) -> LedgerTableModel:
    op = ShardOperation(
        OperationKind.CHARGE, ACCOUNT, request_id, attempt, f"le_{attempt}", -1, AT + timedelta(seconds=seq)
    )
    return ledger_table_entry(op, shard, seq)


def _give_back(request_id: str, attempt: str, seq: int, shard: int = 1) -> LedgerTableModel:
    op = ShardOperation(
        OperationKind.COMPENSATION,
        ACCOUNT,
        request_id,
        f"compensation:{attempt}",
        compensation_entry_id(attempt),
        1,
        AT + timedelta(seconds=seq),
        compensates=attempt,
    )
    return ledger_table_entry(op, shard, seq)


def _record(request_id: str, attempt: str) -> ChargeRecordItem:
    return ChargeRecordItem(
        request_pk(request_id),
        CHARGE_SK,
        account_id=ACCOUNT,
        key_id="key_a",
        entry_id=f"le_{attempt}",
        amount=1,
        method="GET",
        path="/a",
        created_at=AT,
        ttl=AT + timedelta(days=90),
        shard=1,
        attempt=attempt,
    )


def _granted(amount: int) -> list[CreditsTableModel]:
    """Shard 0 holds what a grant put there; the grant's entry is on the credits table."""
    entry = LedgerEntryItem(
        account_pk(ACCOUNT),
        ledger_sk(AT, "le_grant"),
        account_id=ACCOUNT,
        entry_id="le_grant",
        request_id="grant:g",
        kind="grant",
        amount=amount,
        created_at=AT,
    )
    return [entry]


def test_a_shard_counted_ahead_of_its_entries_is_pending_not_wrong() -> None:
    items = [_shard(0, 8, 0), _shard(1, 0, 2), *_granted(10), _record("r1", "at_1"), _record("r2", "at_2")]
    report = audit_items(items, [_debit("r1", "at_1", 1)])  # the second entry is still on the stream
    assert report.ok, report.mismatches
    kinds = {pending.kind for pending in report.pending}
    assert kinds == {PendingKind.STREAM_LAG, PendingKind.ACCOUNT_IN_FLIGHT}
    settled = audit_items(items, [_debit("r1", "at_1", 1), _debit("r2", "at_2", 2)])
    assert settled.ok, settled.mismatches
    assert settled.pending == ()
    assert settled.charges == 2


def test_a_duplicate_sequence_number_is_a_mismatch() -> None:
    items = [_shard(0, 8, 0), _shard(1, 0, 2), *_granted(10), _record("r1", "at_1")]
    report = audit_items(items, [_debit("r1", "at_1", 1), _debit("r2", "at_2", 1)])
    assert MismatchKind.SHARD_SEQ_DUPLICATED in {mismatch.kind for mismatch in report.mismatches}


def test_a_compensated_debit_nets_to_one_charge_per_request_id() -> None:
    marker = CompensationItem(
        request_pk("r1"), compensation_sk("at_lost"), account_id=ACCOUNT, shard=1, amount=1, created_at=AT
    )
    items = [_shard(0, 8, 0), _shard(1, 1, 3), *_granted(10), _record("r1", "at_won"), marker]
    entries = [_debit("r1", "at_won", 1), _debit("r1", "at_lost", 2), _give_back("r1", "at_lost", 3)]
    report = audit_items(items, entries)
    assert report.ok, report.mismatches
    assert report.pending == ()
    assert report.charges == 1
    # Before the writer gave it back, the losing debit is pending: not kept, not compensated.
    early = audit_items(
        [_shard(0, 9, 0), _shard(1, -1, 2), *_granted(10), _record("r1", "at_won")], entries[:2]
    )
    assert PendingKind.UNRESOLVED_DEBIT in {pending.kind for pending in early.pending}
