"""The catalog's data-access interface and its domain exceptions.

Two implementations: ``DynamoObjectCatalog`` (functions/catalog/dynamodb_store.py) for the
services, ``InMemoryObjectCatalog`` (functions/catalog/memory_store.py) for logic tests.
Callers never see a pynamodb or botocore exception, only ``CatalogError`` subclasses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Protocol

from functions.catalog.entries import CatalogEntry


class CatalogError(Exception):
    """Base of every catalog failure."""


class CatalogUnavailable(CatalogError):
    """The catalog could not be read or written (throttled, timed out, unreachable)."""


class ObjectCatalog(Protocol):
    def get(self, key: str, *, consistent: bool = False) -> CatalogEntry | None:
        """The entry for ``key``, or None when the catalog has never heard of it."""

    def put(self, entry: CatalogEntry) -> CatalogEntry:
        """Write ``entry`` unconditionally (a new revision); return what was written."""

    def replace_if_unchanged(self, entry: CatalogEntry, expected: CatalogEntry | None) -> CatalogEntry | None:
        """Write ``entry`` only if the stored entry is still ``expected`` (same revision; None: absent).

        Returns what was written, or None when someone else changed the entry first.
        """

    def put_if_newer_event(self, entry: CatalogEntry) -> bool:
        """Write an entry built from an S3 event unless a later event (higher sequencer) was applied."""

    def delete_if_newer_event(self, key: str, sequencer: str, tombstone: CatalogEntry) -> bool:
        """Turn ``key`` into ``tombstone`` unless a later event was applied; False if one was."""

    def put_tombstone(self, tombstone: CatalogEntry, observed_at: datetime) -> bool:
        """Record a 404 seen at ``observed_at`` unless the entry was written after that moment."""

    def delete(self, key: str) -> None:
        """Forget ``key`` entirely."""

    def write_batch(self, entries: Iterable[CatalogEntry], deleted_keys: Iterable[str]) -> None:
        """Bulk upserts and deletes (``catalog sync``); not conditional, not atomic."""

    def iter_listed(self) -> Iterator[CatalogEntry]:
        """Every non-tombstone entry in key order (UTF-8 binary order, like an S3 listing)."""
