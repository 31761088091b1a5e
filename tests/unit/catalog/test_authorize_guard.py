"""The credits service's view of the catalog: verdicts before a charge, lessons after a refund."""

from __future__ import annotations

import json

import pytest

from functions.catalog.access import ObjectAccessGate, ObservedAction
from functions.catalog.authorize_guard import CatalogGuard
from functions.catalog.entries import CatalogEntry, ObjectState
from functions.catalog.memory_store import InMemoryObjectCatalog
from functions.catalog.settings import CATALOG_ENV_VAR, CatalogSettings
from tests.unit.catalog.fakes import NOW, FakeArchiveOrigin


@pytest.fixture
def guard(catalog: InMemoryObjectCatalog, origin: FakeArchiveOrigin) -> CatalogGuard:
    settings = CatalogSettings(bucket="media-bucket", restore={"price": 5})
    return CatalogGuard(ObjectAccessGate(catalog, origin, settings), settings)


def test_no_configuration_means_no_guard(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(CATALOG_ENV_VAR, raising=False)
    assert CatalogGuard.from_environment() is None
    monkeypatch.setenv(CATALOG_ENV_VAR, json.dumps({"bucket": "abc", "enabled": False}))
    assert CatalogGuard.from_environment() is None


def test_known_size_is_handed_to_pricing(guard: CatalogGuard, catalog: InMemoryObjectCatalog):
    catalog.put(CatalogEntry(key="movie.mp4", state=ObjectState.READY, updated_at=NOW, size=10 * 1024 * 1024))
    verdict = guard.before_charge("GET", "/movie.mp4", NOW)
    assert (verdict.deny_reason, verdict.object_size) == (None, 10 * 1024 * 1024)


def test_refund_for_origin_404_tombstones_and_denies_next_time(guard: CatalogGuard):
    assert (
        guard.after_refund(method="GET", path="/nope", reason="origin_404", now=NOW).action
        is ObservedAction.TOMBSTONED
    )
    verdict = guard.before_charge("GET", "/nope", NOW)
    assert verdict.deny_reason == "object_not_found"


def test_refund_for_origin_403_of_an_archived_object_starts_the_restore(
    guard: CatalogGuard, origin: FakeArchiveOrigin
):
    origin.add("cold.bin", storage_class="GLACIER")
    observed = guard.after_refund(method="GET", path="/cold.bin", reason="origin_403", now=NOW)
    assert observed.action is ObservedAction.RESTORE_IN_PROGRESS
    assert observed.restore_started is True
    verdict = guard.before_charge("GET", "/cold.bin", NOW)
    assert verdict.deny_reason == "restore_in_progress"
    assert verdict.retry_after == 3 * 3600
    assert origin.restore_calls["cold.bin"] == 1


def test_other_refund_reasons_teach_nothing(guard: CatalogGuard, catalog: InMemoryObjectCatalog):
    assert (
        guard.after_refund(method="GET", path="/x", reason="origin_5xx", now=NOW).action
        is ObservedAction.IGNORED
    )
    assert catalog.get("x") is None
    assert guard.restore_price == 5
