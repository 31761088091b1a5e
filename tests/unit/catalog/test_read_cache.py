"""The catalog's per-container read cache (functions/catalog/read_cache.py), on the in-memory catalog
with a hand-moved clock (TTLCache's ``timer``): no sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from functions.catalog.entries import CatalogEntry, ObjectState
from functions.catalog.memory_store import InMemoryObjectCatalog
from functions.catalog.read_cache import CachedObjectCatalog

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


class CountingCatalog(InMemoryObjectCatalog):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, bool]] = []

    def get(self, key: str, *, consistent: bool = False) -> CatalogEntry | None:
        self.reads.append((key, consistent))
        return super().get(key, consistent=consistent)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def ready(key: str, size: int = 10) -> CatalogEntry:
    return CatalogEntry(key=key, state=ObjectState.READY, updated_at=NOW, size=size)


def test_a_hot_object_is_read_from_the_table_once_per_ttl() -> None:
    table, clock = CountingCatalog(), Clock()
    table.put(ready("hot.bin"))
    cached = CachedObjectCatalog(table, 5.0, timer=clock)

    sizes = [entry.size for entry in (cached.get("hot.bin") for _ in range(100)) if entry is not None]
    clock.now = 4.9
    cached.get("hot.bin")
    assert len(table.reads) == 1
    clock.now = 5.1
    cached.get("hot.bin")

    assert sizes == [10] * 100
    assert len(table.reads) == 2


def test_a_change_made_elsewhere_is_seen_after_the_ttl_not_before() -> None:
    table, clock = CountingCatalog(), Clock()
    table.put(ready("gone.bin"))
    cached = CachedObjectCatalog(table, 5.0, timer=clock)
    cached.get("gone.bin")
    # Another container (or the S3 event Lambda) tombstones it in the table, not through this cache.
    table.put(CatalogEntry.tombstone("gone.bin", NOW, timedelta(hours=1)))

    clock.now = 3.0
    still = cached.get("gone.bin")
    clock.now = 5.5
    after = cached.get("gone.bin")

    assert still is not None
    assert still.state is ObjectState.READY
    assert after is not None
    assert after.state is ObjectState.MISSING


def test_a_write_through_the_cache_drops_the_entry_at_once() -> None:
    table, clock = CountingCatalog(), Clock()
    table.put(ready("seen.bin"))
    cached = CachedObjectCatalog(table, 5.0, timer=clock)
    cached.get("seen.bin")

    assert cached.put_tombstone(CatalogEntry.tombstone("seen.bin", NOW, timedelta(hours=1)), NOW)
    entry = cached.get("seen.bin")

    assert entry is not None
    assert entry.state is ObjectState.MISSING
    assert len(table.reads) == 2


def test_consistent_reads_always_go_to_the_table_and_refresh_the_entry() -> None:
    table, clock = CountingCatalog(), Clock()
    table.put(ready("object.bin", size=1))
    cached = CachedObjectCatalog(table, 5.0, timer=clock)
    cached.get("object.bin")
    table.put(ready("object.bin", size=2))

    consistent = cached.get("object.bin", consistent=True)
    again = cached.get("object.bin")

    assert consistent is not None
    assert consistent.size == 2
    assert again is not None
    assert again.size == 2
    assert table.reads == [("object.bin", False), ("object.bin", True)]


def test_an_unknown_key_is_not_cached() -> None:
    table, clock = CountingCatalog(), Clock()
    cached = CachedObjectCatalog(table, 5.0, timer=clock)

    assert cached.get("new.bin") is None
    table.put(ready("new.bin"))  # uploaded through another container

    assert cached.get("new.bin") is not None
    assert len(table.reads) == 2


def test_the_cache_is_bounded() -> None:
    table, clock = CountingCatalog(), Clock()
    for index in range(5):
        table.put(ready(f"o{index}"))
    cached = CachedObjectCatalog(table, 5.0, max_entries=2, timer=clock)
    for index in range(5):
        cached.get(f"o{index}")
    cached.get("o0")  # evicted by the later ones: read again

    assert len(table.reads) == 6
