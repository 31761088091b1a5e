"""Fixtures for catalog integration tests: an objects table on DynamoDB Local, an archive origin."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from mypy_boto3_s3 import S3Client

from functions.catalog.dynamodb_store import DynamoObjectCatalog, create_objects_table, delete_objects_table
from functions.catalog.settings import CatalogSettings, RestoreSettings
from local.archive_origin import ArchiveOriginServer
from local.dynamodb_local import LOCAL_REGION, DynamoDBLocal

BUCKET = "catalog-origin"


@pytest.fixture(scope="module")
def archive_origin() -> Iterator[ArchiveOriginServer]:
    # Restores take an hour unless a test completes them (control endpoint): no test waits on a clock.
    with ArchiveOriginServer(restore_seconds=3600) as server:
        yield server


@pytest.fixture
def s3_client(archive_origin: ArchiveOriginServer) -> S3Client:
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=archive_origin.endpoint_url,
        region_name=LOCAL_REGION,
        config=Config(s3={"addressing_style": "path"}),
    )
    return client


@pytest.fixture
def bucket(s3_client: S3Client, archive_origin: ArchiveOriginServer) -> str:
    name = f"{BUCKET}-{uuid.uuid4().hex[:8]}"
    s3_client.create_bucket(Bucket=name)
    # No cleanup: the origin keeps objects in memory and ends with the module; a unique name isolates tests.
    return name


@pytest.fixture
def catalog_settings(
    dynamodb_local: DynamoDBLocal, archive_origin: ArchiveOriginServer, bucket: str
) -> CatalogSettings:
    return CatalogSettings(
        bucket=bucket,
        objects_table=f"objects-{uuid.uuid4().hex[:8]}",
        region=LOCAL_REGION,
        dynamodb_endpoint=dynamodb_local.endpoint_url,
        s3_endpoint=archive_origin.endpoint_url,
        restore=RestoreSettings(
            expected_seconds={"GLACIER": {"Expedited": 60, "Standard": 600, "Bulk": 3600}}, recheck_seconds=30
        ),
    )


@pytest.fixture
def objects_catalog(catalog_settings: CatalogSettings) -> Iterator[DynamoObjectCatalog]:
    create_objects_table(catalog_settings)
    yield DynamoObjectCatalog()
    delete_objects_table(catalog_settings)
