"""Read and write units per partition, as DynamoDB charges them, for one low-level request.

The rules (DynamoDB Developer Guide: "DynamoDB read and write operations", read-write-operations.html;
"Capacity management for transactions", transaction-apis.html; "Provisioned throughput
considerations for global secondary indexes", GSI.ThroughputConsiderations.html):

- a write costs one unit per started KiB of the larger of the item before and after it; a delete
  the size of the item deleted; a write whose condition fails still costs its units;
- a read costs one unit per started 4 KiB (a Query sums its items, then rounds; a batch rounds each
  item); an eventually consistent read half; a read of a missing item the minimum;
- every item of TransactWriteItems / TransactGetItems costs twice (two underlying operations);
  a ConditionCheck is charged like a write of its item;
- a write that puts, changes or removes an item's entry in a global secondary index also writes the
  index, charged to the index's own partition key value; the entry is the index keys, the projected
  attributes and 100 bytes of overhead (with an ALL projection, the item plus 100 bytes);
- everything with one partition key value (an item collection) shares one partition.

Requests are the wire-format JSON botocore sends (``{"S": "..."}`` attribute values). What the
request does not show (the size of the item an update or delete touches) comes from
``KnownItems``, which remembers what this process wrote and read; an item never seen counts as
its key alone, which DynamoDB rounds up to one unit anyway.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from local.dynamodb_capacity.item_size import attribute_value_size, item_size, read_units, write_units

INDEX_ENTRY_OVERHEAD_BYTES = 100
TRANSACTION_MULTIPLIER = 2
# A Scan reads every partition of a table: it is metered but not held to one partition's limit.
WHOLE_TABLE = "*"

WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
READ_OPERATIONS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition key value of a table, or of one of its global secondary indexes."""

    table: str
    partition_key: str
    index: str | None = None


@dataclass(frozen=True, slots=True)
class UnitCharge:
    partition: Partition
    read_units: float = 0.0
    write_units: float = 0.0
    # Which TransactItems entry it belongs to (a throttled transaction names its items).
    item_position: int | None = None


@dataclass(frozen=True, slots=True)
class IndexSchema:
    name: str
    hash_key: str
    range_key: str | None
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    projected: frozenset[str] = frozenset()

    def entry_size(self, item: Mapping[str, Any], table_keys: Iterable[str]) -> int:
        """Bytes of this index's entry for ``item`` (keys, projected attributes, overhead)."""
        if self.projection == "ALL":
            return item_size(dict(item)) + INDEX_ENTRY_OVERHEAD_BYTES
        names = {self.hash_key, *table_keys, *([self.range_key] if self.range_key else []), *self.projected}
        return item_size({name: item[name] for name in names if name in item}) + INDEX_ENTRY_OVERHEAD_BYTES


@dataclass(frozen=True, slots=True)
class TableSchema:
    name: str
    hash_key: str
    range_key: str | None = None
    global_indexes: tuple[IndexSchema, ...] = ()

    @property
    def key_names(self) -> tuple[str, ...]:
        return (self.hash_key, self.range_key) if self.range_key else (self.hash_key,)

    @classmethod
    def from_description(cls, table: Mapping[str, Any]) -> TableSchema:
        """From DescribeTable's ``Table``."""
        return cls(
            name=str(table["TableName"]),
            hash_key=_key_of(table["KeySchema"], "HASH") or "",
            range_key=_key_of(table["KeySchema"], "RANGE"),
            global_indexes=tuple(
                IndexSchema(
                    name=str(index["IndexName"]),
                    hash_key=_key_of(index["KeySchema"], "HASH") or "",
                    range_key=_key_of(index["KeySchema"], "RANGE"),
                    projection=str(index.get("Projection", {}).get("ProjectionType", "ALL")),
                    projected=frozenset(index.get("Projection", {}).get("NonKeyAttributes", [])),
                )
                for index in table.get("GlobalSecondaryIndexes", [])
            ),
        )


def _key_of(key_schema: Iterable[Mapping[str, str]], key_type: str) -> str | None:
    return next((element["AttributeName"] for element in key_schema if element["KeyType"] == key_type), None)


def partition_value(value: Mapping[str, Any]) -> str:
    """A partition key value as text (``S:account#1``): equal values, equal text."""
    (kind, payload), *_ = value.items()
    return f"{kind}:{payload}"


# table name -> its schema (DescribeTable, cached by the caller); None when it cannot be known.
SchemaSource = Callable[[str], TableSchema | None]


@dataclass(frozen=True, slots=True)
class KnownItem:
    size: int
    # index name -> the partition key value of the item's entry in that index
    index_partitions: Mapping[str, str]


@dataclass
class KnownItems:
    """Sizes (and index memberships) of the items this process last wrote or read, bounded."""

    max_items: int = 200_000
    _items: dict[tuple[str, str], KnownItem] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @staticmethod
    def _key(schema: TableSchema, key: Mapping[str, Any]) -> tuple[str, str]:
        return schema.name, "|".join(partition_value(key[name]) for name in schema.key_names if name in key)

    def get(self, schema: TableSchema, key: Mapping[str, Any]) -> KnownItem | None:
        with self._lock:
            return self._items.get(self._key(schema, key))

    def remember(self, schema: TableSchema, item: Mapping[str, Any]) -> KnownItem:
        known = KnownItem(size=item_size(dict(item)), index_partitions=index_partitions(schema, item))
        with self._lock:
            if len(self._items) >= self.max_items:
                self._items.clear()  # a bound, not an LRU: an item forgotten counts as its key only
            self._items[self._key(schema, item)] = known
        return known

    def replace(self, schema: TableSchema, key: Mapping[str, Any], known: KnownItem | None) -> None:
        with self._lock:
            if known is None:
                self._items.pop(self._key(schema, key), None)
            else:
                self._items[self._key(schema, key)] = known


def index_partitions(schema: TableSchema, item: Mapping[str, Any]) -> dict[str, str]:
    """The index entries ``item`` has: a global index holds only items with its key attributes."""
    return {
        index.name: partition_value(item[index.hash_key])
        for index in schema.global_indexes
        if index.hash_key in item and (index.range_key is None or index.range_key in item)
    }


# --- writes ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeteringContext:
    """Where table schemas come from, and what is known of the items (shared by reads and writes)."""

    schemas: SchemaSource
    known: KnownItems


def _put(context: MeteringContext, schema: TableSchema, item: Mapping[str, Any]) -> list[UnitCharge]:
    before = context.known.get(schema, item)
    after = context.known.remember(schema, item)
    base = Partition(schema.name, partition_value(item[schema.hash_key]))
    charges = [UnitCharge(base, write_units=write_units(max(after.size, before.size if before else 0)))]
    entries = {index.name: index.entry_size(item, schema.key_names) for index in schema.global_indexes}
    return charges + _index_writes(schema, before, after, entries)


def _index_writes(
    schema: TableSchema, before: KnownItem | None, after: KnownItem | None, entry_sizes: Mapping[str, int]
) -> list[UnitCharge]:
    """An index write per entry put or changed, and a delete of every entry that moved or went away."""
    old = before.index_partitions if before else {}
    new = after.index_partitions if after else {}
    charges: list[UnitCharge] = []
    for index in schema.global_indexes:
        if index.name in new:
            units = write_units(entry_sizes.get(index.name, INDEX_ENTRY_OVERHEAD_BYTES))
            charges.append(UnitCharge(Partition(schema.name, new[index.name], index.name), write_units=units))
        if index.name in old and old.get(index.name) != new.get(index.name):
            # The entry moved to another key (or left the index): its old entry is deleted too.
            charges.append(UnitCharge(Partition(schema.name, old[index.name], index.name), write_units=1))
    return charges


_ASSIGNMENT = re.compile(r"(#?[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)")
_SECTION = re.compile(r"\b(SET|REMOVE|ADD|DELETE)\b", re.IGNORECASE)


def _updated_item(request: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The attributes an update assigns (``name = :value``; other forms are sized, not read) and the
    names it removes."""
    names: Mapping[str, str] = request.get("ExpressionAttributeNames", {})
    values: Mapping[str, Any] = request.get("ExpressionAttributeValues", {})
    expression = str(request.get("UpdateExpression", ""))
    assigned: dict[str, Any] = dict(request["Key"])
    removed: set[str] = set()
    for section, body in _sections(expression):
        if section == "SET":
            for name, placeholder in _ASSIGNMENT.findall(body):
                if placeholder in values:
                    assigned[names.get(name, name)] = values[placeholder]
        elif section == "REMOVE":
            removed.update(names.get(name.strip(), name.strip()) for name in body.split(","))
    return assigned, removed


def _sections(expression: str) -> list[tuple[str, str]]:
    parts = _SECTION.split(expression)
    return [(parts[at].upper(), parts[at + 1]) for at in range(1, len(parts) - 1, 2)]


def _update(context: MeteringContext, schema: TableSchema, request: Mapping[str, Any]) -> list[UnitCharge]:
    key: Mapping[str, Any] = request["Key"]
    before = context.known.get(schema, key)
    assigned, removed = _updated_item(request)
    values_size = sum(
        attribute_value_size(value) for value in request.get("ExpressionAttributeValues", {}).values()
    )
    size_after = max(before.size if before else 0, item_size(dict(key)) + values_size)
    partitions = dict(before.index_partitions) if before else {}
    partitions.update(index_partitions(schema, assigned))
    for index in schema.global_indexes:
        if index.hash_key in removed or (index.range_key and index.range_key in removed):
            partitions.pop(index.name, None)
    after = KnownItem(size=size_after, index_partitions=partitions)
    context.known.replace(schema, key, after)
    base = Partition(schema.name, partition_value(key[schema.hash_key]))
    charges = [UnitCharge(base, write_units=write_units(max(size_after, before.size if before else 0)))]
    # An index is written when the update touches its entry: its keys, or what it projects.
    touched = set(assigned) | removed
    entry_sizes = {index.name: size_after + INDEX_ENTRY_OVERHEAD_BYTES for index in schema.global_indexes}
    affected = [
        index
        for index in schema.global_indexes
        if index.projection == "ALL"
        or touched & {index.hash_key, index.range_key or index.hash_key, *index.projected}
    ]
    relevant_before = _only(before, affected)
    relevant_after = _only(after, affected)
    return charges + _index_writes(schema, relevant_before, relevant_after, entry_sizes)


def _only(known: KnownItem | None, indexes: list[IndexSchema]) -> KnownItem | None:
    if known is None:
        return None
    names = {index.name for index in indexes}
    return KnownItem(
        known.size, {name: value for name, value in known.index_partitions.items() if name in names}
    )


def _delete(context: MeteringContext, schema: TableSchema, key: Mapping[str, Any]) -> list[UnitCharge]:
    before = context.known.get(schema, key)
    context.known.replace(schema, key, None)
    base = Partition(schema.name, partition_value(key[schema.hash_key]))
    charges = [UnitCharge(base, write_units=write_units(before.size if before else item_size(dict(key))))]
    return charges + _index_writes(schema, before, None, {})


def _condition_check(
    context: MeteringContext, schema: TableSchema, key: Mapping[str, Any]
) -> list[UnitCharge]:
    before = context.known.get(schema, key)
    base = Partition(schema.name, partition_value(key[schema.hash_key]))
    return [UnitCharge(base, write_units=write_units(before.size if before else item_size(dict(key))))]


def _single_write(context: MeteringContext, kind: str, request: Mapping[str, Any]) -> list[UnitCharge]:
    schema = context.schemas(str(request["TableName"]))
    if schema is None:
        return []
    if kind == "Put":
        return _put(context, schema, request["Item"])
    if kind == "Update":
        return _update(context, schema, request)
    if kind == "Delete":
        return _delete(context, schema, request["Key"])
    return _condition_check(context, schema, request["Key"])


def meter_write(operation: str, params: Mapping[str, Any], context: MeteringContext) -> list[UnitCharge]:
    """The write units ``operation`` costs, per partition; known before it is sent (DynamoDB charges a
    write whatever its condition decides)."""
    if operation in {"PutItem", "UpdateItem", "DeleteItem"}:
        return _single_write(context, operation.removesuffix("Item"), params)
    if operation == "TransactWriteItems":
        return [
            UnitCharge(
                charge.partition, write_units=TRANSACTION_MULTIPLIER * charge.write_units, item_position=at
            )
            for at, entry in enumerate(params.get("TransactItems", []))
            for kind, request in entry.items()
            for charge in _single_write(context, kind, request)
        ]
    if operation == "BatchWriteItem":
        charges: list[UnitCharge] = []
        for table, requests in params.get("RequestItems", {}).items():
            for request in requests:
                if "PutRequest" in request:
                    charges += _single_write(context, "Put", {"TableName": table, **request["PutRequest"]})
                else:
                    charges += _single_write(
                        context, "Delete", {"TableName": table, **request["DeleteRequest"]}
                    )
        return charges
    return []


# --- reads -----------------------------------------------------------------------------------------


def _query_partition(schema: TableSchema, params: Mapping[str, Any]) -> Partition:
    """The partition a Query reads: its key condition's equality on the (index's) partition key."""
    index_name = params.get("IndexName")
    index = next((index for index in schema.global_indexes if index.name == index_name), None)
    hash_key = index.hash_key if index else schema.hash_key
    names: Mapping[str, str] = params.get("ExpressionAttributeNames", {})
    values: Mapping[str, Any] = params.get("ExpressionAttributeValues", {})
    for name, placeholder in _ASSIGNMENT.findall(str(params.get("KeyConditionExpression", ""))):
        if names.get(name, name) == hash_key and placeholder in values:
            return Partition(schema.name, partition_value(values[placeholder]), index.name if index else None)
    return Partition(schema.name, WHOLE_TABLE, index.name if index else None)


def _size_of(schema: TableSchema, item: Mapping[str, Any] | None, known: KnownItems) -> int:
    """Bytes of an item read back (remembered for later updates); 0 for an item that is not there."""
    if not item:
        return 0
    if all(name in item for name in schema.key_names):
        return known.remember(schema, item).size
    return item_size(dict(item))  # a projection: sized, not remembered as the whole item


def _key_matches(schema: TableSchema, key: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
    return all(item.get(name) == key.get(name) for name in schema.key_names)


def _get_item(
    params: Mapping[str, Any], parsed: Mapping[str, Any] | None, context: MeteringContext
) -> list[UnitCharge]:
    schema = context.schemas(str(params["TableName"]))
    if schema is None:
        return []
    key: Mapping[str, Any] = params["Key"]
    if parsed is None:
        known = context.known.get(schema, key)
        size = known.size if known else 0
    else:
        size = _size_of(schema, parsed.get("Item"), context.known)
    partition = Partition(schema.name, partition_value(key[schema.hash_key]))
    return [UnitCharge(partition, read_units=read_units(size, consistent=bool(params.get("ConsistentRead"))))]


def _query_or_scan(
    operation: str, params: Mapping[str, Any], parsed: Mapping[str, Any] | None, context: MeteringContext
) -> list[UnitCharge]:
    schema = context.schemas(str(params["TableName"]))
    if schema is None:
        return []
    if operation == "Query":
        partition = _query_partition(schema, params)
    else:
        partition = Partition(schema.name, WHOLE_TABLE, params.get("IndexName"))
    items = (parsed or {}).get("Items", [])
    # One rounding for the whole page: a Query sums its items' sizes first.
    size = sum(_size_of(schema, item, context.known) for item in items)
    # Global secondary indexes serve eventually consistent reads only.
    consistent = bool(params.get("ConsistentRead")) and partition.index is None
    return [UnitCharge(partition, read_units=read_units(size, consistent=consistent))]


def _batch_get(
    params: Mapping[str, Any], parsed: Mapping[str, Any] | None, context: MeteringContext
) -> list[UnitCharge]:
    charges: list[UnitCharge] = []
    responses = (parsed or {}).get("Responses", {})
    unprocessed = (parsed or {}).get("UnprocessedKeys", {})
    for table, request in params.get("RequestItems", {}).items():
        schema = context.schemas(str(table))
        if schema is None:
            continue
        returned = responses.get(table, [])
        skipped = unprocessed.get(table, {}).get("Keys", [])
        for key in request.get("Keys", []):
            if key in skipped:
                continue
            if parsed is None:
                known = context.known.get(schema, key)
                size = known.size if known else 0
            else:
                item = next((item for item in returned if _key_matches(schema, key, item)), None)
                size = _size_of(schema, item, context.known)
            # Each item of a batch is rounded on its own, as separate GetItems are.
            units = read_units(size, consistent=bool(request.get("ConsistentRead")))
            charges.append(
                UnitCharge(Partition(schema.name, partition_value(key[schema.hash_key])), read_units=units)
            )
    return charges


def _transact_get(
    params: Mapping[str, Any], parsed: Mapping[str, Any] | None, context: MeteringContext
) -> list[UnitCharge]:
    charges: list[UnitCharge] = []
    responses = (parsed or {}).get("Responses", [])
    for at, entry in enumerate(params.get("TransactItems", [])):
        request = entry["Get"]
        schema = context.schemas(str(request["TableName"]))
        if schema is None:
            continue
        key = request["Key"]
        if parsed is None:
            known = context.known.get(schema, key)
            size = known.size if known else 0
        else:
            size = _size_of(schema, responses[at].get("Item") if at < len(responses) else None, context.known)
        units = TRANSACTION_MULTIPLIER * read_units(size, consistent=True)
        partition = Partition(schema.name, partition_value(key[schema.hash_key]))
        charges.append(UnitCharge(partition, read_units=units, item_position=at))
    return charges


def meter_read(
    operation: str, params: Mapping[str, Any], parsed: Mapping[str, Any] | None, context: MeteringContext
) -> list[UnitCharge]:
    """The read units ``operation`` costs, per partition: estimated from what this process knows when
    ``parsed`` is None (before sending), else from the items DynamoDB returned."""
    if operation == "GetItem":
        return _get_item(params, parsed, context)
    if operation in {"Query", "Scan"}:
        return _query_or_scan(operation, params, parsed, context)
    if operation == "BatchGetItem":
        return _batch_get(params, parsed, context)
    if operation == "TransactGetItems":
        return _transact_get(params, parsed, context)
    return []
