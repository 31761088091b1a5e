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


def _paired_by_key(
    listing: Iterator[ListedObject], entries: Iterator[CatalogEntry]
) -> Iterator[tuple[ListedObject | None, CatalogEntry | None]]:
    """Walk two key-ordered sequences together: equal keys paired, the other side None otherwise."""
    listed = next(listing, None)
    entry = next(entries, None)
    while listed is not None or entry is not None:
        if entry is not None and (listed is None or entry.key < listed.key):
            yield None, entry
            entry = next(entries, None)
        elif entry is not None and listed is not None and entry.key == listed.key:
            yield listed, entry
            listed, entry = next(listing, None), next(entries, None)
        else:
            yield listed, None
            listed = next(listing, None)


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
    run = _Reconciliation(
        catalog=catalog,
        report=SyncReport(dry_run=dry_run),
        now=now,
        tombstone_ttl=tombstone_ttl,
        restore_recheck=restore_recheck,
    )
    for listed, entry in _paired_by_key(_ordered(listing), catalog.iter_listed()):
        if listed is None:
            assert entry is not None  # _paired_by_key never yields two Nones
            run.remove(entry)
        else:
            run.compare(listed, entry)
            if on_progress is not None:
                on_progress(run.report.listed)
        run.flush()
    run.flush(force=True)
    return run.report


@dataclass
class _Reconciliation:
    """One reconcile run's state: the report and the writes not yet flushed."""

    catalog: ObjectCatalog
    report: SyncReport
    now: datetime
    tombstone_ttl: timedelta
    restore_recheck: timedelta
    pending_puts: list[CatalogEntry] = field(default_factory=list)

    def flush(self, *, force: bool = False) -> None:
        if self.pending_puts and (force or len(self.pending_puts) >= WRITE_FLUSH_SIZE):
            if not self.report.dry_run:
                self.catalog.write_batch(self.pending_puts, ())
            self.pending_puts.clear()

    def remove(self, entry: CatalogEntry) -> None:
        self.report.note("removed", entry.key)
        self.pending_puts.append(
            CatalogEntry.tombstone(entry.key, self.now, self.tombstone_ttl, sequencer=entry.sequencer)
        )

    def compare(self, listed: ListedObject, entry: CatalogEntry | None) -> None:
        self.report.listed += 1
        if entry is not None and not _differs(entry, listed, self.now):
            self.report.unchanged += 1
            return
        self.report.note("added" if entry is None else "changed", listed.key)
        self.pending_puts.append(
            CatalogEntry.from_listing(listed, self.now, previous=entry, restore_recheck=self.restore_recheck)
        )
