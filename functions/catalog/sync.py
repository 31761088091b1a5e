"""``catalog sync``: reconcile the catalog with a listing of the origin bucket.

Both sides are streams in the same order (S3 lists keys in UTF-8 binary order; the catalog's
listing index is read shard by shard in key order and merged), so reconciliation is a merge
join: memory stays at a page per stream whatever the bucket size, and writes go out in
batches as the merge advances. Only differences are written, so a second run over an unchanged
bucket writes nothing and reports zero added, changed and removed (idempotent).

Objects the catalog has but the bucket no longer lists become tombstones (negative caching).
The listing is a moment in time: an event applied during the sync may be overwritten by the
sync's older view; the next event or sync corrects it (documented in docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from functions.catalog.entries import CatalogEntry, ListedObject, ObjectState, is_archive_storage
from functions.catalog.settings import RestoreSettings
from functions.catalog.store import ObjectCatalog

DEFAULT_RESTORE_RECHECK = timedelta(seconds=RestoreSettings().recheck_seconds)
# Writes are flushed in groups this large (BatchWriteItem itself takes 25 per call).
WRITE_FLUSH_SIZE = 200


class ListingOrderError(RuntimeError):
    """The bucket listing is not in key order; a merge join would report wrong removals."""


@dataclass
class SyncReport:
    listed: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    dry_run: bool = False
    added_keys: list[str] = field(default_factory=list)
    changed_keys: list[str] = field(default_factory=list)
    removed_keys: list[str] = field(default_factory=list)
    # Only the first few keys of each kind are kept for the summary.
    sample_size: int = 20

    def note(self, kind: str, key: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        keys: list[str] = getattr(self, f"{kind}_keys")
        if len(keys) < self.sample_size:
            keys.append(key)


ProgressCallback = Callable[[int], None]


def _ordered(listing: Iterable[ListedObject]) -> Iterator[ListedObject]:
    previous: str | None = None
    for listed in listing:
        if previous is not None and listed.key <= previous:
            raise ListingOrderError(f"listing is not in key order: {listed.key!r} after {previous!r}")
        previous = listed.key
        yield listed


def _differs(entry: CatalogEntry, listed: ListedObject, now: datetime) -> bool:
    if entry.size != listed.size or entry.etag != listed.etag or entry.storage_class != listed.storage_class:
        return True
    listed_state = listed.catalog_state(now)
    if listed_state is ObjectState.ARCHIVED and entry.effective_state(now) in {
        ObjectState.RESTORING,
        ObjectState.READY,
    }:
        # A listing without restore status (S3-compatible stores) cannot see a running restore or a
        # restored copy: keep what the catalog learnt from the restore itself.
        return not is_archive_storage(entry.storage_class)
    return entry.effective_state(now) is not listed_state


def reconcile(
    listing: Iterable[ListedObject],
    catalog: ObjectCatalog,
    *,
    now: datetime,
    tombstone_ttl: timedelta,
    restore_recheck: timedelta = DEFAULT_RESTORE_RECHECK,
    dry_run: bool = False,
    on_progress: ProgressCallback | None = None,
) -> SyncReport:
    """Make the catalog match ``listing``; return what differed.

    ``restore_recheck``: when an object listed as restoring is next checked at the origin (the
    restore settings' ``recheck_seconds``), unless the catalog already knows that restore.
    """
    report = SyncReport(dry_run=dry_run)
    pending_puts: list[CatalogEntry] = []

    def flush(force: bool = False) -> None:
        if pending_puts and (force or len(pending_puts) >= WRITE_FLUSH_SIZE):
            if not dry_run:
                catalog.write_batch(pending_puts, ())
            pending_puts.clear()

    def entry_for(listed: ListedObject, previous: CatalogEntry | None) -> CatalogEntry:
        return CatalogEntry.from_listing(listed, now, previous=previous, restore_recheck=restore_recheck)

    def remove(entry: CatalogEntry) -> None:
        report.note("removed", entry.key)
        pending_puts.append(CatalogEntry.tombstone(entry.key, now, tombstone_ttl, sequencer=entry.sequencer))

    listed_objects = _ordered(listing)
    catalog_entries = catalog.iter_listed()
    listed = next(listed_objects, None)
    entry = next(catalog_entries, None)
    while listed is not None or entry is not None:
        if entry is not None and (listed is None or entry.key < listed.key):
            remove(entry)
            entry = next(catalog_entries, None)
        else:
            assert listed is not None  # the branch above took every case where it is None
            report.listed += 1
            if entry is not None and entry.key == listed.key:
                if _differs(entry, listed, now):
                    report.note("changed", listed.key)
                    pending_puts.append(entry_for(listed, entry))
                else:
                    report.unchanged += 1
                entry = next(catalog_entries, None)
            else:
                report.note("added", listed.key)
                pending_puts.append(entry_for(listed, None))
            listed = next(listed_objects, None)
            if on_progress is not None:
                on_progress(report.listed)
        flush()
    flush(force=True)
    return report
