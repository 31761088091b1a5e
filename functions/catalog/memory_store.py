"""An in-memory ``ObjectCatalog`` with the same conditional semantics as the DynamoDB one.

For logic tests (restore flow, event handling, reconciliation) without a database; also
able to simulate an outage (``unavailable``) so callers' failure paths can be tested.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime

from functions.catalog.entries import CatalogEntry, ObjectState
from functions.catalog.store import CatalogUnavailable


class InMemoryObjectCatalog:
    def __init__(self) -> None:
        self._entries: dict[str, CatalogEntry] = {}
        self._lock = threading.Lock()
        self.unavailable = False
        self.writes = 0

    def _check_available(self) -> None:
        if self.unavailable:
            raise CatalogUnavailable("the in-memory catalog is switched to unavailable")

    def _store(self, entry: CatalogEntry) -> CatalogEntry:
        written = entry.with_changes(revision=uuid.uuid4().hex)
        self._entries[entry.key] = written
        self.writes += 1
        return written

    def get(self, key: str, *, consistent: bool = False) -> CatalogEntry | None:
        self._check_available()
        with self._lock:
            return self._entries.get(key)

    def put(self, entry: CatalogEntry) -> CatalogEntry:
        self._check_available()
        with self._lock:
            return self._store(entry)

    def replace_if_unchanged(self, entry: CatalogEntry, expected: CatalogEntry | None) -> CatalogEntry | None:
        self._check_available()
        with self._lock:
            current = self._entries.get(entry.key)
            if expected is None and current is not None:
                return None
            if expected is not None and (current is None or current.revision != expected.revision):
                return None
            return self._store(entry)

    def _event_is_newer(self, key: str, sequencer: str) -> bool:
        current = self._entries.get(key)
        return current is None or current.sequencer is None or current.sequencer < sequencer

    def put_if_newer_event(self, entry: CatalogEntry) -> bool:
        if entry.sequencer is None:
            raise ValueError("an event entry needs its sequencer")
        self._check_available()
        with self._lock:
            if not self._event_is_newer(entry.key, entry.sequencer):
                return False
            self._store(entry)
            return True

    def delete_if_newer_event(self, key: str, sequencer: str, tombstone: CatalogEntry) -> bool:
        self._check_available()
        with self._lock:
            if not self._event_is_newer(key, sequencer):
                return False
            self._store(tombstone.with_changes(sequencer=sequencer))
            return True

    def put_tombstone(self, tombstone: CatalogEntry, observed_at: datetime) -> bool:
        self._check_available()
        with self._lock:
            current = self._entries.get(tombstone.key)
            if current is not None and current.updated_at > observed_at:
                return False
            self._store(tombstone)
            return True

    def delete(self, key: str) -> None:
        self._check_available()
        with self._lock:
            self._entries.pop(key, None)

    def write_batch(self, entries: Iterable[CatalogEntry], deleted_keys: Iterable[str]) -> None:
        self._check_available()
        with self._lock:
            for entry in entries:
                self._store(entry)
            for key in deleted_keys:
                self._entries.pop(key, None)
                self.writes += 1

    def iter_listed(self) -> Iterator[CatalogEntry]:
        self._check_available()
        with self._lock:
            listed = [entry for entry in self._entries.values() if entry.state is not ObjectState.MISSING]
        return iter(sorted(listed, key=lambda entry: entry.key))
