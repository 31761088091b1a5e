"""The catalog as the credits service sees it: one call before a charge, one after a refund.

``CatalogGuard.before_charge`` answers whether ``/v1/authorize`` may charge (and with which
object size: a download is priced and recorded by the bytes it serves) or must deny with
``object_not_found`` / ``restore_in_progress`` (+ ``retry_after``). ``after_refund`` lets a
refunded origin failure teach the catalog: ``origin_404`` leaves a tombstone (later requests
never reach the origin); ``origin_403`` is checked against the origin (archived: the restore starts).

Built once per execution environment from ``EDGEMETER_CATALOG`` (``from_environment``);
None when the catalog is not configured, and the credits service then works without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from functions.catalog.access import AccessOutcome, ObjectAccessGate, ObservedAction, ObservedOutcome
from functions.catalog.dynamodb_store import DynamoObjectCatalog, bind_objects_table
from functions.catalog.origin import S3ArchiveOrigin
from functions.catalog.read_cache import CachedObjectCatalog
from functions.catalog.settings import CatalogSettings, catalog_settings_from_env
from functions.catalog.store import ObjectCatalog

# Refund reasons (functions/edge_auth/origin_response.py) that say something about the object.
REFUND_REASON_STATUS = {"origin_404": 404, "origin_403": 403}


@dataclass(frozen=True)
class CatalogVerdict:
    """``deny_reason`` is a DenialReason value of the credits API, or None to go on charging."""

    deny_reason: str | None = None
    retry_after: int | None = None
    # The object's size when the catalog knows it (GET only): what a download's Range is resolved
    # against (functions/credits/ranges.py) to price and record the bytes it serves.
    object_size: int | None = None
    # This request's RestoreObject was accepted (202): the restore price, if any, applies to it.
    restore_started: bool = False


class CatalogGuard:
    def __init__(self, gate: ObjectAccessGate, settings: CatalogSettings) -> None:
        self._gate = gate
        self.settings = settings

    @classmethod
    def from_environment(cls) -> CatalogGuard | None:
        settings = catalog_settings_from_env()
        if settings is None:
            return None
        bind_objects_table(settings)
        catalog: ObjectCatalog = DynamoObjectCatalog()
        if settings.read_cache_seconds > 0:
            catalog = CachedObjectCatalog(
                catalog, settings.read_cache_seconds, max_entries=settings.read_cache_entries
            )
        return cls(ObjectAccessGate(catalog, S3ArchiveOrigin(settings), settings), settings)

    @property
    def restore_price(self) -> int:
        return self.settings.restore.price

    def before_charge(self, method: str, path: str, now: datetime) -> CatalogVerdict:
        decision = self._gate.check(method, path, now)
        if decision.outcome is AccessOutcome.PROCEED:
            return CatalogVerdict(object_size=decision.size)
        return CatalogVerdict(
            deny_reason=decision.outcome.value,
            retry_after=decision.retry_after,
            restore_started=decision.restore_started,
        )

    def after_charge(self, *, method: str, path: str, body_bytes: int, now: datetime) -> None:
        """A charged upload or delete: the catalog follows the write (see ObjectAccessGate.record_write)."""
        self._gate.record_write(method, path, body_bytes, now)

    def after_refund(self, *, method: str, path: str, reason: str, now: datetime) -> ObservedOutcome:
        status = REFUND_REASON_STATUS.get(reason)
        if status is None:
            return ObservedOutcome(ObservedAction.IGNORED)
        return self._gate.observe_origin_response(method=method, path=path, status=status, now=now)
