"""Restore on demand against the archive origin (moto + restore simulator) and DynamoDB Local."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from mypy_boto3_s3 import S3Client

from functions.catalog.access import AccessOutcome, ObjectAccessGate
from functions.catalog.dynamodb_store import DynamoObjectCatalog
from functions.catalog.entries import ObjectState
from functions.catalog.origin import RestoreRequestOutcome, S3ArchiveOrigin
from functions.catalog.settings import CatalogSettings
from functions.catalog.sync import reconcile
from local.archive_origin import ArchiveOriginServer

pytestmark = pytest.mark.dynamodb


def origin_stats(server: ArchiveOriginServer) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{server.endpoint_url}/_archive_origin/stats", timeout=5).json()
    return document


def complete_restores(server: ArchiveOriginServer) -> None:
    httpx.post(f"{server.endpoint_url}/_archive_origin/complete-restores", timeout=5).raise_for_status()


def test_simulated_restore_answers_like_s3(
    s3_client: S3Client, bucket: str, archive_origin: ArchiveOriginServer, catalog_settings: CatalogSettings
):
    s3_client.put_object(Bucket=bucket, Key="cold/clip.mp4", Body=b"frames", StorageClass="GLACIER")
    origin = S3ArchiveOrigin(catalog_settings)
    assert origin.request_restore("cold/clip.mp4", tier="Standard", days=1) is RestoreRequestOutcome.STARTED
    assert (
        origin.request_restore("cold/clip.mp4", tier="Standard", days=1)
        is RestoreRequestOutcome.ALREADY_IN_PROGRESS
    )
    head = origin.head("cold/clip.mp4")
    assert head is not None
    assert head.restore is not None
    assert head.restore.ongoing is True
    complete_restores(archive_origin)
    head = origin.head("cold/clip.mp4")
    assert head is not None
    assert head.restore is not None
    assert (head.restore.ongoing, head.restore.expires_at is not None) == (False, True)
    assert s3_client.get_object(Bucket=bucket, Key="cold/clip.mp4")["Body"].read() == b"frames"
    assert (
        origin.request_restore("cold/clip.mp4", tier="Standard", days=1)
        is RestoreRequestOutcome.ALREADY_RESTORED
    )


def test_archived_object_is_restored_once_and_served_after(
    s3_client: S3Client,
    bucket: str,
    archive_origin: ArchiveOriginServer,
    catalog_settings: CatalogSettings,
    objects_catalog: DynamoObjectCatalog,
):
    key = "cold/concurrent.bin"
    s3_client.put_object(Bucket=bucket, Key=key, Body=b"x" * 1000, StorageClass="GLACIER")
    origin = S3ArchiveOrigin(catalog_settings)
    now = datetime.now(UTC)
    reconcile(origin.list_objects(), objects_catalog, now=now, tombstone_ttl=timedelta(hours=1))
    gate = ObjectAccessGate(objects_catalog, origin, catalog_settings)
    restores_before = origin_stats(archive_origin)["restore_requests"].get(key, 0)

    with ThreadPoolExecutor(max_workers=8) as pool:
        decisions = list(pool.map(lambda _: gate.check("GET", f"/{key}", now), range(24)))
    assert {decision.outcome for decision in decisions} == {AccessOutcome.RESTORE_IN_PROGRESS}
    assert sum(decision.restore_started for decision in decisions) == 1
    assert {decision.retry_after for decision in decisions} == {600}
    assert origin_stats(archive_origin)["restore_requests"][key] - restores_before == 1

    # Past the expected time the origin is asked once; it is still running.
    overdue = now + timedelta(seconds=601)
    assert gate.check("GET", f"/{key}", overdue).retry_after == 30
    complete_restores(archive_origin)
    served = gate.check("GET", f"/{key}", overdue + timedelta(seconds=31))
    assert (served.outcome, served.size) == (AccessOutcome.PROCEED, 1000)
    entry = objects_catalog.get(key, consistent=True)
    assert entry is not None
    assert entry.state is ObjectState.READY
    assert origin_stats(archive_origin)["restore_requests"][key] - restores_before == 1
