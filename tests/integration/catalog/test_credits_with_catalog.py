"""/v1/authorize with the catalog: refusals before any charge, byte-based prices, refund lessons.

The real credits service on DynamoDB Local with a real objects table; the origin is the scripted
fake (the archive origin's HTTP behaviour is covered by test_restore_flow.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from functions.catalog.access import ObjectAccessGate
from functions.catalog.authorize_guard import CatalogGuard
from functions.catalog.dynamodb_store import DynamoObjectCatalog, create_objects_table, delete_objects_table
from functions.catalog.entries import CatalogEntry, ObjectState
from functions.catalog.settings import CatalogSettings
from functions.credits.data.tables import create_tables, delete_tables
from functions.credits.schemas import (
    AuthorizeRequest,
    CreateAccountRequest,
    GrantRequest,
    IssueKeyRequest,
    RefundRequest,
)
from functions.credits.service import CreditsService, NoTelemetry
from functions.credits.settings import PricingConfig, Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.shared.api_keys import hash_api_key
from local.dynamodb_local import DynamoDBLocal
from tests.unit.catalog.fakes import FakeArchiveOrigin

pytestmark = pytest.mark.dynamodb

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def tables(dynamodb_local: DynamoDBLocal) -> Iterator[tuple[Settings, CatalogSettings]]:
    suffix = uuid.uuid4().hex[:8]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    pricing = PricingConfig.model_validate(
        {"methods": {"GET": {"base": 1, "per_started_mib": 2}, "HEAD": {"base": 1}, "PUT": {"base": 1}}}
    )
    credits = Settings(
        users_table=f"users-cat-{suffix}",
        credits_table=f"credits-cat-{suffix}",
        dynamodb_endpoint=dynamodb_local.endpoint_url,
        pricing=pricing,
    )
    catalog = CatalogSettings(
        bucket="media-bucket",
        objects_table=f"objects-cat-{suffix}",
        dynamodb_endpoint=dynamodb_local.endpoint_url,
        restore={"expected_seconds": {"GLACIER": {"Standard": 900}}},
    )
    create_tables(credits)
    create_objects_table(catalog)
    yield credits, catalog
    delete_tables(credits)
    delete_objects_table(catalog)


@pytest.fixture
def origin() -> FakeArchiveOrigin:
    return FakeArchiveOrigin(datetime.now(UTC))


@pytest.fixture
def service(tables: tuple[Settings, CatalogSettings], origin: FakeArchiveOrigin) -> CreditsService:
    credits, catalog = tables
    guard = CatalogGuard(ObjectAccessGate(DynamoObjectCatalog(), origin, catalog), catalog)
    return CreditsService(DynamoDBCreditsStore(credits), credits, telemetry=NoTelemetry(), catalog=guard)


def funded(service: CreditsService, credits: int) -> tuple[str, str]:
    account = service.create_account(CreateAccountRequest(name="catalog"))
    key = service.issue_key(account.account_id, IssueKeyRequest())
    service.grant(
        account.account_id,
        GrantRequest(amount=credits, reason="test credits", idempotency_key=uuid.uuid4().hex),
    )
    return account.account_id, hash_api_key(key.api_key)


def authorize(service: CreditsService, digest: str, path: str) -> tuple[str, AuthorizeRequest]:
    request = AuthorizeRequest(key_digest=digest, request_id=uuid.uuid4().hex, method="GET", path=path)
    return service.authorize(request).decision, request


def test_tombstoned_object_is_refused_before_any_charge(service: CreditsService):
    account_id, digest = funded(service, 10)
    decision, request = authorize(service, digest, "/gone/file.bin")
    assert decision == "allow"
    service.refund(RefundRequest(request_id=request.request_id, reason="origin_404"))
    refused = service.authorize(
        AuthorizeRequest(key_digest=digest, request_id=uuid.uuid4().hex, method="GET", path="/gone/file.bin")
    )
    assert (refused.decision, refused.reason, refused.charged) == ("deny", "object_not_found", 0)
    assert service.get_account(account_id).balance == 10


def test_unknown_key_is_still_refused_as_an_invalid_key_first(service: CreditsService):
    decision = service.authorize(
        AuthorizeRequest(
            key_digest="0" * 64, request_id=uuid.uuid4().hex, method="GET", path="/gone/file.bin"
        )
    )
    assert decision.reason == "invalid_api_key"


def test_archived_object_waits_for_free_with_retry_after(service: CreditsService, origin: FakeArchiveOrigin):
    account_id, digest = funded(service, 10)
    origin.add("cold/a.bin", storage_class="GLACIER", size=3 * MIB)
    DynamoObjectCatalog().put(
        CatalogEntry(
            key="cold/a.bin",
            state=ObjectState.ARCHIVED,
            updated_at=datetime.now(UTC),
            size=3 * MIB,
            storage_class="GLACIER",
        )
    )
    for _ in range(3):
        waiting = service.authorize(
            AuthorizeRequest(key_digest=digest, request_id=uuid.uuid4().hex, method="GET", path="/cold/a.bin")
        )
        assert (waiting.decision, waiting.reason) == ("deny", "restore_in_progress")
        assert waiting.retry_after is not None
        assert 1 <= waiting.retry_after <= 900
    assert origin.restore_calls["cold/a.bin"] == 1
    assert service.get_account(account_id).balance == 10


def test_known_size_makes_the_download_price(service: CreditsService):
    account_id, digest = funded(service, 100)
    DynamoObjectCatalog().put(
        CatalogEntry(
            key="video/big.mp4", state=ObjectState.READY, updated_at=datetime.now(UTC), size=5 * MIB + 1
        )
    )
    decision = service.authorize(
        AuthorizeRequest(key_digest=digest, request_id=uuid.uuid4().hex, method="GET", path="/video/big.mp4")
    )
    # 1 credit per request + 2 per started MiB of 5 MiB + 1 byte (6 started MiB).
    assert (decision.decision, decision.charged) == ("allow", 13)
    head = service.authorize(
        AuthorizeRequest(key_digest=digest, request_id=uuid.uuid4().hex, method="HEAD", path="/video/big.mp4")
    )
    assert head.charged == 1
    assert service.get_account(account_id).balance == 86


def test_upload_through_the_cdn_lifts_a_tombstone_and_prices_by_size(service: CreditsService):
    account_id, digest = funded(service, 100)
    _, first = authorize(service, digest, "/fresh/upload.bin")
    service.refund(RefundRequest(request_id=first.request_id, reason="origin_404"))
    upload = service.authorize(
        AuthorizeRequest(
            key_digest=digest,
            request_id=uuid.uuid4().hex,
            method="PUT",
            path="/fresh/upload.bin",
            bytes=2 * MIB,
        )
    )
    assert upload.decision == "allow"
    download = service.authorize(
        AuthorizeRequest(
            key_digest=digest, request_id=uuid.uuid4().hex, method="GET", path="/fresh/upload.bin"
        )
    )
    # No longer refused; priced 1 + 2 per started MiB of the 2 MiB the upload declared.
    assert (download.decision, download.charged) == ("allow", 5)
    assert service.get_account(account_id).balance == 100 - 1 - 5


def test_the_request_that_starts_a_restore_pays_the_restore_price(
    tables: tuple[Settings, CatalogSettings], origin: FakeArchiveOrigin
):
    credits, catalog = tables
    priced = catalog.model_copy(update={"restore": catalog.restore.model_copy(update={"price": 7})})
    guard = CatalogGuard(ObjectAccessGate(DynamoObjectCatalog(), origin, priced), priced)
    service = CreditsService(DynamoDBCreditsStore(credits), credits, telemetry=NoTelemetry(), catalog=guard)
    account_id, digest = funded(service, 20)
    origin.add("cold/priced.bin", storage_class="GLACIER")
    DynamoObjectCatalog().put(
        CatalogEntry(
            key="cold/priced.bin",
            state=ObjectState.ARCHIVED,
            updated_at=datetime.now(UTC),
            storage_class="GLACIER",
        )
    )
    for _ in range(2):
        waiting = service.authorize(
            AuthorizeRequest(
                key_digest=digest, request_id=uuid.uuid4().hex, method="GET", path="/cold/priced.bin"
            )
        )
        assert waiting.reason == "restore_in_progress"
    assert service.get_account(account_id).balance == 13
