"""Lambda handler: S3 event notifications of the origin bucket keep the catalog current.

Handled events (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html):

``ObjectCreated:*``          HEAD the object (events carry neither content type nor storage class)
                             and store it as ready or archived;
``ObjectRemoved:*``,
``LifecycleExpiration:*``    a tombstone (the key answers 404 from the catalog from now on);
``ObjectRestore:Post``       a restore was started (by us or anyone): restoring;
``ObjectRestore:Completed``  ready, readable until ``lifecycleRestorationExpiryTime``;
``ObjectRestore:Delete``     the restored copy expired: archived again;
``LifecycleTransition``,
``IntelligentTiering``       the storage class changed: HEAD and store.

PUT and DELETE events carry a ``sequencer``; an event older than the one already applied to a
key is dropped, because S3 does not deliver events in order. A failure raises, so Lambda's
asynchronous retries (and the function's on-failure destination) apply; every write is
idempotent.
"""

from __future__ import annotations

import logging
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.catalog.dynamodb_store import DynamoObjectCatalog, bind_objects_table
from functions.catalog.entries import CatalogEntry, ObjectState, normalise_sequencer
from functions.catalog.origin import ArchiveOrigin, S3ArchiveOrigin
from functions.catalog.settings import CatalogSettings, catalog_settings_from_env
from functions.catalog.store import ObjectCatalog

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class S3EventRecord:
    event_name: str
    bucket: str
    key: str
    size: int | None
    etag: str | None
    sequencer: str | None
    restore_expires_at: datetime | None
    restore_storage_class: str | None

    @classmethod
    def parse(cls, record: dict[str, Any]) -> S3EventRecord:
        s3 = record["s3"]
        s3_object = s3["object"]
        restore_data = (record.get("glacierEventData") or {}).get("restoreEventData") or {}
        expiry_raw = restore_data.get("lifecycleRestorationExpiryTime")
        sequencer = s3_object.get("sequencer")
        return cls(
            event_name=str(record["eventName"]),
            bucket=str(s3["bucket"]["name"]),
            # Keys arrive URL-encoded, spaces as '+'.
            key=urllib.parse.unquote_plus(str(s3_object["key"])),
            size=int(s3_object["size"]) if s3_object.get("size") is not None else None,
            etag=str(s3_object["eTag"]).strip('"') if s3_object.get("eTag") else None,
            sequencer=normalise_sequencer(str(sequencer)) if sequencer else None,
            restore_expires_at=_parse_event_time(expiry_raw) if expiry_raw else None,
            restore_storage_class=restore_data.get("lifecycleRestoreStorageClass"),
        )


def _parse_event_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class EventOutcome:
    key: str
    event_name: str
    applied: bool


class CatalogEventApplier:
    def __init__(self, catalog: ObjectCatalog, origin: ArchiveOrigin, settings: CatalogSettings) -> None:
        self._catalog = catalog
        self._origin = origin
        self._settings = settings

    def apply(self, record: S3EventRecord, now: datetime) -> bool:
        """Apply one event; False when it was stale, for another bucket, or not one we track."""
        if record.bucket != self._settings.bucket:
            return False
        name = record.event_name
        if name.startswith(("ObjectRemoved:", "LifecycleExpiration:")):
            return self._removed(record, now)
        if name.startswith("ObjectCreated:") or name.startswith(
            ("LifecycleTransition", "IntelligentTiering")
        ):
            return self._refresh(record, now)
        if name == "ObjectRestore:Post":
            return self._restore_started(record, now)
        if name == "ObjectRestore:Completed":
            return self._restore_completed(record, now)
        if name == "ObjectRestore:Delete":
            return self._restored_copy_expired(record, now)
        return False

    def _tombstone(self, key: str, now: datetime) -> CatalogEntry:
        return CatalogEntry.tombstone(key, now, timedelta(seconds=self._settings.tombstone_ttl_seconds))

    def _removed(self, record: S3EventRecord, now: datetime) -> bool:
        tombstone = self._tombstone(record.key, now)
        if record.sequencer is None:
            self._catalog.put(tombstone)
            return True
        return self._catalog.delete_if_newer_event(record.key, record.sequencer, tombstone)

    def _refresh(self, record: S3EventRecord, now: datetime) -> bool:
        head = self._origin.head(record.key)
        if head is None:
            return False  # deleted since; its ObjectRemoved event follows
        listed = head.listed
        if record.etag is not None and record.etag != listed.etag:
            return False  # overwritten since; the newer ObjectCreated event follows
        previous = self._catalog.get(record.key, consistent=True)
        entry = CatalogEntry.from_listing(
            listed,
            now,
            previous=previous,
            restore_recheck=timedelta(seconds=self._settings.restore.recheck_seconds),
            sequencer=record.sequencer,
        )
        if record.sequencer is not None:
            return self._catalog.put_if_newer_event(entry)
        return self._catalog.replace_if_unchanged(entry, previous) is not None

    def _restore_started(self, record: S3EventRecord, now: datetime) -> bool:
        current = self._catalog.get(record.key, consistent=True)
        if current is None or current.effective_state(now) is not ObjectState.ARCHIVED:
            return False  # we started it ourselves (already restoring) or do not track the key
        tier = self._settings.restore.tier_for(current.storage_class)
        expected = self._settings.restore.expected_restore_seconds(current.storage_class, tier)
        restoring = current.with_changes(
            state=ObjectState.RESTORING,
            updated_at=now,
            restore_started_at=now,
            restore_expected_at=now + timedelta(seconds=expected),
            restore_tier=tier,
        )
        return self._catalog.replace_if_unchanged(restoring, current) is not None

    def _restore_completed(self, record: S3EventRecord, now: datetime) -> bool:
        current = self._catalog.get(record.key, consistent=True)
        if current is None or current.state is ObjectState.MISSING:
            return self._refresh(record, now)
        ready = current.with_changes(
            state=ObjectState.READY,
            updated_at=now,
            restore_expected_at=None,
            restored_until=record.restore_expires_at,
        )
        return self._catalog.replace_if_unchanged(ready, current) is not None

    def _restored_copy_expired(self, record: S3EventRecord, now: datetime) -> bool:
        current = self._catalog.get(record.key, consistent=True)
        if current is None or current.state is ObjectState.MISSING:
            return False
        archived = current.with_changes(
            state=ObjectState.ARCHIVED, updated_at=now, restored_until=None, restore_expected_at=None
        )
        return self._catalog.replace_if_unchanged(archived, current) is not None

    def handle(self, event: dict[str, Any], now: datetime | None = None) -> list[EventOutcome]:
        outcomes = []
        for raw in event.get("Records", []):
            if raw.get("eventSource") != "aws:s3":
                continue
            record = S3EventRecord.parse(raw)
            applied = self.apply(record, now or datetime.now(UTC))
            logger.info(
                "s3 event %s for %r: %s", record.event_name, record.key, "applied" if applied else "skipped"
            )
            outcomes.append(EventOutcome(key=record.key, event_name=record.event_name, applied=applied))
        return outcomes


_applier: CatalogEventApplier | None = None


def _cold_start() -> CatalogEventApplier:
    settings = catalog_settings_from_env()
    if settings is None:
        raise RuntimeError("EDGEMETER_CATALOG is not set: the catalog event function has no configuration")
    bind_objects_table(settings)
    return CatalogEventApplier(DynamoObjectCatalog(), S3ArchiveOrigin(settings), settings)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (S3 invokes it asynchronously with a batch of records)."""
    global _applier  # noqa: PLW0603 - one applier per execution environment, built at cold start
    if _applier is None:
        _applier = _cold_start()
    outcomes = _applier.handle(event)
    return {"applied": sum(outcome.applied for outcome in outcomes), "records": len(outcomes)}
