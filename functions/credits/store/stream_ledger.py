"""The stream-derived ledger (issue 14 §3-4): what a shard write carries, and the ledger table.

A sharded account's allow is two single-item writes (functions/credits/store/two_write_charge.py):
the shard's debit, which bumps ``seq`` and sets ``op`` (this module's ``ShardOperation``, JSON),
and the charge record. The ledger writer (functions/ledger_writer/) turns every shard write whose
``seq`` moved into one ledger-table entry whose key and content come from the stream record alone,
so a redelivered batch rewrites identical items. Compensations are shard writes of the same kind
(``op.kind`` = ``compensation``), so their entries come from the stream too.

Reads (ledger pages, usage, the audit) merge the ledger table's shard partitions with the entries
in the credits table, and hide a compensated debit together with its compensation (both exist,
sum to zero, and are not the customer's charge): the ``CompensationItem`` markers say which.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from functions.credits.data.models import (
    CompensationItem,
    LedgerEntryItem,
    LedgerTableModel,
    compensation_sk,
    ledger_sk,
    ledger_table_pk,
    request_pk,
)
from functions.credits.store.records import LedgerKind, LedgerRecord, UsageLine


class OperationKind(StrEnum):
    CHARGE = "charge"
    COMPENSATION = "compensation"


@dataclass(frozen=True, slots=True)
class ShardOperation:
    """One ledger-bearing write of a balance shard: a debit attempt or its compensation.

    ``amount`` is signed as in the ledger (a debit negative). ``attempt`` is unique per debit
    attempt; a compensation's ``compensates`` names the attempt it gives back.
    """

    kind: OperationKind
    account_id: str
    request_id: str
    attempt: str
    entry_id: str
    amount: int
    at: datetime
    method: str | None = None
    path: str | None = None
    bytes: int | None = None
    key_id: str | None = None
    compensates: str | None = None

    def encode(self) -> str:
        document: dict[str, Any] = asdict(self)
        document["at"] = self.at.isoformat()
        return json.dumps(document, sort_keys=True, separators=(",", ":"))

    @staticmethod
    def decode(text: str) -> ShardOperation:
        document = json.loads(text)
        document["kind"] = OperationKind(document["kind"])
        document["at"] = datetime.fromisoformat(document["at"])
        return ShardOperation(**document)


def compensation_entry_id(attempt: str) -> str:
    """The compensation of ``attempt``'s ledger entry id: fixed by the attempt, so a repeat is the same."""
    return "le_" + hashlib.sha256(f"compensation:{attempt}".encode()).hexdigest()[:24]


def ledger_table_entry(op: ShardOperation, shard: int, seq: int) -> LedgerTableModel:
    """The ledger-table item of shard ``shard``'s write number ``seq`` (content from ``op`` only)."""
    compensation = op.kind is OperationKind.COMPENSATION
    return LedgerTableModel(
        ledger_table_pk(op.account_id, shard),
        ledger_sk(op.at, op.entry_id),
        account_id=op.account_id,
        entry_id=op.entry_id,
        request_id=op.request_id,
        kind="refund" if compensation else "charge",
        amount=op.amount,
        method=op.method,
        path=op.path,
        bytes=op.bytes,
        reason="compensation" if compensation else None,
        key_id=op.key_id,
        created_at=op.at,
        shard=shard,
        seq=seq,
        attempt=op.attempt,
        compensates=op.compensates,
    )


# --- the ledger table: reads (bound with the other tables: functions/credits/data/tables.py) ---


def compensated_attempts(entries: Iterable[LedgerTableModel]) -> set[str]:
    """The debit attempts among ``entries`` that were compensated (their markers exist)."""
    keys = {
        (request_pk(entry.request_id), compensation_sk(entry.attempt))
        for entry in entries
        if entry.kind == OperationKind.CHARGE.value and entry.attempt is not None
    }
    if not keys:
        return set()
    return {
        item.sk.split("#", 1)[1] for item in CompensationItem.batch_get(sorted(keys), consistent_read=True)
    }


def visible_entries(entries: Sequence[LedgerTableModel]) -> list[LedgerTableModel]:
    """``entries`` without compensations and without the debits they compensated."""
    hidden = compensated_attempts(entries)
    return [
        entry
        for entry in entries
        if entry.compensates is None and (entry.attempt is None or entry.attempt not in hidden)
    ]


def ledger_table_partitions(account_id: str, peak: int) -> list[str]:
    return [ledger_table_pk(account_id, shard) for shard in range(peak)]


def scan_entries(page_size: int = 1000) -> Iterator[LedgerTableModel]:
    """Every ledger-table entry (the audit's strongly consistent scan)."""
    yield from LedgerTableModel.scan(consistent_read=True, page_size=page_size)


def ledger_record_of(item: LedgerTableModel | LedgerEntryItem) -> LedgerRecord:
    """An entry of either ledger (the ledger table's, or the credits table's transactional one)."""
    return LedgerRecord(
        account_id=item.account_id,
        entry_id=item.entry_id,
        request_id=item.request_id,
        kind=LedgerKind(item.kind),
        amount=int(item.amount),
        created_at=item.created_at,
        method=item.method,
        path=item.path,
        bytes=None if item.bytes is None else int(item.bytes),
        reason=item.reason,
        key_id=item.key_id,
    )


@dataclass(frozen=True, slots=True)
class LedgerTableSlice:
    """The visible entries of one newest-first read of every shard partition.

    ``boundary``: when a partition had more than ``limit`` entries, the oldest sort key read from
    the partitions cut short (the newest of those), so the caller returns nothing older than it
    on this page: hidden entries may have made a cut partition look shorter than it is.
    """

    entries: list[LedgerTableModel]
    boundary: str | None


def ledger_table_slice(
    account_id: str, peak: int, *, low: str, high: str, limit: int, before: str | None
) -> LedgerTableSlice:
    """Up to ``limit`` entries a partition, newest first, sort keys in ``[low, high]`` and below
    ``before`` (a cursor's last sort key), compensated pairs left out."""
    read: list[LedgerTableModel] = []
    cut: list[str] = []
    for partition in ledger_table_partitions(account_id, peak):
        start_key = None if before is None else {"pk": {"S": partition}, "sk": {"S": before}}
        page = list(
            LedgerTableModel.query(
                partition,
                LedgerTableModel.sk.between(low, high),
                scan_index_forward=False,
                limit=limit,
                last_evaluated_key=start_key,
                consistent_read=True,
            )
        )
        read.extend(page)
        if len(page) == limit:
            cut.append(page[-1].sk)
    newest_first = sorted(visible_entries(read), key=lambda entry: entry.sk, reverse=True)
    return LedgerTableSlice(newest_first, max(cut) if cut else None)


def ledger_table_usage_lines(account_id: str, peak: int, *, low: str, high: str) -> list[UsageLine]:
    """What usage adds up from the ledger table: every visible entry of the period."""
    read = [
        entry
        for partition in ledger_table_partitions(account_id, peak)
        for entry in LedgerTableModel.query(
            partition, LedgerTableModel.sk.between(low, high), consistent_read=True, page_size=1000
        )
    ]
    return [
        UsageLine(
            entry.kind, int(entry.amount), entry.method, None if entry.bytes is None else int(entry.bytes)
        )
        for entry in visible_entries(read)
    ]


def ledger_table_count(account_id: str, peak: int, *, low: str, high: str) -> int:
    """How many ledger-table entries the account's shards have with sort keys in ``[low, high]``
    (the rate policy counts balance changes; a compensated pair counts twice, as it wrote twice)."""
    return sum(
        LedgerTableModel.count(partition, LedgerTableModel.sk.between(low, high), consistent_read=True)
        for partition in ledger_table_partitions(account_id, peak)
    )
