"""Cancellation reasons are read by item name, whatever order pynamodb sends the items in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pynamodb.connection import Connection
from pynamodb.exceptions import CancellationReason, TransactWriteError, VerboseClientError

from functions.credits.data.models import BalanceItem, ChargeRecordItem, LedgerEntryItem
from functions.credits.data.transactions import LabelledTransaction, TransactionCancelled, run_transaction
from functions.credits.store.errors import StoreUnavailable


def cancelled(
    codes: list[str | None], response_code: str = "TransactionCanceledException"
) -> TransactWriteError:
    cause = VerboseClientError(
        {"Error": {"Code": response_code, "Message": "cancelled"}},
        "TransactWriteItems",
        {},
        cancellation_reasons=[None if code is None else CancellationReason(code=code) for code in codes],
    )
    return TransactWriteError("Failed to write transaction items", cause)


def build_charge_like(connection: Connection) -> LabelledTransaction:
    transaction = LabelledTransaction(connection)
    # Added update first, puts after: pynamodb sends puts before updates.
    transaction.update("balance", BalanceItem("account#a", "balance"), [BalanceItem.balance.set(1)])
    now = datetime.now(UTC)
    record = ChargeRecordItem(
        "request#r",
        "charge",
        account_id="a",
        key_id="k",
        entry_id="e",
        amount=1,
        method="GET",
        path="/",
        bytes=0,
        created_at=now,
        ttl=now,
    )
    entry = LedgerEntryItem(
        "account#a",
        "ledger#t#e",
        account_id="a",
        entry_id="e",
        request_id="r",
        kind="charge",
        amount=-1,
        created_at=now,
    )
    transaction.put("record", record)
    transaction.put("ledger", entry)
    return transaction


def test_labels_follow_the_order_pynamodb_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []

    def dispatch(self: Connection, operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        sent.extend(kwargs["TransactItems"])
        return {}

    monkeypatch.setattr(Connection, "dispatch", dispatch)
    transaction = build_charge_like(Connection(region="us-east-1"))
    transaction.commit()
    keys = [next(iter(item.values()))["Key" if "Update" in item else "Item"]["pk"]["S"] for item in sent]
    by_label = dict(zip(transaction.labels_as_sent(), keys, strict=True))
    assert by_label == {"balance": "account#a", "record": "request#r", "ledger": "account#a"}
    assert transaction.labels_as_sent() == ["record", "ledger", "balance"]


class FailingTransaction:
    def __init__(self, errors: list[TransactWriteError], labels: list[str]) -> None:
        self.errors = errors
        self.labels = labels
        self.commits = 0

    def labels_as_sent(self) -> list[str]:
        return self.labels

    def commit(self) -> None:
        self.commits += 1
        if self.errors:
            raise self.errors.pop(0)


def test_a_failed_condition_is_reported_by_item_name() -> None:
    attempt = FailingTransaction(
        [cancelled(["ConditionalCheckFailed", None, "ConditionalCheckFailed"])],
        ["record", "ledger", "balance"],
    )
    with pytest.raises(TransactionCancelled) as raised:
        run_transaction(lambda: attempt, attempts=3, sleep=lambda _: None)  # type: ignore[arg-type, return-value]
    assert raised.value.failed("record") is not None
    assert raised.value.failed("balance") is not None
    assert raised.value.failed("ledger") is None


def test_conflicts_and_throttling_are_retried_then_give_up_as_busy() -> None:
    attempt = FailingTransaction(
        [cancelled([None, "TransactionConflict", None]), cancelled([], "ThrottlingException")],
        ["a", "b", "c"],
    )
    run_transaction(lambda: attempt, attempts=3, sleep=lambda _: None)  # type: ignore[arg-type, return-value]
    assert attempt.commits == 3

    always = FailingTransaction([cancelled(["TransactionConflict"]) for _ in range(5)], ["a"])
    with pytest.raises(StoreUnavailable):
        run_transaction(lambda: always, attempts=5, sleep=lambda _: None)  # type: ignore[arg-type, return-value]
    assert always.commits == 5


def test_other_errors_are_not_retried() -> None:
    attempt = FailingTransaction([cancelled([], "ValidationException")], ["a"])
    with pytest.raises(TransactWriteError):
        run_transaction(lambda: attempt, attempts=5, sleep=lambda _: None)  # type: ignore[arg-type, return-value]
    assert attempt.commits == 1
