"""The DynamoDB catalog on DynamoDB Local: conditional writes and the ordered, sparse listing index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.catalog.dynamodb_store import DynamoObjectCatalog
from functions.catalog.entries import CatalogEntry, ObjectState, normalise_sequencer
from functions.catalog.models import LISTING_SHARDS, listing_shard

pytestmark = pytest.mark.dynamodb

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def ready(key: str, **changes: object) -> CatalogEntry:
    return CatalogEntry(key=key, state=ObjectState.READY, updated_at=NOW, size=1, etag="e").with_changes(
        **changes
    )


def test_round_trip_keeps_every_field(objects_catalog: DynamoObjectCatalog):
    entry = ready(
        "dir/ünïcode file.bin",
        storage_class="GLACIER",
        state=ObjectState.RESTORING,
        restore_started_at=NOW,
        restore_expected_at=NOW + timedelta(hours=3),
        restore_tier="Bulk",
        content_type="video/mp4",
        size=5 * 1024**3,
    )
    written = objects_catalog.put(entry)
    assert written.revision
    read = objects_catalog.get("dir/ünïcode file.bin", consistent=True)
    assert read == written
    assert objects_catalog.get("absent") is None


def test_replace_if_unchanged_lets_exactly_one_writer_win(objects_catalog: DynamoObjectCatalog):
    original = objects_catalog.put(ready("k"))
    first = objects_catalog.replace_if_unchanged(original.with_changes(state=ObjectState.ARCHIVED), original)
    second = objects_catalog.replace_if_unchanged(
        original.with_changes(state=ObjectState.RESTORING), original
    )
    assert first is not None
    assert second is None
    assert objects_catalog.replace_if_unchanged(ready("new"), None) is not None
    assert objects_catalog.replace_if_unchanged(ready("new"), None) is None


def test_events_apply_only_in_sequencer_order(objects_catalog: DynamoObjectCatalog):
    newer, older = normalise_sequencer("0100"), normalise_sequencer("FF")
    assert objects_catalog.put_if_newer_event(ready("k", sequencer=newer, size=2))
    assert not objects_catalog.put_if_newer_event(ready("k", sequencer=older, size=3))
    tombstone = CatalogEntry(key="k", state=ObjectState.MISSING, updated_at=NOW)
    assert not objects_catalog.delete_if_newer_event("k", older, tombstone)
    entry = objects_catalog.get("k", consistent=True)
    assert entry is not None
    assert entry.size == 2
    assert objects_catalog.delete_if_newer_event("k", normalise_sequencer("0101"), tombstone)


def test_tombstone_does_not_overwrite_a_later_write(objects_catalog: DynamoObjectCatalog):
    objects_catalog.put(ready("k", updated_at=NOW + timedelta(seconds=5)))
    tombstone = CatalogEntry(key="k", state=ObjectState.MISSING, updated_at=NOW, tombstone_expires_at=NOW)
    assert not objects_catalog.put_tombstone(tombstone, observed_at=NOW)
    assert objects_catalog.put_tombstone(tombstone.with_changes(key="other"), observed_at=NOW)


def test_listing_is_in_key_order_across_shards_and_leaves_tombstones_out(
    objects_catalog: DynamoObjectCatalog,
):
    keys = [f"k/{number:04d}" for number in range(300)] + ["Z", "a", "é", "~"]
    assert len({listing_shard(key) for key in keys}) == LISTING_SHARDS
    objects_catalog.write_batch([ready(key) for key in keys], ())
    tombstone = CatalogEntry(
        key="k/0150x", state=ObjectState.MISSING, updated_at=NOW, tombstone_expires_at=NOW
    )
    objects_catalog.put(tombstone)
    listed = [entry.key for entry in objects_catalog.iter_listed()]
    assert listed == sorted(keys)
    objects_catalog.write_batch((), ["a", "Z"])
    assert "a" not in [entry.key for entry in objects_catalog.iter_listed()]
