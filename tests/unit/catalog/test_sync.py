"""Reconciliation of the catalog with a bucket listing: a streaming merge join."""

from __future__ import annotations

from datetime import timedelta

import pytest

from functions.catalog.entries import CatalogEntry, ListedObject, ObjectState
from functions.catalog.memory_store import InMemoryObjectCatalog
from functions.catalog.sync import ListingOrderError, reconcile
from tests.unit.catalog.fakes import NOW

TTL = timedelta(hours=1)


def listing(*keys: str, storage_class: str = "STANDARD") -> list[ListedObject]:
    return [
        ListedObject(key=key, size=len(key), etag=f"etag-{key}", storage_class=storage_class) for key in keys
    ]


def test_first_sync_adds_everything_second_changes_nothing():
    catalog = InMemoryObjectCatalog()
    objects = listing("a", "b/c", "b/d", "é")
    first = reconcile(objects, catalog, now=NOW, tombstone_ttl=TTL)
    assert (first.listed, first.added, first.changed, first.removed) == (4, 4, 0, 0)
    writes = catalog.writes
    second = reconcile(objects, catalog, now=NOW, tombstone_ttl=TTL)
    assert (second.added, second.changed, second.removed, second.unchanged) == (0, 0, 0, 4)
    assert catalog.writes == writes  # idempotent: nothing written


def test_changes_removals_and_additions_are_reported():
    catalog = InMemoryObjectCatalog()
    reconcile(listing("a", "b", "c"), catalog, now=NOW, tombstone_ttl=TTL)
    changed = [
        *listing("a"),
        ListedObject(key="b", size=99, etag="new", storage_class="STANDARD"),
        *listing("d"),
    ]
    report = reconcile(changed, catalog, now=NOW, tombstone_ttl=TTL)
    assert (report.added, report.changed, report.removed, report.unchanged) == (1, 1, 1, 1)
    assert (report.added_keys, report.changed_keys, report.removed_keys) == (["d"], ["b"], ["c"])
    removed = catalog.get("c")
    assert removed is not None
    assert removed.state is ObjectState.MISSING
    assert removed.tombstone_expires_at == NOW + TTL


def test_a_tombstoned_key_that_appears_in_the_bucket_is_added():
    catalog = InMemoryObjectCatalog()
    catalog.put(
        CatalogEntry(key="x", state=ObjectState.MISSING, updated_at=NOW, tombstone_expires_at=NOW + TTL)
    )
    report = reconcile(listing("x"), catalog, now=NOW, tombstone_ttl=TTL)
    assert report.added == 1
    entry = catalog.get("x")
    assert entry is not None
    assert entry.state is ObjectState.READY


def test_archive_class_is_archived_and_a_running_restore_is_kept():
    catalog = InMemoryObjectCatalog()
    reconcile(listing("cold", storage_class="GLACIER"), catalog, now=NOW, tombstone_ttl=TTL)
    entry = catalog.get("cold")
    assert entry is not None
    assert entry.state is ObjectState.ARCHIVED
    catalog.put(entry.with_changes(state=ObjectState.RESTORING, restore_expected_at=NOW + TTL))
    # A listing without restore status must not undo what the restore told us.
    report = reconcile(listing("cold", storage_class="GLACIER"), catalog, now=NOW, tombstone_ttl=TTL)
    assert report.changed == 0


def test_storage_class_transition_is_a_change():
    catalog = InMemoryObjectCatalog()
    reconcile(listing("k"), catalog, now=NOW, tombstone_ttl=TTL)
    report = reconcile(listing("k", storage_class="DEEP_ARCHIVE"), catalog, now=NOW, tombstone_ttl=TTL)
    assert report.changed == 1
    entry = catalog.get("k")
    assert entry is not None
    assert entry.state is ObjectState.ARCHIVED


def test_dry_run_writes_nothing():
    catalog = InMemoryObjectCatalog()
    report = reconcile(listing("a", "b"), catalog, now=NOW, tombstone_ttl=TTL, dry_run=True)
    assert report.added == 2
    assert catalog.get("a") is None


def test_unordered_listing_is_refused():
    with pytest.raises(ListingOrderError):
        reconcile(listing("b", "a"), InMemoryObjectCatalog(), now=NOW, tombstone_ttl=TTL)


def test_progress_is_reported_per_listed_object():
    seen: list[int] = []
    reconcile(
        listing("a", "b", "c"), InMemoryObjectCatalog(), now=NOW, tombstone_ttl=TTL, on_progress=seen.append
    )
    assert seen == [1, 2, 3]
