"""The catalog entry: one object of the origin bucket, and the state it is in.

States (see docs/decisions.md, "Objects catalog and archive"):

``ready``      readable now (a normal storage class, or an archived object whose restored copy
               has not expired yet: ``restored_until``);
``archived``   in an archive storage class (GLACIER, DEEP_ARCHIVE, Intelligent-Tiering archive
               tiers): a GET is refused by S3 with 403 InvalidObjectState until it is restored;
``restoring``  a RestoreObject is running; ``restore_expected_at`` is when it should be done;
``missing``    a tombstone: the origin answered 404; it expires at ``tombstone_expires_at``
               (DynamoDB TTL deletes it later, readers treat an expired tombstone as unknown).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class ObjectState(StrEnum):
    READY = "ready"
    ARCHIVED = "archived"
    RESTORING = "restoring"
    MISSING = "missing"


# Storage classes whose objects must be restored before a GET succeeds. GLACIER_IR (instant
# retrieval) is readable directly and is deliberately not here.
ARCHIVE_STORAGE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
# Intelligent-Tiering reports its opt-in archive tiers in HEAD's x-amz-archive-status only.
INTELLIGENT_TIERING = "INTELLIGENT_TIERING"
INTELLIGENT_TIERING_ARCHIVE_STATUSES = frozenset({"ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS"})
STANDARD = "STANDARD"


def is_archive_storage(storage_class: str | None, archive_status: str | None = None) -> bool:
    """True when S3 refuses a GET of such an object until it is restored."""
    if storage_class in ARCHIVE_STORAGE_CLASSES:
        return True
    return storage_class == INTELLIGENT_TIERING and archive_status in INTELLIGENT_TIERING_ARCHIVE_STATUSES


def object_key_from_path(path: str) -> str:
    """The S3 key a CDN path addresses: CloudFront passes the URI percent-encoded, S3 keys are not."""
    return urllib.parse.unquote(path.removeprefix("/"))


@dataclass(frozen=True)
class CatalogEntry:
    """What the catalog knows about one object key."""

    key: str
    state: ObjectState
    updated_at: datetime
    size: int | None = None
    etag: str | None = None
    content_type: str | None = None
    storage_class: str | None = None
    last_modified: datetime | None = None
    # restoring: when the running restore should be done, and when to look at the origin again.
    restore_started_at: datetime | None = None
    restore_expected_at: datetime | None = None
    restore_tier: str | None = None
    # ready (restored copy of an archived object): when S3 drops the copy again.
    restored_until: datetime | None = None
    # missing: until when the tombstone is believed.
    tombstone_expires_at: datetime | None = None
    # S3 event ordering: the sequencer of the last PUT/DELETE event applied (normalised, see below).
    sequencer: str | None = None
    # Changes on every write: conditional transitions compare it (optimistic concurrency).
    revision: str | None = None

    @classmethod
    def tombstone(
        cls, key: str, now: datetime, ttl: timedelta, *, sequencer: str | None = None
    ) -> CatalogEntry:
        """A ``missing`` entry for ``key``, believed for ``ttl`` from ``now``."""
        return cls(
            key=key,
            state=ObjectState.MISSING,
            updated_at=now,
            tombstone_expires_at=now + ttl,
            sequencer=sequencer,
        )

    @classmethod
    def from_listing(
        cls,
        listed: ListedObject,
        now: datetime,
        *,
        previous: CatalogEntry | None,
        restore_recheck: timedelta,
        sequencer: str | None = None,
    ) -> CatalogEntry:
        """The entry for an object as a listing, a HEAD or a charged upload describes it.

        The one constructor for ``catalog sync``, the S3 event Lambda and the access gate (see
        docs/decisions.md, "Objects catalog and archive"). What the description lacks is carried
        from ``previous`` (the stored entry for the key, if any): the content type (listings have
        none) and the sequencer of the last S3 event applied (``sequencer`` overrides it for an
        entry built from an event). A running restore keeps the start, tier and expected time the
        catalog recorded when ``previous`` is that same restore (restoring, same ETag); otherwise
        nothing tells when it ends, so the origin is asked again after ``restore_recheck``. The
        revision is not carried: every store write gives the entry a fresh one.
        """
        state = listed.catalog_state(now)
        restore_started_at: datetime | None = None
        restore_expected_at: datetime | None = None
        restore_tier: str | None = None
        if state is ObjectState.RESTORING:
            restore_expected_at = now + restore_recheck
            if (
                previous is not None
                and previous.state is ObjectState.RESTORING
                and previous.etag == listed.etag
            ):
                restore_started_at = previous.restore_started_at
                restore_expected_at = previous.restore_expected_at or restore_expected_at
                restore_tier = previous.restore_tier
        return cls(
            key=listed.key,
            state=state,
            updated_at=now,
            size=listed.size,
            etag=listed.etag,
            content_type=listed.content_type or (previous.content_type if previous else None),
            storage_class=listed.storage_class,
            last_modified=listed.last_modified,
            restore_started_at=restore_started_at,
            restore_expected_at=restore_expected_at,
            restore_tier=restore_tier,
            restored_until=listed.restored_until if state is ObjectState.READY else None,
            sequencer=sequencer or (previous.sequencer if previous else None),
        )

    def effective_state(self, now: datetime) -> ObjectState | None:
        """The state at ``now``; None when the entry no longer says anything (expired tombstone).

        A restored copy that has expired is archived again even before an event says so.
        """
        if self.state is ObjectState.MISSING:
            if self.tombstone_expires_at is not None and self.tombstone_expires_at <= now:
                return None
            return ObjectState.MISSING
        if (
            self.state is ObjectState.READY
            and self.restored_until is not None
            and self.restored_until <= now
            and is_archive_storage(self.storage_class)
        ):
            return ObjectState.ARCHIVED
        return self.state

    def with_changes(self, **changes: object) -> CatalogEntry:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ListedObject:
    """One object as a bucket listing (or a HEAD) describes it."""

    key: str
    size: int
    etag: str
    storage_class: str
    last_modified: datetime | None = None
    content_type: str | None = None
    archive_status: str | None = None
    # From the listing's optional RestoreStatus (or HEAD's x-amz-restore) when the store reports it.
    restore_in_progress: bool = False
    restored_until: datetime | None = None

    def catalog_state(self, now: datetime) -> ObjectState:
        if not is_archive_storage(self.storage_class, self.archive_status):
            return ObjectState.READY
        if self.restore_in_progress:
            return ObjectState.RESTORING
        if self.restored_until is not None and self.restored_until > now:
            return ObjectState.READY
        return ObjectState.ARCHIVED


# S3 sequencers are hex strings of varying length, compared after padding to equal width;
# stored padded to a fixed width so that plain string comparison (also in a DynamoDB
# condition expression) is sequencer order.
SEQUENCER_WIDTH = 32


def normalise_sequencer(sequencer: str) -> str:
    cleaned = sequencer.strip().upper()
    if not cleaned or len(cleaned) > SEQUENCER_WIDTH or any(c not in "0123456789ABCDEF" for c in cleaned):
        raise ValueError(f"not an S3 sequencer: {sequencer!r}")
    return cleaned.rjust(SEQUENCER_WIDTH, "0")
