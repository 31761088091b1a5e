"""S3 event notifications -> catalog: parsing, ordering by sequencer, restore lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.catalog.entries import CatalogEntry, ObjectState, normalise_sequencer
from functions.catalog.memory_store import InMemoryObjectCatalog
from functions.catalog.s3_events import CatalogEventApplier, S3EventRecord
from functions.catalog.settings import CatalogSettings
from tests.unit.catalog.fakes import NOW, FakeArchiveOrigin

BUCKET = "media-bucket"


def record(event_name: str, key: str, *, sequencer: str | None = None, **extra: Any) -> dict[str, Any]:
    s3_object: dict[str, Any] = {"key": key, "size": 11, "eTag": "e1"}
    if sequencer is not None:
        s3_object["sequencer"] = sequencer
    document: dict[str, Any] = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-11-21T12:00:00.000Z",
        "eventName": event_name,
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": extra.pop("bucket", BUCKET)},
            "object": s3_object,
        },
    }
    document.update(extra)
    return document


@pytest.fixture
def applier(catalog: InMemoryObjectCatalog, origin: FakeArchiveOrigin) -> CatalogEventApplier:
    return CatalogEventApplier(catalog, origin, CatalogSettings(bucket=BUCKET))


def state(catalog: InMemoryObjectCatalog, key: str) -> ObjectState | None:
    entry = catalog.get(key)
    return entry.state if entry else None


def test_keys_are_url_decoded_with_plus_as_space():
    parsed = S3EventRecord.parse(record("ObjectCreated:Put", "videos/my+clip%C3%A9.mp4", sequencer="0A1B"))
    assert parsed.key == "videos/my clipé.mp4"
    assert parsed.sequencer == normalise_sequencer("0A1B")


def test_sequencers_compare_after_padding():
    assert normalise_sequencer("FF") < normalise_sequencer("100")
    with pytest.raises(ValueError, match="sequencer"):
        normalise_sequencer("not-hex")


def test_created_event_heads_the_object_and_stores_it(applier, catalog, origin):
    origin.add("a.bin", size=11, storage_class="STANDARD")
    applier.handle({"Records": [record("ObjectCreated:Put", "a.bin", sequencer="10")]}, NOW)
    entry = catalog.get("a.bin")
    assert entry is not None
    assert (entry.state, entry.size, entry.storage_class) == (ObjectState.READY, 11, "STANDARD")


def test_created_in_glacier_is_archived(applier, catalog, origin):
    origin.add("cold.bin", storage_class="GLACIER")
    applier.handle({"Records": [record("ObjectCreated:Put", "cold.bin", sequencer="10")]}, NOW)
    assert state(catalog, "cold.bin") is ObjectState.ARCHIVED


def test_out_of_order_delete_then_create_keeps_the_newer_event(applier, catalog, origin):
    origin.add("a.bin")
    # S3 delivered the DELETE (sequencer 20) before the PUT it follows (sequencer 10).
    applier.handle({"Records": [record("ObjectRemoved:Delete", "a.bin", sequencer="20")]}, NOW)
    outcomes = applier.handle({"Records": [record("ObjectCreated:Put", "a.bin", sequencer="10")]}, NOW)
    assert [outcome.applied for outcome in outcomes] == [False]
    assert state(catalog, "a.bin") is ObjectState.MISSING


def test_removed_event_tombstones_with_ttl(applier, catalog):
    applier.handle({"Records": [record("ObjectRemoved:Delete", "a.bin", sequencer="20")]}, NOW)
    entry = catalog.get("a.bin")
    assert entry is not None
    assert entry.tombstone_expires_at == NOW + timedelta(hours=1)


def test_created_event_for_a_key_deleted_since_is_skipped(applier, catalog):
    outcomes = applier.handle({"Records": [record("ObjectCreated:Put", "gone.bin", sequencer="10")]}, NOW)
    assert [outcome.applied for outcome in outcomes] == [False]
    assert catalog.get("gone.bin") is None


def test_other_buckets_and_sources_are_ignored(applier, catalog, origin):
    origin.add("a.bin")
    event = {
        "Records": [
            record("ObjectCreated:Put", "a.bin", sequencer="10", bucket="other-bucket"),
            {"eventSource": "aws:sqs"},
        ]
    }
    applier.handle(event, NOW)
    assert catalog.get("a.bin") is None


def test_restore_lifecycle_post_completed_delete(applier, catalog):
    catalog.put(
        CatalogEntry(key="cold.bin", state=ObjectState.ARCHIVED, updated_at=NOW, storage_class="GLACIER")
    )
    applier.handle({"Records": [record("ObjectRestore:Post", "cold.bin")]}, NOW)
    assert state(catalog, "cold.bin") is ObjectState.RESTORING

    expiry = "2026-11-23T00:00:00.000Z"
    completed = record(
        "ObjectRestore:Completed",
        "cold.bin",
        glacierEventData={
            "restoreEventData": {
                "lifecycleRestorationExpiryTime": expiry,
                "lifecycleRestoreStorageClass": "GLACIER",
            }
        },
    )
    applier.handle({"Records": [completed]}, NOW + timedelta(hours=3))
    entry = catalog.get("cold.bin")
    assert entry is not None
    assert entry.state is ObjectState.READY
    assert entry.restored_until == datetime(2026, 11, 23, tzinfo=UTC)

    applier.handle({"Records": [record("ObjectRestore:Delete", "cold.bin")]}, NOW + timedelta(days=2))
    assert state(catalog, "cold.bin") is ObjectState.ARCHIVED


def test_lifecycle_transition_refreshes_the_storage_class(applier, catalog, origin):
    origin.add("old.bin", storage_class="STANDARD")
    applier.handle({"Records": [record("ObjectCreated:Put", "old.bin", sequencer="10")]}, NOW)
    origin.objects["old.bin"].listed = origin.objects["old.bin"].listed.__class__(
        key="old.bin", size=10, etag="e1", storage_class="GLACIER"
    )
    transition = record("LifecycleTransition", "old.bin")
    transition["s3"]["object"]["eTag"] = "e1"
    applier.handle({"Records": [transition]}, NOW + timedelta(days=90))
    assert state(catalog, "old.bin") is ObjectState.ARCHIVED
