"""`edgemeter catalog sync` and `catalog show` against the archive origin and DynamoDB Local."""

from __future__ import annotations

import json

import pytest
import typer
from mypy_boto3_s3 import S3Client
from typer.testing import CliRunner

from cli.catalog import register
from functions.catalog.dynamodb_store import DynamoObjectCatalog
from functions.catalog.settings import CatalogSettings

pytestmark = pytest.mark.dynamodb


def cli() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """A bare root like cli/main.py's (which `register` is called with)."""

    register(root)
    return root


def sync_arguments(settings: CatalogSettings, *extra: str) -> list[str]:
    assert settings.s3_endpoint is not None
    assert settings.dynamodb_endpoint is not None
    return [
        "catalog",
        "sync",
        "--bucket",
        settings.bucket,
        "--table",
        settings.objects_table,
        "--s3-endpoint",
        settings.s3_endpoint,
        "--dynamodb-endpoint",
        settings.dynamodb_endpoint,
        *extra,
    ]


def test_sync_reports_and_is_idempotent(
    s3_client: S3Client, bucket: str, catalog_settings: CatalogSettings, objects_catalog: DynamoObjectCatalog
):
    for number in range(40):
        s3_client.put_object(Bucket=bucket, Key=f"clips/{number:02d}.mp4", Body=b"clip")
    s3_client.put_object(Bucket=bucket, Key="cold/archive.mp4", Body=b"old", StorageClass="DEEP_ARCHIVE")
    runner = CliRunner()

    dry = runner.invoke(cli(), sync_arguments(catalog_settings, "--dry-run", "--json"))
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["added"] == 41
    assert objects_catalog.get("clips/00.mp4") is None

    first = runner.invoke(cli(), sync_arguments(catalog_settings, "--json"))
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert (report["listed"], report["added"], report["changed"], report["removed"]) == (41, 41, 0, 0)

    s3_client.delete_object(Bucket=bucket, Key="clips/00.mp4")
    s3_client.put_object(Bucket=bucket, Key="clips/01.mp4", Body=b"re-encoded clip")
    table_output = runner.invoke(cli(), sync_arguments(catalog_settings))
    assert table_output.exit_code == 0, table_output.output
    assert "removed" in table_output.stdout
    assert "clips/00.mp4" in table_output.stdout

    again = runner.invoke(cli(), sync_arguments(catalog_settings, "--json"))
    report = json.loads(again.stdout)
    assert (report["added"], report["changed"], report["removed"], report["unchanged"]) == (0, 0, 0, 40)

    show = runner.invoke(
        cli(),
        [
            "catalog",
            "show",
            "cold/archive.mp4",
            "--bucket",
            bucket,
            "--table",
            catalog_settings.objects_table,
            "--dynamodb-endpoint",
            str(catalog_settings.dynamodb_endpoint),
            "--json",
        ],
    )
    assert show.exit_code == 0, show.output
    assert json.loads(show.stdout)["state"] == "archived"


def test_partial_listing_is_refused_unless_dry_run(catalog_settings: CatalogSettings):
    result = CliRunner().invoke(cli(), sync_arguments(catalog_settings, "--prefix", "clips/"))
    assert result.exit_code == 2
