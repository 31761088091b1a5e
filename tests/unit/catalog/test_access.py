"""The access gate: negative caching, restore on demand, and what origin responses teach the catalog."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from functions.catalog.access import AccessOutcome, ObjectAccessGate, ObservedAction
from functions.catalog.entries import CatalogEntry, ListedObject, ObjectState
from functions.catalog.memory_store import InMemoryObjectCatalog
from functions.catalog.settings import CatalogSettings, RestoreSettings
from tests.unit.catalog.fakes import NOW, FakeArchiveOrigin


def settings(**overrides: object) -> CatalogSettings:
    restore = RestoreSettings(
        tier="Standard",
        expected_seconds={
            "GLACIER": {"Expedited": 60, "Standard": 600, "Bulk": 3600},
            "DEEP_ARCHIVE": {"Standard": 7200},
        },
        recheck_seconds=30,
    )
    values: dict[str, object] = {"bucket": "media-bucket", "restore": restore, "tombstone_ttl_seconds": 300}
    values.update(overrides)
    return CatalogSettings.model_validate(values)


def gate_for(
    catalog: InMemoryObjectCatalog, origin: FakeArchiveOrigin, **overrides: object
) -> ObjectAccessGate:
    return ObjectAccessGate(catalog, origin, settings(**overrides))


def archived_entry(key: str, storage_class: str = "GLACIER") -> CatalogEntry:
    return CatalogEntry(
        key=key,
        state=ObjectState.ARCHIVED,
        updated_at=NOW,
        size=5 * 1024 * 1024,
        etag="e1",
        storage_class=storage_class,
    )


def test_unknown_key_proceeds_in_advisory_mode_and_is_refused_in_authoritative_mode(catalog, origin):
    assert gate_for(catalog, origin).check("GET", "/nothing.bin", NOW).outcome is AccessOutcome.PROCEED
    assert (
        gate_for(catalog, origin, mode="authoritative").check("GET", "/nothing.bin", NOW).outcome
        is AccessOutcome.NOT_FOUND
    )


def test_origin_404_leaves_a_tombstone_that_refuses_until_it_expires(catalog, origin):
    gate = gate_for(catalog, origin)
    observed = gate.observe_origin_response(method="GET", path="/gone.bin", status=404, now=NOW)
    assert observed.action is ObservedAction.TOMBSTONED
    for method in ("GET", "HEAD"):
        assert (
            gate.check(method, "/gone.bin", NOW + timedelta(seconds=299)).outcome is AccessOutcome.NOT_FOUND
        )
    # The tombstone's TTL is 300 s: afterwards the key is unknown again and goes to the origin.
    assert gate.check("GET", "/gone.bin", NOW + timedelta(seconds=300)).outcome is AccessOutcome.PROCEED
    assert origin.head_calls["gone.bin"] == 0


def test_ready_object_proceeds_with_its_size_for_get_only(catalog, origin):
    catalog.put(CatalogEntry(key="a/b c.bin", state=ObjectState.READY, updated_at=NOW, size=3_000_000))
    gate = gate_for(catalog, origin)
    get = gate.check("GET", "/a/b%20c.bin", NOW)
    assert (get.outcome, get.size) == (AccessOutcome.PROCEED, 3_000_000)
    assert gate.check("HEAD", "/a/b%20c.bin", NOW).size is None


def test_uploads_and_deletes_are_not_gated(catalog, origin):
    gate = gate_for(catalog, origin)
    gate.observe_origin_response(method="GET", path="/x.bin", status=404, now=NOW)
    assert gate.check("PUT", "/x.bin", NOW).outcome is AccessOutcome.PROCEED


def test_archived_get_starts_exactly_one_restore_and_waits_with_retry_after(catalog, origin):
    origin.add("cold.bin", storage_class="GLACIER")
    catalog.put(archived_entry("cold.bin"))
    gate = gate_for(catalog, origin)

    first = gate.check("GET", "/cold.bin", NOW)
    assert first.outcome is AccessOutcome.RESTORE_IN_PROGRESS
    assert first.retry_after == 600
    assert first.restore_started is True
    entry = catalog.get("cold.bin")
    assert entry is not None
    assert entry.state is ObjectState.RESTORING
    assert entry.restore_expected_at == NOW + timedelta(seconds=600)

    later = gate.check("GET", "/cold.bin", NOW + timedelta(seconds=100))
    assert (later.outcome, later.retry_after, later.restore_started) == (
        AccessOutcome.RESTORE_IN_PROGRESS,
        500,
        False,
    )
    assert origin.restore_calls["cold.bin"] == 1
    assert origin.head_calls["cold.bin"] == 0  # before the expected time nobody asks the origin


def test_concurrent_gets_of_an_archived_object_issue_one_restore(catalog, origin):
    origin.add("cold.bin", storage_class="GLACIER")
    catalog.put(archived_entry("cold.bin"))
    gate = gate_for(catalog, origin)
    with ThreadPoolExecutor(max_workers=16) as pool:
        decisions = list(pool.map(lambda _: gate.check("GET", "/cold.bin", NOW), range(64)))
    assert {decision.outcome for decision in decisions} == {AccessOutcome.RESTORE_IN_PROGRESS}
    assert sum(decision.restore_started for decision in decisions) == 1
    assert origin.restore_calls["cold.bin"] == 1


def test_past_expected_time_one_head_per_recheck_interval_then_ready(catalog, origin):
    origin.add("cold.bin", storage_class="GLACIER", size=42)
    catalog.put(archived_entry("cold.bin"))
    gate = gate_for(catalog, origin)
    gate.check("GET", "/cold.bin", NOW)

    overdue = NOW + timedelta(seconds=601)
    still_running = gate.check("GET", "/cold.bin", overdue)
    assert (still_running.outcome, still_running.retry_after) == (AccessOutcome.RESTORE_IN_PROGRESS, 30)
    assert (
        gate.check("GET", "/cold.bin", overdue + timedelta(seconds=10)).outcome
        is AccessOutcome.RESTORE_IN_PROGRESS
    )
    assert origin.head_calls["cold.bin"] == 1

    origin.finish_restores()
    done = gate.check("GET", "/cold.bin", overdue + timedelta(seconds=31))
    assert (done.outcome, done.size) == (AccessOutcome.PROCEED, 42)
    entry = catalog.get("cold.bin")
    assert entry is not None
    assert entry.state is ObjectState.READY
    assert entry.restored_until is not None
    assert origin.restore_calls["cold.bin"] == 1


def test_restored_copy_that_expired_is_archived_again_and_restored_again(catalog, origin):
    origin.add("cold.bin", storage_class="GLACIER")
    catalog.put(
        CatalogEntry(
            key="cold.bin",
            state=ObjectState.READY,
            updated_at=NOW,
            storage_class="GLACIER",
            restored_until=NOW,
        )
    )
    decision = gate_for(catalog, origin).check("GET", "/cold.bin", NOW + timedelta(seconds=1))
    assert decision.outcome is AccessOutcome.RESTORE_IN_PROGRESS
    assert origin.restore_calls["cold.bin"] == 1


def test_restore_already_in_progress_409_is_waiting_not_an_error(catalog, origin):
    origin.add("cold.bin", storage_class="GLACIER")
    origin.objects["cold.bin"].restore_running = True  # someone else started it
    catalog.put(archived_entry("cold.bin"))
    decision = gate_for(catalog, origin).check("GET", "/cold.bin", NOW)
    assert (decision.outcome, decision.restore_started) == (AccessOutcome.RESTORE_IN_PROGRESS, False)


def test_restore_answered_200_already_restored_serves_at_once(catalog, origin):
    origin.add("cold.bin", storage_class="GLACIER", size=7)
    origin.objects["cold.bin"].restored_until = NOW + timedelta(days=1)
    catalog.put(archived_entry("cold.bin"))
    decision = gate_for(catalog, origin).check("GET", "/cold.bin", NOW)
    assert (decision.outcome, decision.size) == (AccessOutcome.PROCEED, 7)


def test_deep_archive_uses_standard_when_expedited_is_configured(catalog, origin):
    origin.add("deep.bin", storage_class="DEEP_ARCHIVE")
    catalog.put(archived_entry("deep.bin", storage_class="DEEP_ARCHIVE"))
    restore = RestoreSettings(
        tier="Expedited",
        expected_seconds={"GLACIER": {"Expedited": 60}, "DEEP_ARCHIVE": {"Standard": 7200, "Bulk": 9000}},
    )
    decision = gate_for(catalog, origin, restore=restore).check("GET", "/deep.bin", NOW)
    assert decision.retry_after == 7200
    entry = catalog.get("deep.bin")
    assert entry is not None
    assert entry.restore_tier == "Standard"


def test_retry_after_is_capped(catalog, origin):
    origin.add("deep.bin", storage_class="DEEP_ARCHIVE")
    catalog.put(archived_entry("deep.bin", storage_class="DEEP_ARCHIVE"))
    restore = RestoreSettings(
        expected_seconds={"GLACIER": {"Standard": 60}, "DEEP_ARCHIVE": {"Standard": 172_800}},
        max_retry_after_seconds=3600,
    )
    assert gate_for(catalog, origin, restore=restore).check("GET", "/deep.bin", NOW).retry_after == 3600


def test_origin_outage_while_starting_gives_the_claim_back(catalog, origin):
    origin.add("cold.bin", storage_class="GLACIER")
    catalog.put(archived_entry("cold.bin"))
    gate = gate_for(catalog, origin)
    origin.unavailable = True
    assert gate.check("GET", "/cold.bin", NOW).outcome is AccessOutcome.RESTORE_IN_PROGRESS
    entry = catalog.get("cold.bin")
    assert entry is not None
    assert entry.state is ObjectState.ARCHIVED
    origin.unavailable = False
    assert gate.check("GET", "/cold.bin", NOW + timedelta(seconds=5)).restore_started is True


def test_archived_object_deleted_at_origin_becomes_a_tombstone(catalog, origin):
    catalog.put(archived_entry("cold.bin"))
    assert gate_for(catalog, origin).check("GET", "/cold.bin", NOW).outcome is AccessOutcome.NOT_FOUND
    entry = catalog.get("cold.bin")
    assert entry is not None
    assert entry.state is ObjectState.MISSING


def test_head_of_an_archived_object_reaches_the_origin_without_a_restore(catalog, origin):
    origin.add("cold.bin", storage_class="GLACIER")
    catalog.put(archived_entry("cold.bin"))
    assert gate_for(catalog, origin).check("HEAD", "/cold.bin", NOW).outcome is AccessOutcome.PROCEED
    assert origin.restore_calls["cold.bin"] == 0


def test_catalog_outage_lets_requests_through_to_the_origin(catalog, origin):
    gate = gate_for(catalog, origin)
    gate.observe_origin_response(method="GET", path="/gone.bin", status=404, now=NOW)
    catalog.unavailable = True
    assert gate.check("GET", "/gone.bin", NOW).outcome is AccessOutcome.PROCEED
    assert (
        gate.observe_origin_response(method="GET", path="/gone.bin", status=404, now=NOW).action
        is ObservedAction.IGNORED
    )


def test_origin_403_on_an_archived_object_starts_the_restore(catalog, origin):
    origin.add("cold.bin", storage_class="GLACIER")
    observed = gate_for(catalog, origin).observe_origin_response(
        method="GET", path="/cold.bin", status=403, now=NOW
    )
    assert (observed.action, observed.retry_after, observed.restore_started) == (
        ObservedAction.RESTORE_IN_PROGRESS,
        600,
        True,
    )
    assert origin.restore_calls["cold.bin"] == 1
    entry = catalog.get("cold.bin")
    assert entry is not None
    assert entry.state is ObjectState.RESTORING


def test_origin_403_on_a_readable_object_is_left_alone(catalog, origin):
    origin.add("plain.bin")
    observed = gate_for(catalog, origin).observe_origin_response(
        method="GET", path="/plain.bin", status=403, now=NOW
    )
    assert observed.action is ObservedAction.IGNORED
    assert catalog.get("plain.bin") is None


def test_origin_403_for_a_missing_key_is_a_tombstone(catalog, origin):
    observed = gate_for(catalog, origin).observe_origin_response(
        method="GET", path="/none.bin", status=403, now=NOW
    )
    assert observed.action is ObservedAction.TOMBSTONED


def test_upload_through_the_cdn_replaces_a_tombstone(catalog, origin):
    gate = gate_for(catalog, origin)
    gate.observe_origin_response(method="GET", path="/new.bin", status=404, now=NOW)
    later = NOW + timedelta(seconds=1)
    observed = gate.observe_origin_response(
        method="PUT",
        path="/new.bin",
        status=200,
        now=later,
        size=2048,
        etag='"abc"',
        content_type="video/mp4",
    )
    assert observed.action is ObservedAction.RECORDED
    entry = catalog.get("new.bin")
    assert entry is not None
    assert (entry.state, entry.size, entry.etag, entry.content_type) == (
        ObjectState.READY,
        2048,
        "abc",
        "video/mp4",
    )
    assert gate.check("GET", "/new.bin", later).size == 2048


def test_upload_in_an_archive_class_is_archived(catalog, origin):
    gate_for(catalog, origin).observe_origin_response(
        method="PUT", path="/cold.bin", status=200, now=NOW, size=1, storage_class="DEEP_ARCHIVE"
    )
    entry = catalog.get("cold.bin")
    assert entry is not None
    assert entry.state is ObjectState.ARCHIVED


def test_a_404_older_than_an_upload_does_not_tombstone_it(catalog, origin):
    gate = gate_for(catalog, origin)
    gate.observe_origin_response(
        method="PUT", path="/new.bin", status=200, now=NOW + timedelta(seconds=5), size=1
    )
    gate.observe_origin_response(method="GET", path="/new.bin", status=404, now=NOW)
    entry = catalog.get("new.bin")
    assert entry is not None
    assert entry.state is ObjectState.READY


def test_delete_through_the_cdn_tombstones(catalog, origin):
    gate = gate_for(catalog, origin)
    gate.observe_origin_response(method="PUT", path="/x.bin", status=200, now=NOW, size=1)
    gate.observe_origin_response(method="DELETE", path="/x.bin", status=204, now=NOW + timedelta(seconds=1))
    assert gate.check("GET", "/x.bin", NOW + timedelta(seconds=2)).outcome is AccessOutcome.NOT_FOUND


def test_listed_object_states():
    listed = ListedObject(key="k", size=1, etag="e", storage_class="GLACIER")
    assert listed.catalog_state(NOW) is ObjectState.ARCHIVED
    assert (
        ListedObject(key="k", size=1, etag="e", storage_class="GLACIER_IR").catalog_state(NOW)
        is ObjectState.READY
    )
    restoring = ListedObject(key="k", size=1, etag="e", storage_class="GLACIER", restore_in_progress=True)
    assert restoring.catalog_state(NOW) is ObjectState.RESTORING
    restored = ListedObject(
        key="k", size=1, etag="e", storage_class="DEEP_ARCHIVE", restored_until=NOW + timedelta(hours=1)
    )
    assert restored.catalog_state(NOW) is ObjectState.READY
    tiered = ListedObject(
        key="k", size=1, etag="e", storage_class="INTELLIGENT_TIERING", archive_status="ARCHIVE_ACCESS"
    )
    assert tiered.catalog_state(NOW) is ObjectState.ARCHIVED


def test_charged_put_records_the_object_and_lifts_a_tombstone(catalog, origin):
    gate = gate_for(catalog, origin)
    gate.observe_origin_response(method="GET", path="/new.bin", status=404, now=NOW)
    gate.record_write("PUT", "/new.bin", 4096, NOW + timedelta(seconds=1))
    decision = gate.check("GET", "/new.bin", NOW + timedelta(seconds=2))
    assert (decision.outcome, decision.size) == (AccessOutcome.PROCEED, 4096)


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_charged_post_or_delete_forgets_the_key(catalog, origin, method):
    gate = gate_for(catalog, origin)
    gate.observe_origin_response(method="GET", path="/k.bin", status=404, now=NOW)
    gate.record_write(method, "/k.bin", 0, NOW)
    assert catalog.get("k.bin") is None
    assert gate.check("GET", "/k.bin", NOW).outcome is AccessOutcome.PROCEED


def test_record_write_survives_a_catalog_outage(catalog, origin):
    catalog.unavailable = True
    gate_for(catalog, origin).record_write("PUT", "/x.bin", 1, NOW)
    catalog.unavailable = False
    assert catalog.get("x.bin") is None
