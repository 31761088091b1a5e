"""What the catalog says about a request before it is charged, and what the origin told us after.

``ObjectAccessGate.check`` runs inside ``/v1/authorize`` before any charge:

* a tombstoned (missing) key is refused: ``object_not_found`` (CDN 404), no origin request;
* a GET of an archived object starts exactly one RestoreObject (the state change
  archived -> restoring is a conditional write, and only its winner calls S3) and is refused
  with ``restore_in_progress`` and a Retry-After from the tier's expected time; waiting is free;
* a GET while restoring is refused the same way; once the expected time has passed, one request
  per recheck interval asks the origin (HEAD ``x-amz-restore``) and flips the entry to ready;
* everything else proceeds, with the object's size when known (byte-based download prices).

``ObjectAccessGate.observe_origin_response`` runs when the edge reports what the origin
answered: a 404 leaves a tombstone, a 403 on GET is checked (HEAD) and, for an archived
object, starts the restore; a successful PUT or DELETE updates the entry.

The catalog is an optimisation in front of the origin, not its replacement: when the catalog
itself is unavailable, requests proceed to the origin (and are charged and refunded as before).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from functions.catalog.entries import (
    STANDARD,
    CatalogEntry,
    ListedObject,
    ObjectState,
    object_key_from_path,
)
from functions.catalog.origin import (
    ArchiveOrigin,
    ObjectMissingAtOrigin,
    ObjectNotArchived,
    OriginUnavailable,
    RestoreRequestOutcome,
    restore_days_for,
)
from functions.catalog.settings import CatalogSettings
from functions.catalog.store import CatalogUnavailable, ObjectCatalog

logger = logging.getLogger(__name__)

READ_METHODS = frozenset({"GET", "HEAD"})


class AccessOutcome(StrEnum):
    PROCEED = "proceed"
    NOT_FOUND = "object_not_found"
    RESTORE_IN_PROGRESS = "restore_in_progress"


@dataclass(frozen=True)
class AccessDecision:
    outcome: AccessOutcome
    # For PROCEED on a GET: the object's size when the catalog knows it (byte-based prices).
    size: int | None = None
    # For RESTORE_IN_PROGRESS: seconds the client should wait (Retry-After).
    retry_after: int | None = None
    # True only for the one request whose RestoreObject S3 accepted (202): a restore price applies.
    restore_started: bool = False

    @classmethod
    def proceed(cls, size: int | None = None) -> AccessDecision:
        return cls(AccessOutcome.PROCEED, size=size)


NOT_FOUND = AccessDecision(AccessOutcome.NOT_FOUND)


class ObservedAction(StrEnum):
    TOMBSTONED = "tombstoned"
    RESTORE_IN_PROGRESS = "restore_in_progress"
    RECORDED = "recorded"
    IGNORED = "ignored"


@dataclass(frozen=True)
class ObservedOutcome:
    action: ObservedAction
    retry_after: int | None = None
    restore_started: bool = False


class ObjectAccessGate:
    def __init__(self, catalog: ObjectCatalog, origin: ArchiveOrigin, settings: CatalogSettings) -> None:
        self._catalog = catalog
        self._origin = origin
        self._settings = settings

    # ------------------------------------------------------------------ before the charge

    def check(self, method: str, path: str, now: datetime) -> AccessDecision:
        method = method.upper()
        if method not in READ_METHODS:
            return AccessDecision.proceed()
        key = object_key_from_path(path)
        if not key:
            return AccessDecision.proceed()
        try:
            return self._check_read(method, key, now)
        except CatalogUnavailable:
            # The origin still knows the truth and the charge is refunded on its errors.
            logger.warning("catalog unavailable; request for %r proceeds to the origin", key)
            return AccessDecision.proceed()

    def _check_read(self, method: str, key: str, now: datetime) -> AccessDecision:
        entry = self._catalog.get(key)
        state = entry.effective_state(now) if entry is not None else None
        if entry is None or state is None:
            return self._unknown_key()
        if state is ObjectState.MISSING:
            return NOT_FOUND
        if state is ObjectState.READY or method == "HEAD":
            # HEAD reaches the origin whatever the state: its x-amz-restore is the answer.
            return AccessDecision.proceed(entry.size if method == "GET" else None)
        if state is ObjectState.ARCHIVED:
            return self._start_restore(entry.with_changes(state=ObjectState.ARCHIVED), now)
        return self._while_restoring(entry, now)

    def _unknown_key(self) -> AccessDecision:
        """No entry or an expired tombstone: authoritative mode refuses, advisory asks the origin."""
        return NOT_FOUND if self._settings.mode == "authoritative" else AccessDecision.proceed()

    # ------------------------------------------------------------------ restores

    def _retry_after(self, until: datetime | None, now: datetime) -> int:
        seconds = math.ceil((until - now).total_seconds()) if until is not None else 0
        return min(max(seconds, 1), self._settings.restore.max_retry_after_seconds)

    def _waiting(self, entry: CatalogEntry, now: datetime, *, started: bool = False) -> AccessDecision:
        return AccessDecision(
            AccessOutcome.RESTORE_IN_PROGRESS,
            retry_after=self._retry_after(entry.restore_expected_at, now),
            restore_started=started,
        )

    def _start_restore(self, archived: CatalogEntry, now: datetime) -> AccessDecision:
        restore = self._settings.restore
        tier = restore.tier_for(archived.storage_class)
        expected_at = now + timedelta(seconds=restore.expected_restore_seconds(archived.storage_class, tier))
        claim = archived.with_changes(
            state=ObjectState.RESTORING,
            updated_at=now,
            restore_started_at=now,
            restore_expected_at=expected_at,
            restore_tier=tier,
            restored_until=None,
        )
        # Only the writer of archived -> restoring calls S3: one RestoreObject however many ask.
        claimed = self._catalog.replace_if_unchanged(claim, archived if archived.revision else None)
        if claimed is None:
            return self._after_lost_race(archived.key, now)
        try:
            outcome = self._origin.request_restore(
                archived.key, tier=tier, days=restore_days_for(archived.storage_class, restore.days)
            )
        except ObjectMissingAtOrigin:
            self._tombstone(archived.key, now)
            return NOT_FOUND
        except ObjectNotArchived:
            return self._refresh_from_origin(claimed, now)
        except OriginUnavailable:
            # Give the claim back so a later request tries again; tell this client to come back.
            self._catalog.replace_if_unchanged(archived.with_changes(updated_at=now), claimed)
            return AccessDecision(
                AccessOutcome.RESTORE_IN_PROGRESS,
                retry_after=self._retry_after(None, now) + restore.recheck_seconds,
            )
        if outcome is RestoreRequestOutcome.ALREADY_RESTORED:
            return self._refresh_from_origin(claimed, now)
        return self._waiting(claimed, now, started=outcome is RestoreRequestOutcome.STARTED)

    def _after_lost_race(self, key: str, now: datetime) -> AccessDecision:
        """Someone else changed the entry first: decide on what it is now, without writing."""
        current = self._catalog.get(key, consistent=True)
        state = current.effective_state(now) if current is not None else None
        if current is None or state is None:
            return self._unknown_key()
        if state is ObjectState.MISSING:
            return NOT_FOUND
        if state is ObjectState.READY:
            return AccessDecision.proceed(current.size)
        if state is ObjectState.RESTORING:
            return self._waiting(current, now)
        # Archived again (a failed start was given back): ask the client to retry shortly.
        return AccessDecision(AccessOutcome.RESTORE_IN_PROGRESS, retry_after=self._retry_after(None, now))

    def _while_restoring(self, entry: CatalogEntry, now: datetime) -> AccessDecision:
        if entry.restore_expected_at is not None and now < entry.restore_expected_at:
            return self._waiting(entry, now)
        # Past the expected time: one request per recheck interval looks at the origin.
        next_check = now + timedelta(seconds=self._settings.restore.recheck_seconds)
        claimed = self._catalog.replace_if_unchanged(
            entry.with_changes(restore_expected_at=next_check, updated_at=now), entry
        )
        if claimed is None:
            return self._after_lost_race(entry.key, now)
        return self._refresh_from_origin(claimed, now)

    def _refresh_from_origin(self, entry: CatalogEntry, now: datetime) -> AccessDecision:
        """HEAD the object and store what it says; decide from that."""
        try:
            head = self._origin.head(entry.key)
        except OriginUnavailable:
            return self._waiting(entry, now)
        if head is None:
            self._tombstone(entry.key, now)
            return NOT_FOUND
        listed_state = head.listed.catalog_state(now)
        if listed_state is ObjectState.RESTORING:
            return self._waiting(entry, now)
        refreshed = self._entry_from_listing(head.listed, now, previous=entry)
        if listed_state is ObjectState.ARCHIVED:
            # No restore running and no restored copy (it expired, or the restore was lost): start again.
            written = self._catalog.replace_if_unchanged(refreshed, entry)
            if written is None:
                return self._after_lost_race(entry.key, now)
            return self._start_restore(written, now)
        self._catalog.replace_if_unchanged(refreshed, entry)
        return AccessDecision.proceed(refreshed.size)

    # ------------------------------------------------------------------ writes authorized (charged)

    def record_write(self, method: str, path: str, body_bytes: int, now: datetime) -> None:
        """A write through the CDN was charged: update the catalog before the origin has answered.

        PUT records the object as ready with its Content-Length; POST (multipart completion, form
        uploads) and DELETE forget the key. Either way nothing can wrongly refuse it later: if the
        write fails, the next GET reaches the origin and its 404/403 corrects the entry (refund +
        tombstone, or restore); deployed, the ObjectCreated/Removed event refines it within seconds.
        """
        method = method.upper()
        key = object_key_from_path(path)
        if not key or method not in {"PUT", "POST", "DELETE"}:
            return
        try:
            if method == "PUT":
                self._record_upload(
                    key, now, size=body_bytes, etag=None, content_type=None, storage_class=None
                )
            else:
                self._catalog.delete(key)
        except CatalogUnavailable:
            logger.warning("catalog unavailable; %s of %r not recorded", method, key)

    # ------------------------------------------------------------------ after the origin answered

    def observe_origin_response(
        self,
        *,
        method: str,
        path: str,
        status: int,
        now: datetime,
        size: int | None = None,
        etag: str | None = None,
        content_type: str | None = None,
        storage_class: str | None = None,
    ) -> ObservedOutcome:
        """Update the catalog from an origin response the edge saw (never raises for catalog outages)."""
        method = method.upper()
        key = object_key_from_path(path)
        if not key:
            return ObservedOutcome(ObservedAction.IGNORED)
        try:
            if method in READ_METHODS and status == 404:
                self._tombstone(key, now)
                return ObservedOutcome(ObservedAction.TOMBSTONED)
            if method == "GET" and status == 403:
                # The origin-response trigger sees no body, and S3 also says 403 for a missing key
                # when the reader may not list the bucket: only a HEAD tells the cases apart.
                return self._observe_forbidden(key, now)
            if method in {"PUT", "POST"} and 200 <= status < 300:
                self._record_upload(
                    key, now, size=size, etag=etag, content_type=content_type, storage_class=storage_class
                )
                return ObservedOutcome(ObservedAction.RECORDED)
            if method == "DELETE" and 200 <= status < 300:
                self._tombstone(key, now)
                return ObservedOutcome(ObservedAction.TOMBSTONED)
        except CatalogUnavailable:
            logger.warning("catalog unavailable; origin %s for %r not recorded", status, key)
        return ObservedOutcome(ObservedAction.IGNORED)

    def _observe_forbidden(self, key: str, now: datetime) -> ObservedOutcome:
        try:
            head = self._origin.head(key)
        except OriginUnavailable:
            return ObservedOutcome(ObservedAction.IGNORED)
        if head is None:
            self._tombstone(key, now)
            return ObservedOutcome(ObservedAction.TOMBSTONED)
        if head.listed.catalog_state(now) is ObjectState.READY:
            return ObservedOutcome(ObservedAction.IGNORED)  # a real access problem, not archive
        current = self._catalog.get(key, consistent=True)
        fresh = self._entry_from_listing(head.listed, now, previous=current)
        written = self._catalog.replace_if_unchanged(fresh, current)
        if written is None:
            decision = self._after_lost_race(key, now)
        elif written.state is ObjectState.ARCHIVED:
            decision = self._start_restore(written, now)
        else:
            decision = self._waiting(written, now)
        if decision.outcome is AccessOutcome.RESTORE_IN_PROGRESS:
            return ObservedOutcome(
                ObservedAction.RESTORE_IN_PROGRESS,
                retry_after=decision.retry_after,
                restore_started=decision.restore_started,
            )
        if decision.outcome is AccessOutcome.NOT_FOUND:
            return ObservedOutcome(ObservedAction.TOMBSTONED)
        return ObservedOutcome(ObservedAction.RECORDED)

    # ------------------------------------------------------------------ writes

    def _tombstone(self, key: str, now: datetime) -> None:
        tombstone = CatalogEntry.tombstone(key, now, timedelta(seconds=self._settings.tombstone_ttl_seconds))
        self._catalog.put_tombstone(tombstone, observed_at=now)

    def _record_upload(
        self,
        key: str,
        now: datetime,
        *,
        size: int | None,
        etag: str | None,
        content_type: str | None,
        storage_class: str | None,
    ) -> None:
        listed = ListedObject(
            key=key,
            size=size or 0,
            etag=(etag or "").strip('"'),
            storage_class=(storage_class or STANDARD).upper(),
            last_modified=now,
            content_type=content_type,
        )
        self._catalog.put(self._entry_from_listing(listed, now, previous=None))

    def _entry_from_listing(
        self, listed: ListedObject, now: datetime, *, previous: CatalogEntry | None
    ) -> CatalogEntry:
        recheck = timedelta(seconds=self._settings.restore.recheck_seconds)
        return CatalogEntry.from_listing(listed, now, previous=previous, restore_recheck=recheck)
