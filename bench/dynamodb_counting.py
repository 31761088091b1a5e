"""Count DynamoDB calls and capacity units in this process, through botocore event hooks.

``count_dynamodb()`` hooks every DynamoDB client created inside the block (boto3's, pynamodb's;
through bench/dynamodb_clients.py) so that it reports to one ``DynamoDBCounter``:
HTTP attempts (``before-send``), completed operations, and capacity two ways:

- ``reported_*``: what the server put in ``ConsumedCapacity`` (``ReturnConsumedCapacity=TOTAL``
  is added to every operation that accepts it). DynamoDB Local under-reports transactions
  (a three-item TransactWriteItems reports 2.0 units), so this is shown but not billed;
- ``billed_*``: AWS's published unit rules applied to the items of every successful request,
  read off the request and the reply (item sizes by ``local.dynamodb_capacity.item_size``): 1 write
  unit per started KiB, 2 in a transaction; a read unit per started 4 KiB (half for eventually
  consistent reads), 2 in a transaction. Updates, deletes and condition checks are billed on the
  item they touch; ours are far below 1 KiB, so they count as one KiB (a lower bound otherwise).

Clients created before the block are not seen: bind the tables inside it.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from local.dynamodb_capacity.client_hook import hook_new_dynamodb_clients
from local.dynamodb_capacity.item_size import (
    attribute_value_size,
    item_size,
    read_units,
    write_units,
)

__all__ = ["DynamoDBCounter", "DynamoDBCounts", "attribute_value_size", "count_dynamodb", "item_size"]

# Operations that accept ReturnConsumedCapacity (DynamoDB API reference).
CAPACITY_REPORTING_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)


@dataclass
class DynamoDBCounter:
    http_attempts: int = 0
    operations: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    reported_read_units: float = 0.0
    reported_write_units: float = 0.0
    billed_read_units: float = 0.0
    billed_write_units: float = 0.0
    # Called with (operation, a copy of its parameters) before each call: lets a benchmark
    # replay exactly the requests the service made.
    request_observers: list[Callable[[str, dict[str, Any]], None]] = field(default_factory=list)
    # Off while a benchmark times calls: the hooks' own work (item sizes, capacity requests) must
    # not be in a measured rate; clients stay hooked so counting can resume.
    counting: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def operation_count(self) -> int:
        return sum(self.operations.values())

    def snapshot(self) -> DynamoDBCounts:
        with self._lock:
            return DynamoDBCounts(
                http_attempts=self.http_attempts,
                operations=dict(self.operations),
                errors=dict(self.errors),
                reported_read_units=self.reported_read_units,
                reported_write_units=self.reported_write_units,
                billed_read_units=self.billed_read_units,
                billed_write_units=self.billed_write_units,
            )

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Count nothing inside the block (the hooks return at once)."""
        self.counting = False
        try:
            yield
        finally:
            self.counting = True

    def reset(self) -> None:
        with self._lock:
            self.http_attempts = 0
            self.operations.clear()
            self.errors.clear()
            self.reported_read_units = 0.0
            self.reported_write_units = 0.0
            self.billed_read_units = 0.0
            self.billed_write_units = 0.0

    # --- botocore event handlers ------------------------------------------------------------

    def _ask_for_capacity(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if not self.counting:
            return
        for observer in self.request_observers:
            observer(model.name, copy.deepcopy(params))
        if model.name in CAPACITY_REPORTING_OPERATIONS:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        # The request's write units are known from its items; keep them for after-call.
        context[_BILLED_WRITES] = billed_write_units(model.name, params)
        context[_CONSISTENT_READ] = bool(params.get("ConsistentRead"))

    def _count_attempt(self, **_: Any) -> None:
        if not self.counting:
            return
        with self._lock:
            self.http_attempts += 1

    def _count_result(
        self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if not self.counting:
            return
        status = getattr(http_response, "status_code", 200)
        succeeded = status < 400
        billed_reads = billed_read_units(model.name, parsed, bool(context.get(_CONSISTENT_READ)))
        consumed = parsed.get("ConsumedCapacity")
        entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
        with self._lock:
            self.operations[model.name] += 1
            if succeeded:
                self.billed_write_units += float(context.get(_BILLED_WRITES, 0.0))
                self.billed_read_units += billed_reads
            else:
                self.errors[parsed.get("Error", {}).get("Code", str(status))] += 1
            for entry in entries:
                reads = entry.get("ReadCapacityUnits")
                writes = entry.get("WriteCapacityUnits")
                capacity = entry.get("CapacityUnits", 0.0)
                # Transactions report CapacityUnits split into read/write; single ops one or the other.
                if reads is None and writes is None:
                    if model.name in {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}:
                        self.reported_read_units += float(capacity)
                    else:
                        self.reported_write_units += float(capacity)
                else:
                    self.reported_read_units += float(reads or 0.0)
                    self.reported_write_units += float(writes or 0.0)

    def attach(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-parameter-build.dynamodb.*", self._ask_for_capacity)
        events.register("before-send.dynamodb.*", self._count_attempt)
        events.register("after-call.dynamodb.*", self._count_result)


@dataclass(frozen=True, slots=True)
class DynamoDBCounts:
    http_attempts: int
    operations: dict[str, int]
    errors: dict[str, int]
    reported_read_units: float
    reported_write_units: float
    billed_read_units: float
    billed_write_units: float

    @property
    def operation_count(self) -> int:
        return sum(self.operations.values())


_BILLED_WRITES = "edgemeter_billed_write_units"
_CONSISTENT_READ = "edgemeter_consistent_read"


def _write_units_of(item: dict[str, Any] | None) -> int:
    # Updates, deletes and condition checks name only the key here: at least one KiB unit.
    return write_units(item_size(item or {}))


def billed_write_units(operation: str, params: dict[str, Any]) -> float:
    if operation == "PutItem":
        return _write_units_of(params.get("Item"))
    if operation in {"UpdateItem", "DeleteItem"}:
        return _write_units_of(params.get("Key"))
    if operation == "TransactWriteItems":
        units = 0
        for transact_item in params.get("TransactItems", []):
            for kind, request in transact_item.items():
                item = request.get("Item") if kind == "Put" else request.get("Key")
                units += 2 * _write_units_of(item)
        return units
    if operation == "BatchWriteItem":
        return sum(
            _write_units_of(
                request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key")
            )
            for requests in params.get("RequestItems", {}).values()
            for request in requests
        )
    return 0.0


def _read_units_of(items: list[dict[str, Any]], consistent: bool) -> float:
    return read_units(sum(item_size(item) for item in items), consistent=consistent)


def billed_read_units(operation: str, parsed: dict[str, Any], consistent: bool) -> float:
    if operation == "GetItem":
        item = parsed.get("Item")
        return _read_units_of([item] if item else [], consistent)
    if operation in {"Query", "Scan"}:
        return _read_units_of(parsed.get("Items", []), consistent)
    if operation == "TransactGetItems":
        responses = parsed.get("Responses", [])
        return sum(2 * _read_units_of([response.get("Item") or {}], True) for response in responses)
    return 0.0


@contextmanager
def count_dynamodb() -> Iterator[DynamoDBCounter]:
    """Count every DynamoDB call of clients created inside the block (all threads)."""
    counter = DynamoDBCounter()
    with hook_new_dynamodb_clients(counter.attach):
        yield counter
