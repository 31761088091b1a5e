"""DynamoDB transactions whose cancellation reasons are mapped to items by name.

pynamodb sends a transaction's items grouped by kind (condition checks, then deletes, then
puts, then updates), whatever order they were added in, and DynamoDB reports cancellation
reasons by position in what was sent. ``LabelledTransaction`` names every item and keeps
the names in the order pynamodb sends them, so callers read reasons by name and never by
position. Transactions cancelled only by conflicting transactions or throttling are retried
with jittered exponential backoff; exhausting the attempts raises ``StoreUnavailable``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import CancellationReason, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from functions.credits.store.errors import StoreUnavailable

CONDITION_FAILED = "ConditionalCheckFailed"
# Reasons (per item) and error codes (whole request) that mean "try again", not "no".
RETRYABLE_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)
RETRYABLE_ERRORS = frozenset(
    {
        "TransactionConflictException",
        "TransactionInProgressException",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
    }
)

_BACKOFF_BASE_SECONDS = 0.005
_BACKOFF_CAP_SECONDS = 0.2


@dataclass
class LabelledTransaction:
    connection: Connection
    _transaction: TransactWrite = field(init=False)
    _labels: dict[str, list[str]] = field(init=False)

    def __post_init__(self) -> None:
        self._transaction = TransactWrite(connection=self.connection)
        self._labels = {"condition_check": [], "delete": [], "put": [], "update": []}

    def condition_check(
        self, label: str, model: type[Model], hash_key: str, range_key: str, condition: Condition
    ) -> None:
        self._transaction.condition_check(model, hash_key, range_key, condition=condition)
        self._labels["condition_check"].append(label)

    def put(
        self, label: str, item: Model, condition: Condition | None = None, *, return_old: bool = False
    ) -> None:
        self._transaction.save(item, condition=condition, return_values="ALL_OLD" if return_old else None)
        self._labels["put"].append(label)

    def update(
        self,
        label: str,
        item: Model,
        actions: Sequence[Action],
        condition: Condition | None = None,
        *,
        return_old: bool = False,
    ) -> None:
        self._transaction.update(
            item, list(actions), condition=condition, return_values="ALL_OLD" if return_old else None
        )
        self._labels["update"].append(label)

    def labels_as_sent(self) -> list[str]:
        """Item names in the order pynamodb's ``Connection.transact_write_items`` sends them."""
        return [
            label for kind in ("condition_check", "delete", "put", "update") for label in self._labels[kind]
        ]

    def commit(self) -> None:
        self._transaction._commit()


class TransactionCancelled(Exception):
    """Some item's condition failed: ``reasons`` maps item names to DynamoDB's reasons."""

    def __init__(self, reasons: dict[str, CancellationReason]) -> None:
        super().__init__(", ".join(f"{label}: {reason.code}" for label, reason in reasons.items()))
        self.reasons = reasons

    def failed(self, label: str) -> CancellationReason | None:
        """The reason of ``label`` when its condition failed, else None."""
        reason = self.reasons.get(label)
        return reason if reason is not None and reason.code == CONDITION_FAILED else None


def run_transaction(
    build: Callable[[], LabelledTransaction],
    *,
    attempts: int,
    sleep: Callable[[float], Any] = time.sleep,
) -> None:
    """Commit the transaction ``build`` makes; retry conflicts; raise TransactionCancelled on a 'no'."""
    for attempt in range(attempts):
        transaction = build()
        try:
            transaction.commit()
            return
        except TransactWriteError as error:
            labels = transaction.labels_as_sent()
            reasons = {
                label: reason
                for label, reason in zip(labels, error.cancellation_reasons, strict=False)
                if reason is not None
            }
            if any(reason.code == CONDITION_FAILED for reason in reasons.values()):
                raise TransactionCancelled(reasons) from None
            retryable = (
                error.cause_response_code == "TransactionCanceledException"
                and reasons
                and all(reason.code in RETRYABLE_REASONS for reason in reasons.values())
            ) or error.cause_response_code in RETRYABLE_ERRORS
            if not retryable:
                raise
        if attempt + 1 < attempts:
            sleep(random.uniform(0, min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2**attempt)))
    raise StoreUnavailable("conflicting transactions or throttling outlasted the retries")
