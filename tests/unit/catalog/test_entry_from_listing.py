"""CatalogEntry.from_listing: the one way sync, S3 events and the access gate build an entry from
what S3 says about an object (a listing, a HEAD, a charged upload), and what each carries over."""

from __future__ import annotations

from datetime import timedelta

from functions.catalog.access import ObjectAccessGate, ObservedAction
from functions.catalog.entries import CatalogEntry, ListedObject, ObjectState
from functions.catalog.memory_store import InMemoryObjectCatalog
from functions.catalog.s3_events import CatalogEventApplier
from functions.catalog.settings import CatalogSettings, RestoreSettings
from functions.catalog.sync import reconcile
from tests.unit.catalog.fakes import NOW, FakeArchiveOrigin
from tests.unit.catalog.test_s3_events import record

RECHECK = timedelta(seconds=30)
SETTINGS = CatalogSettings(bucket="media-bucket", restore=RestoreSettings(recheck_seconds=30))
SEQUENCER = "0000000000000000000000000000000A"


def glacier(key: str = "cold.bin", *, etag: str = "e1", restoring: bool = False) -> ListedObject:
    return ListedObject(key=key, size=7, etag=etag, storage_class="GLACIER", restore_in_progress=restoring)


def known_restore(key: str = "cold.bin", *, etag: str = "e1") -> CatalogEntry:
    """The entry the gate wrote when it started a Bulk restore an hour ago."""
    return CatalogEntry(
        key=key,
        state=ObjectState.RESTORING,
        updated_at=NOW - timedelta(hours=1),
        size=7,
        etag=etag,
        content_type="video/mp4",
        storage_class="GLACIER",
        restore_started_at=NOW - timedelta(hours=1),
        restore_expected_at=NOW + timedelta(hours=4),
        restore_tier="Bulk",
        sequencer=SEQUENCER,
        revision="r1",
    )


def test_a_listed_object_is_described_by_the_listing_with_content_type_and_sequencer_carried():
    listed = ListedObject(key="a.bin", size=3, etag="new", storage_class="STANDARD", last_modified=NOW)
    previous = CatalogEntry(
        key="a.bin",
        state=ObjectState.READY,
        updated_at=NOW - timedelta(days=1),
        size=1,
        etag="old",
        content_type="text/plain",
        storage_class="STANDARD",
        sequencer=SEQUENCER,
        revision="r1",
    )
    entry = CatalogEntry.from_listing(listed, NOW, previous=previous, restore_recheck=RECHECK)
    assert entry == CatalogEntry(
        key="a.bin",
        state=ObjectState.READY,
        updated_at=NOW,
        size=3,
        etag="new",
        content_type="text/plain",  # listings have no content type: the previous one stays
        storage_class="STANDARD",
        last_modified=NOW,
        sequencer=SEQUENCER,  # the last applied event still orders later ones
        revision=None,  # the store gives every write a fresh revision
    )


def test_an_event_sequencer_overrides_the_previous_one():
    listed = ListedObject(key="a.bin", size=3, etag="e", storage_class="STANDARD")
    event_sequencer = "0000000000000000000000000000000B"
    entry = CatalogEntry.from_listing(
        listed, NOW, previous=known_restore("a.bin"), restore_recheck=RECHECK, sequencer=event_sequencer
    )
    assert entry.sequencer == event_sequencer


def test_the_same_running_restore_keeps_its_start_tier_and_expected_time():
    previous = known_restore()
    listed = glacier(restoring=True)
    entry = CatalogEntry.from_listing(listed, NOW, previous=previous, restore_recheck=RECHECK)
    assert entry.state is ObjectState.RESTORING
    assert (entry.restore_started_at, entry.restore_expected_at, entry.restore_tier) == (
        previous.restore_started_at,
        previous.restore_expected_at,
        "Bulk",
    )


def test_a_restore_the_catalog_did_not_record_is_rechecked_after_the_interval():
    for previous in (
        None,
        # A past restore's facts stay on an archived entry; they say nothing about this one.
        known_restore().with_changes(state=ObjectState.ARCHIVED, restore_expected_at=None),
        # Overwritten object: the restore recorded for the old version is not this one.
        known_restore(etag="old-version"),
    ):
        entry = CatalogEntry.from_listing(
            glacier(restoring=True), NOW, previous=previous, restore_recheck=RECHECK
        )
        assert (entry.restore_started_at, entry.restore_expected_at, entry.restore_tier) == (
            None,
            NOW + RECHECK,
            None,
        ), previous


def test_restore_facts_are_dropped_once_the_object_is_ready_or_archived():
    restored = ListedObject(
        key="cold.bin", size=7, etag="e1", storage_class="GLACIER", restored_until=NOW + timedelta(days=1)
    )
    ready = CatalogEntry.from_listing(restored, NOW, previous=known_restore(), restore_recheck=RECHECK)
    assert (ready.state, ready.restored_until) == (ObjectState.READY, NOW + timedelta(days=1))
    assert (ready.restore_started_at, ready.restore_expected_at, ready.restore_tier) == (None, None, None)
    expired = ListedObject(
        key="cold.bin", size=7, etag="e1", storage_class="GLACIER", restored_until=NOW - timedelta(days=1)
    )
    archived = CatalogEntry.from_listing(expired, NOW, previous=None, restore_recheck=RECHECK)
    assert (archived.state, archived.restored_until) == (ObjectState.ARCHIVED, None)


# The three callers build their entries through it (each differed before it was one constructor).


def test_sync_rechecks_a_restore_it_finds_running_after_the_interval_not_at_once():
    catalog = InMemoryObjectCatalog()
    reconcile(
        [glacier(restoring=True)], catalog, now=NOW, tombstone_ttl=timedelta(hours=1), restore_recheck=RECHECK
    )
    entry = catalog.get("cold.bin")
    assert entry is not None
    assert (entry.state, entry.restore_expected_at) == (ObjectState.RESTORING, NOW + RECHECK)


def test_an_event_keeps_the_content_type_and_the_running_restore_the_catalog_knows():
    catalog = InMemoryObjectCatalog()
    origin = FakeArchiveOrigin(NOW)
    origin.add("cold.bin", size=7, storage_class="GLACIER", etag="e1")
    origin.objects["cold.bin"].restore_running = True
    catalog.put(known_restore().with_changes(sequencer=None))
    applier = CatalogEventApplier(catalog, origin, SETTINGS)
    applier.handle({"Records": [record("LifecycleTransition", "cold.bin")]}, NOW)
    entry = catalog.get("cold.bin")
    assert entry is not None
    assert entry.content_type == "video/mp4"  # the fake HEAD reports none
    assert (entry.restore_expected_at, entry.restore_tier) == (NOW + timedelta(hours=4), "Bulk")


def test_the_gate_does_not_carry_a_past_restore_into_one_it_finds_running():
    catalog = InMemoryObjectCatalog()
    origin = FakeArchiveOrigin(NOW)
    origin.add("cold.bin", size=7, storage_class="GLACIER", etag="e1")
    origin.objects["cold.bin"].restore_running = True  # started outside edgemeter
    catalog.put(known_restore().with_changes(state=ObjectState.ARCHIVED, restore_expected_at=None))
    observed = ObjectAccessGate(catalog, origin, SETTINGS).observe_origin_response(
        method="GET", path="/cold.bin", status=403, now=NOW
    )
    assert (observed.action, observed.retry_after) == (ObservedAction.RESTORE_IN_PROGRESS, 30)
    entry = catalog.get("cold.bin")
    assert entry is not None
    assert entry.state is ObjectState.RESTORING
    assert (entry.restore_started_at, entry.restore_expected_at, entry.restore_tier) == (
        None,
        NOW + RECHECK,
        None,
    )
