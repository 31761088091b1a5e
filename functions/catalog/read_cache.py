"""The catalog's read for authorize, cached per container for a few seconds (issue 14 §5).

Every download's authorize reads its object's entry (one eventually consistent GetItem on
``object#<key>``): one hot object puts every viewer's read on one partition, 3,000 RCU/s at most,
6,000 reads/s. ``CachedObjectCatalog`` keeps each entry it read for ``ttl_seconds`` (cachetools'
``TTLCache``, bounded by ``max_entries``), so a container reads a hot object at most once per TTL.

What is cached: the object's catalog entry (state, size, restore times, revision), keyed by the
object key alone. Nothing about an account or a key is in it: the key's standing, scope and rate
limit are checked before the catalog is consulted, and the entry is the same for every account,
so no account can be served another's permission from it.

Meaning kept: an entry is at most ``ttl_seconds`` old. An object deleted in those seconds is
charged, then refunded by origin-response's 404, as when the S3 event had not yet reached the
catalog; the refund's tombstone is written through this class, which drops the cached entry, so
this container refuses the object from its next request. Only eventually consistent reads are
cached (they may already be that stale anyway); a consistent read always reads the table and
refreshes the entry; every write through this class drops the key's entry first, and the
conditional writes (restore claims) are conditioned on the stored revision, so an outdated cached
entry loses its race and is read again consistently. A key the catalog has never heard of is not
cached (an upload through another container must not be refused as unknown in authoritative mode).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from cachetools import TTLCache

from functions.catalog.entries import CatalogEntry
from functions.catalog.store import ObjectCatalog

DEFAULT_MAX_ENTRIES = 10_000


class CachedObjectCatalog:
    """An ``ObjectCatalog`` whose eventually consistent reads are cached for ``ttl_seconds``."""

    def __init__(
        self,
        catalog: ObjectCatalog,
        ttl_seconds: float,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._catalog = catalog
        self._entries: TTLCache[str, CatalogEntry] = TTLCache(
            maxsize=max_entries, ttl=ttl_seconds, timer=timer
        )
        # TTLCache is not thread-safe; the credits handler may authorize on several threads (bench).
        self._lock = threading.Lock()

    def get(self, key: str, *, consistent: bool = False) -> CatalogEntry | None:
        if not consistent:
            with self._lock:
                cached = self._entries.get(key)
            if cached is not None:
                return cached
        entry = self._catalog.get(key, consistent=consistent)
        with self._lock:
            if entry is None:
                self._entries.pop(key, None)
            else:
                self._entries[key] = entry
        return entry

    def _forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    # Writes drop the key's entry once the write is done (whatever its outcome), so a read that
    # raced the write on another thread cannot leave the old entry behind.

    def put(self, entry: CatalogEntry) -> CatalogEntry:
        try:
            return self._catalog.put(entry)
        finally:
            self._forget(entry.key)

    def replace_if_unchanged(self, entry: CatalogEntry, expected: CatalogEntry | None) -> CatalogEntry | None:
        try:
            return self._catalog.replace_if_unchanged(entry, expected)
        finally:
            self._forget(entry.key)

    def put_if_newer_event(self, entry: CatalogEntry) -> bool:
        try:
            return self._catalog.put_if_newer_event(entry)
        finally:
            self._forget(entry.key)

    def delete_if_newer_event(self, key: str, sequencer: str, tombstone: CatalogEntry) -> bool:
        try:
            return self._catalog.delete_if_newer_event(key, sequencer, tombstone)
        finally:
            self._forget(key)

    def put_tombstone(self, tombstone: CatalogEntry, observed_at: datetime) -> bool:
        try:
            return self._catalog.put_tombstone(tombstone, observed_at)
        finally:
            self._forget(tombstone.key)

    def delete(self, key: str) -> None:
        try:
            self._catalog.delete(key)
        finally:
            self._forget(key)

    def write_batch(self, entries: Iterable[CatalogEntry], deleted_keys: Iterable[str]) -> None:
        entries, deleted_keys = list(entries), list(deleted_keys)
        try:
            self._catalog.write_batch(entries, deleted_keys)
        finally:
            for key in [entry.key for entry in entries] + deleted_keys:
                self._forget(key)

    def iter_listed(self) -> Iterator[CatalogEntry]:
        return self._catalog.iter_listed()
