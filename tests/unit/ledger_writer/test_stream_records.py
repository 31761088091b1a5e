"""The ledger writer's reading of stream records, its operation and message formats (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from functions.credits.store.records import ChargeIntent
from functions.credits.store.stream_ledger import (
    OperationKind,
    ShardOperation,
    compensation_entry_id,
    ledger_table_entry,
)
from functions.credits.store.two_write_charge import takes_two_writes
from functions.ledger_writer.handler import _from_queue
from functions.ledger_writer.recheck import ParkedAttempt
from functions.ledger_writer.writer import shard_of, shard_write_of
from local.ledger_writer import DelayedRecheckQueue

AT = datetime(2026, 12, 5, 12, 0, 0, 123456, tzinfo=UTC)
OP = ShardOperation(
    kind=OperationKind.CHARGE,
    account_id="acct_1",
    request_id="rid-1",
    attempt="at_1",
    entry_id="le_1",
    amount=-3,
    at=AT,
    method="GET",
    path="/a.bin",
    bytes=10,
    key_id="key_1",
)


def _record(
    event: str, pk: str, new: dict[str, Any] | None, old: dict[str, Any] | None, sk: str = "balance"
) -> dict[str, Any]:
    def image(values: dict[str, Any]) -> dict[str, Any]:
        document: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": sk}, "balance": {"N": "5"}}
        if "seq" in values:
            document["seq"] = {"N": str(values["seq"])}
        if "op" in values:
            document["op"] = {"S": values["op"]}
        return document

    change: dict[str, Any] = {}
    if new is not None:
        change["NewImage"] = image(new)
    if old is not None:
        change["OldImage"] = image(old)
    return {"eventName": event, "eventSource": "aws:dynamodb", "dynamodb": change}


def test_an_operation_survives_its_json() -> None:
    assert ShardOperation.decode(OP.encode()) == OP
    assert OP.encode() == ShardOperation.decode(OP.encode()).encode()  # fixed text: identical items


def test_a_shard_write_that_moved_seq_carries_its_operation() -> None:
    record = _record("MODIFY", "balanceshard#acct_1#3", {"seq": 8, "op": OP.encode()}, {"seq": 7})
    write = shard_write_of(record)
    assert write is not None
    assert (write.shard, write.seq, write.op) == (3, 8, OP)
    first = _record("MODIFY", "account#acct_1", {"seq": 1, "op": OP.encode()}, {})
    assert shard_write_of(first) is not None
    assert shard_of("account#acct_1") == 0


@pytest.mark.parametrize(
    "record",
    [
        # A grant, refund, move or standing change: seq did not move.
        _record("MODIFY", "account#acct_1", {"seq": 4, "op": OP.encode()}, {"seq": 4, "op": OP.encode()}),
        # A shard never charged by two writes.
        _record("MODIFY", "balanceshard#acct_1#1", {}, {}),
        # Not a balance shard: a ledger entry, a charge record.
        _record("INSERT", "account#acct_1", {"seq": 1, "op": OP.encode()}, None, sk="ledger#x"),
        _record("INSERT", "request#rid-1", {"seq": 1, "op": OP.encode()}, None, sk="balance"),
        _record("REMOVE", "account#acct_1", None, {"seq": 1, "op": OP.encode()}),
    ],
)
def test_other_records_carry_no_entry(record: dict[str, Any]) -> None:
    assert shard_write_of(record) is None


def test_the_entry_is_fixed_by_the_record() -> None:
    entry = ledger_table_entry(OP, 3, 8)
    again = ledger_table_entry(ShardOperation.decode(OP.encode()), 3, 8)
    assert entry.serialize() == again.serialize()
    assert (entry.pk, entry.kind, int(entry.amount), int(entry.seq)) == ("ledger#acct_1#s3", "charge", -3, 8)
    assert entry.sk.endswith("#le_1")
    compensation = ShardOperation(
        kind=OperationKind.COMPENSATION,
        account_id="acct_1",
        request_id="rid-1",
        attempt="compensation:at_1",
        entry_id=compensation_entry_id("at_1"),
        amount=3,
        at=AT,
        compensates="at_1",
    )
    given_back = ledger_table_entry(compensation, 3, 9)
    assert (given_back.kind, int(given_back.amount), given_back.compensates) == ("refund", 3, "at_1")
    assert compensation_entry_id("at_1") == compensation_entry_id("at_1") != compensation_entry_id("at_2")


def test_a_parked_attempt_survives_its_message() -> None:
    parked = ParkedAttempt("acct_1", 2, "rid-1", "at_1", 3)
    assert ParkedAttempt.from_json(parked.to_json()) == parked


def test_the_handler_tells_the_queue_from_the_stream() -> None:
    assert _from_queue({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]})
    assert not _from_queue({"Records": [{"eventSource": "aws:dynamodb"}]})
    assert not _from_queue({"Records": []})


def test_only_split_accounts_without_counters_take_two_writes() -> None:
    intent = ChargeIntent("acct_1", "key_1", "rid-1", 1, "GET", "/a", 1, AT)
    assert not takes_two_writes(intent, 1)  # a quiet account keeps its one transaction
    assert takes_two_writes(intent, 2)
    limited = ChargeIntent("acct_1", "key_1", "rid-1", 1, "GET", "/a", 1, AT, spend_limit=10)
    assert not takes_two_writes(limited, 4)
    linked = ChargeIntent("acct_1", "key_1", "rid-1", 1, "GET", "/a", 1, AT, link_digest="d" * 64)
    assert not takes_two_writes(linked, 4)


def test_the_local_queue_holds_each_attempt_for_its_delay() -> None:
    now = [100.0]
    queue = DelayedRecheckQueue(60.0, clock=lambda: now[0])
    first, second = ParkedAttempt("a", 0, "r1", "at_1", 1), ParkedAttempt("a", 1, "r2", "at_2", 1)
    queue.park(first)
    now[0] = 130.0
    queue.park(second)
    assert queue.take_due() == []
    now[0] = 160.0
    assert queue.take_due() == [first]
    assert len(queue) == 1
    assert queue.take_due(all_now=True) == [second]
    assert len(queue) == 0
