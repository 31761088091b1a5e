"""A scripted ``ArchiveOrigin`` for logic tests: objects in memory, restores finished on command."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from functions.catalog.entries import ListedObject, is_archive_storage
from functions.catalog.origin import (
    ObjectHead,
    ObjectMissingAtOrigin,
    ObjectNotArchived,
    OriginUnavailable,
    RestoreRequestOutcome,
    RestoreStatus,
)
from functions.catalog.settings import RestoreTier

# The fixed clock of the catalog unit tests (fixtures in conftest.py start the fake origin at it).
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@dataclass
class FakeObject:
    listed: ListedObject
    restore_running: bool = False
    restored_until: datetime | None = None


class FakeArchiveOrigin:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.objects: dict[str, FakeObject] = {}
        self.restore_calls: Counter[str] = Counter()
        self.head_calls: Counter[str] = Counter()
        self.unavailable = False
        self._lock = threading.Lock()

    def add(self, key: str, *, size: int = 10, storage_class: str = "STANDARD", etag: str = "e1") -> None:
        self.objects[key] = FakeObject(
            ListedObject(key=key, size=size, etag=etag, storage_class=storage_class)
        )

    def finish_restores(self, days: int = 1) -> None:
        for stored in self.objects.values():
            if stored.restore_running:
                stored.restore_running = False
                stored.restored_until = self.now + timedelta(days=days)

    def head(self, key: str) -> ObjectHead | None:
        if self.unavailable:
            raise OriginUnavailable("scripted outage")
        self.head_calls[key] += 1
        stored = self.objects.get(key)
        if stored is None:
            return None
        restore: RestoreStatus | None = None
        if stored.restore_running:
            restore = RestoreStatus(ongoing=True, expires_at=None)
        elif stored.restored_until is not None:
            restore = RestoreStatus(ongoing=False, expires_at=stored.restored_until)
        listed = replace(
            stored.listed,
            restore_in_progress=stored.restore_running,
            restored_until=None if stored.restore_running else stored.restored_until,
        )
        return ObjectHead(listed=listed, restore=restore)

    def request_restore(self, key: str, *, tier: RestoreTier, days: int | None) -> RestoreRequestOutcome:
        if self.unavailable:
            raise OriginUnavailable("scripted outage")
        with self._lock:
            self.restore_calls[key] += 1
            stored = self.objects.get(key)
            if stored is None:
                raise ObjectMissingAtOrigin(key)
            if not is_archive_storage(stored.listed.storage_class):
                raise ObjectNotArchived(key)
            if stored.restore_running:
                return RestoreRequestOutcome.ALREADY_IN_PROGRESS
            if stored.restored_until is not None and stored.restored_until > self.now:
                return RestoreRequestOutcome.ALREADY_RESTORED
            stored.restore_running = True
            return RestoreRequestOutcome.STARTED

    def list_objects(self, prefix: str = "") -> Iterator[ListedObject]:
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield self.objects[key].listed
