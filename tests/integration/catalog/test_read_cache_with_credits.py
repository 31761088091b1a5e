"""The cached catalog read keeps the catalog's meaning (issue 14 §5), with the real credits service
on DynamoDB Local: an object deleted while a container still holds its entry is charged, then
refunded by origin-response's 404 (as when the S3 event had not reached the catalog yet), and the
next request is refused before any charge."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions.catalog.access import ObjectAccessGate
from functions.catalog.authorize_guard import CatalogGuard
from functions.catalog.dynamodb_store import DynamoObjectCatalog
from functions.catalog.entries import CatalogEntry, ObjectState
from functions.catalog.read_cache import CachedObjectCatalog
from functions.catalog.settings import CatalogSettings
from functions.credits.schemas import AuthorizeRequest, RefundRequest
from functions.credits.service import CreditsService, NoTelemetry
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from tests.integration.catalog.test_credits_with_catalog import funded, tables
from tests.unit.catalog.fakes import FakeArchiveOrigin

__all__ = ["tables"]  # the module's credits and objects tables on DynamoDB Local

pytestmark = pytest.mark.dynamodb


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cached_service(tables: tuple[Settings, CatalogSettings], clock: Clock) -> CreditsService:
    credits, catalog_settings = tables
    catalog = CachedObjectCatalog(DynamoObjectCatalog(), 5.0, timer=clock)
    guard = CatalogGuard(
        ObjectAccessGate(catalog, FakeArchiveOrigin(datetime.now(UTC)), catalog_settings), catalog_settings
    )
    return CreditsService(DynamoDBCreditsStore(credits), credits, telemetry=NoTelemetry(), catalog=guard)


def download(service: CreditsService, digest: str, path: str) -> tuple[AuthorizeRequest, str, str | None]:
    request = AuthorizeRequest(key_digest=digest, request_id=uuid.uuid4().hex, method="GET", path=path)
    decision = service.authorize(request)
    return request, decision.decision, decision.reason


def test_an_object_deleted_within_the_ttl_is_charged_then_refunded_on_the_404(
    tables: tuple[Settings, CatalogSettings],
) -> None:
    clock = Clock()
    service = cached_service(tables, clock)
    account_id, digest = funded(service, 10)
    table = DynamoObjectCatalog()
    table.put(
        CatalogEntry(key="hot/clip.mp4", state=ObjectState.READY, updated_at=datetime.now(UTC), size=10)
    )
    _, first, _ = download(service, digest, "/hot/clip.mp4")
    # Deleted at the origin; the S3 event tombstones it in the table, not in this container's cache.
    now = datetime.now(UTC)
    table.put(CatalogEntry.tombstone("hot/clip.mp4", now, timedelta(hours=1)))

    clock.now = 2.0
    stale_request, stale, _ = download(service, digest, "/hot/clip.mp4")
    charged_balance = service.get_account(account_id).balance
    service.refund(RefundRequest(request_id=stale_request.request_id, reason="origin_404"))
    _, after_refund, reason = download(service, digest, "/hot/clip.mp4")

    assert (first, stale) == ("allow", "allow")
    # The module's pricing: 1 + 2 per started MiB, 3 credits a download of this object.
    assert charged_balance == 4
    # The 404 refunded the stale charge, and its tombstone (written through the cache) refuses at once.
    assert (after_refund, reason) == ("deny", "object_not_found")
    assert service.get_account(account_id).balance == 7


def test_after_the_ttl_a_deletion_elsewhere_refuses_before_any_charge(
    tables: tuple[Settings, CatalogSettings],
) -> None:
    clock = Clock()
    service = cached_service(tables, clock)
    account_id, digest = funded(service, 10)
    table = DynamoObjectCatalog()
    table.put(
        CatalogEntry(key="hot/song.mp3", state=ObjectState.READY, updated_at=datetime.now(UTC), size=10)
    )
    download(service, digest, "/hot/song.mp3")
    table.put(CatalogEntry.tombstone("hot/song.mp3", datetime.now(UTC), timedelta(hours=1)))

    clock.now = 5.5
    _, decision, reason = download(service, digest, "/hot/song.mp3")

    assert (decision, reason) == ("deny", "object_not_found")
    assert service.get_account(account_id).balance == 7
