"""`catalog sync` logic on a bucket of 10,000 objects: complete, accurate, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from mypy_boto3_s3 import S3Client

from functions.catalog.dynamodb_store import DynamoObjectCatalog
from functions.catalog.entries import ObjectState
from functions.catalog.origin import S3ArchiveOrigin
from functions.catalog.settings import CatalogSettings
from functions.catalog.sync import reconcile

pytestmark = pytest.mark.dynamodb

OBJECTS = 10_000
TTL = timedelta(hours=1)


def seed_directly(bucket: str, count: int) -> None:
    """Objects go straight into the in-process moto backend: 10,000 HTTP PUTs would only test moto."""
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for number in range(count):
        storage = "GLACIER" if number % 10 == 0 else "STANDARD"
        backend.put_object(bucket, f"media/{number:05d}.bin", f"object {number}".encode(), storage=storage)


def test_sync_of_ten_thousand_objects(
    s3_client: S3Client, bucket: str, catalog_settings: CatalogSettings, objects_catalog: DynamoObjectCatalog
):
    seed_directly(bucket, OBJECTS)
    origin = S3ArchiveOrigin(catalog_settings)
    now = datetime.now(UTC)
    progress: list[int] = []

    first = reconcile(
        origin.list_objects(), objects_catalog, now=now, tombstone_ttl=TTL, on_progress=progress.append
    )
    assert (first.listed, first.added, first.changed, first.removed) == (OBJECTS, OBJECTS, 0, 0)
    assert progress[-1] == OBJECTS
    archived = objects_catalog.get("media/00010.bin")
    assert archived is not None
    assert archived.state is ObjectState.ARCHIVED

    second = reconcile(origin.list_objects(), objects_catalog, now=now, tombstone_ttl=TTL)
    assert (second.added, second.changed, second.removed, second.unchanged) == (0, 0, 0, OBJECTS)

    s3_client.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": f"media/{n:05d}.bin"} for n in range(0, 30)]}
    )
    for number in range(100, 105):
        s3_client.put_object(Bucket=bucket, Key=f"media/{number:05d}.bin", Body=b"replaced")
    for number in range(7):
        s3_client.put_object(Bucket=bucket, Key=f"new/{number}.bin", Body=b"new")
    third = reconcile(origin.list_objects(), objects_catalog, now=now, tombstone_ttl=TTL)
    assert (third.added, third.changed, third.removed) == (7, 5, 30)
    assert third.listed == OBJECTS - 30 + 7
    removed = objects_catalog.get("media/00000.bin", consistent=True)
    assert removed is not None
    assert removed.state is ObjectState.MISSING

    fourth = reconcile(origin.list_objects(), objects_catalog, now=now, tombstone_ttl=TTL)
    assert (fourth.added, fourth.changed, fourth.removed) == (0, 0, 0)
