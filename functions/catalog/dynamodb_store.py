"""The catalog on DynamoDB (the objects table), through pynamodb.

Every pynamodb/botocore failure leaves this module as a ``CatalogUnavailable``; a failed
condition is not an error but an answer (``False``/``None``) of the conditional methods.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from pynamodb.exceptions import PynamoDBException
from pynamodb.expressions.condition import Condition

from functions.catalog.entries import CatalogEntry, ObjectState
from functions.catalog.models import (
    OBJECT_SK,
    ObjectItem,
    all_listing_shards,
    listing_shard,
    object_pk,
)
from functions.catalog.settings import CatalogSettings
from functions.catalog.store import CatalogUnavailable

_CONDITION_FAILED = "ConditionalCheckFailedException"
# BatchWriteItem takes at most 25 items.
_BATCH_ITEMS = 25
_BATCH_WORKERS = 4


def bind_objects_table(settings: CatalogSettings) -> None:
    """Point the model at the configured table and endpoint (pynamodb keeps these on ``Meta``)."""
    meta = ObjectItem.Meta
    meta.table_name = settings.objects_table
    meta.region = settings.region  # type: ignore[attr-defined]
    meta.host = settings.dynamodb_endpoint  # type: ignore[attr-defined]
    meta.connect_timeout_seconds = settings.dynamodb_connect_timeout_seconds  # type: ignore[attr-defined]
    meta.read_timeout_seconds = settings.dynamodb_read_timeout_seconds  # type: ignore[attr-defined]
    ObjectItem._connection = None


def create_objects_table(settings: CatalogSettings) -> None:
    """Create the table (on-demand) if it does not exist. For DynamoDB Local and tests; CDK does AWS."""
    bind_objects_table(settings)
    if not ObjectItem.exists():
        ObjectItem.create_table(billing_mode="PAY_PER_REQUEST", wait=True)


def delete_objects_table(settings: CatalogSettings) -> None:
    bind_objects_table(settings)
    if ObjectItem.exists():
        ObjectItem.delete_table()


def _new_revision() -> str:
    return uuid.uuid4().hex


def entry_to_item(entry: CatalogEntry) -> ObjectItem:
    listed = entry.state is not ObjectState.MISSING
    ttl = entry.tombstone_expires_at if entry.state is ObjectState.MISSING else None
    return ObjectItem(
        pk=object_pk(entry.key),
        sk=OBJECT_SK,
        object_key=entry.key,
        state=entry.state.value,
        updated_at=entry.updated_at,
        listing_shard=listing_shard(entry.key) if listed else None,
        size=entry.size,
        etag=entry.etag,
        content_type=entry.content_type,
        storage_class=entry.storage_class,
        last_modified=entry.last_modified,
        restore_started_at=entry.restore_started_at,
        restore_expected_at=entry.restore_expected_at,
        restore_tier=entry.restore_tier,
        restored_until=entry.restored_until,
        tombstone_expires_at=entry.tombstone_expires_at,
        sequencer=entry.sequencer,
        revision=entry.revision or _new_revision(),
        ttl=ttl,
    )


def item_to_entry(item: ObjectItem) -> CatalogEntry:
    return CatalogEntry(
        key=item.object_key,
        state=ObjectState(item.state),
        updated_at=item.updated_at,
        size=int(item.size) if item.size is not None else None,
        etag=item.etag,
        content_type=item.content_type,
        storage_class=item.storage_class,
        last_modified=item.last_modified,
        restore_started_at=item.restore_started_at,
        restore_expected_at=item.restore_expected_at,
        restore_tier=item.restore_tier,
        restored_until=item.restored_until,
        tombstone_expires_at=item.tombstone_expires_at,
        sequencer=item.sequencer,
        revision=item.revision,
    )


def _unavailable(operation: str, error: PynamoDBException) -> CatalogUnavailable:
    """The one way a pynamodb failure leaves this module."""
    return CatalogUnavailable(f"catalog {operation} failed: {error.cause_response_code or error}")


def _write_chunk(saves: list[ObjectItem], deletes: list[ObjectItem]) -> None:
    try:
        # pynamodb's batch writer retries unprocessed items with backoff.
        with ObjectItem.batch_write() as batch:
            for item in saves:
                batch.save(item)
            for item in deletes:
                batch.delete(item)
    except PynamoDBException as error:
        raise _unavailable("batch write", error) from error


def _is_condition_failure(error: PynamoDBException) -> bool:
    return error.cause_response_code == _CONDITION_FAILED


class DynamoObjectCatalog:
    """``ObjectCatalog`` on the objects table. Bind the model first (``bind_objects_table``)."""

    def get(self, key: str, *, consistent: bool = False) -> CatalogEntry | None:
        try:
            item = ObjectItem.get(object_pk(key), OBJECT_SK, consistent_read=consistent)
        except ObjectItem.DoesNotExist:
            return None
        except PynamoDBException as error:
            raise _unavailable("read", error) from error
        return item_to_entry(item)

    def _conditional_save(self, entry: CatalogEntry, condition: Condition | None) -> CatalogEntry | None:
        written = entry.with_changes(revision=_new_revision())
        try:
            entry_to_item(written).save(condition=condition)
        except PynamoDBException as error:
            if _is_condition_failure(error):
                return None
            raise _unavailable("write", error) from error
        return written

    def put(self, entry: CatalogEntry) -> CatalogEntry:
        written = self._conditional_save(entry, None)
        assert written is not None  # an unconditional write cannot fail its condition
        return written

    def replace_if_unchanged(self, entry: CatalogEntry, expected: CatalogEntry | None) -> CatalogEntry | None:
        condition: Condition
        if expected is None:
            condition = ObjectItem.pk.does_not_exist()
        else:
            condition = ObjectItem.revision == (expected.revision or "")
        return self._conditional_save(entry, condition)

    def put_if_newer_event(self, entry: CatalogEntry) -> bool:
        if entry.sequencer is None:
            raise ValueError("an event entry needs its sequencer")
        condition = ObjectItem.sequencer.does_not_exist() | (ObjectItem.sequencer < entry.sequencer)
        return self._conditional_save(entry, condition) is not None

    def delete_if_newer_event(self, key: str, sequencer: str, tombstone: CatalogEntry) -> bool:
        condition = ObjectItem.sequencer.does_not_exist() | (ObjectItem.sequencer < sequencer)
        return self._conditional_save(tombstone.with_changes(sequencer=sequencer), condition) is not None

    def put_tombstone(self, tombstone: CatalogEntry, observed_at: datetime) -> bool:
        # A write after the 404 was observed (an upload, an event) knows better than the 404.
        condition = ObjectItem.pk.does_not_exist() | (ObjectItem.updated_at <= observed_at)
        return self._conditional_save(tombstone, condition) is not None

    def delete(self, key: str) -> None:
        try:
            ObjectItem(object_pk(key), OBJECT_SK).delete()
        except PynamoDBException as error:
            raise _unavailable("delete", error) from error

    def write_batch(self, entries: Iterable[CatalogEntry], deleted_keys: Iterable[str]) -> None:
        items = [entry_to_item(entry.with_changes(revision=_new_revision())) for entry in entries]
        deletions = [ObjectItem(object_pk(key), OBJECT_SK) for key in deleted_keys]
        chunks: list[tuple[list[ObjectItem], list[ObjectItem]]] = [
            (items[start : start + _BATCH_ITEMS], []) for start in range(0, len(items), _BATCH_ITEMS)
        ] + [
            ([], deletions[start : start + _BATCH_ITEMS]) for start in range(0, len(deletions), _BATCH_ITEMS)
        ]
        if not chunks:
            return
        # BatchWriteItem calls are independent; a few in flight at once keep a big sync I/O-bound.
        with ThreadPoolExecutor(max_workers=min(_BATCH_WORKERS, len(chunks))) as pool:
            for outcome in [pool.submit(_write_chunk, saves, deletes) for saves, deletes in chunks]:
                outcome.result()

    def iter_listed(self) -> Iterator[CatalogEntry]:
        def shard_entries(shard: str) -> Iterator[CatalogEntry]:
            try:
                for item in ObjectItem.listing.query(shard):
                    yield item_to_entry(item)
            except PynamoDBException as error:
                raise _unavailable("listing", error) from error

        # Each shard is in key order; merging them lazily keeps memory at one page per shard.
        return heapq.merge(
            *(shard_entries(shard) for shard in all_listing_shards()), key=lambda entry: entry.key
        )
