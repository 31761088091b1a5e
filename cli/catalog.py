"""`edgemeter catalog ...`: reconcile and inspect the objects catalog.

Unlike the other commands these do not go through the credits API: ``sync`` lists the origin
bucket and reads/writes the objects table directly (an operator's job, with the operator's AWS
credentials). Without ``--bucket`` they work on the local runtime (`make run`): its moto origin
on 127.0.0.1 and its DynamoDB Local, with the local placeholder credentials.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import boto3
import typer
from botocore.config import Config
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE, aws_region, fail, stderr
from cli.local_runtime import (
    LOCAL_ACCESS_KEY_ID,
    LOCAL_BUCKET,
    LOCAL_DYNAMODB_URL,
    LOCAL_ORIGIN_URL,
    LOCAL_REGION,
    LOCAL_SECRET_ACCESS_KEY,
)
from functions.catalog.dynamodb_store import DynamoObjectCatalog, bind_objects_table, create_objects_table
from functions.catalog.models import OBJECTS_TABLE_DEFAULT_NAME
from functions.catalog.origin import OriginUnavailable, S3ArchiveOrigin
from functions.catalog.settings import CatalogSettings
from functions.catalog.store import CatalogUnavailable
from functions.catalog.sync import ListingOrderError, SyncReport, reconcile

# Redrawing the progress bar for every object would cost more than the sync itself.
_PROGRESS_EVERY = 250

stdout = Console()

catalog_app = typer.Typer(
    help="The objects catalog: sync it with the bucket, show an entry.", no_args_is_help=True
)


def _json_requested(context: typer.Context, flag: bool) -> bool:
    options = context.find_root().obj
    return flag or bool(getattr(options, "json_output", False))


def _settings(
    *,
    bucket: str | None,
    table: str | None,
    region: str | None,
    s3_endpoint: str | None,
    dynamodb_endpoint: str | None,
    tombstone_ttl_seconds: int,
) -> tuple[CatalogSettings, S3ArchiveOrigin]:
    """Deployed (``--bucket``) or local-runtime settings, and an origin client with the right credentials."""
    if bucket is None:
        # The local runtime's well-known defaults (cli/local_runtime.py); flags move any of them.
        settings = CatalogSettings(
            bucket=LOCAL_BUCKET,
            objects_table=table or OBJECTS_TABLE_DEFAULT_NAME,
            region=LOCAL_REGION,
            s3_endpoint=s3_endpoint or LOCAL_ORIGIN_URL,
            dynamodb_endpoint=dynamodb_endpoint or LOCAL_DYNAMODB_URL,
            tombstone_ttl_seconds=tombstone_ttl_seconds,
        )
        # DynamoDB Local accepts anything but botocore must find something; never real credentials.
        os.environ["AWS_ACCESS_KEY_ID"] = LOCAL_ACCESS_KEY_ID
        os.environ["AWS_SECRET_ACCESS_KEY"] = LOCAL_SECRET_ACCESS_KEY
        os.environ.pop("AWS_SESSION_TOKEN", None)
        client = boto3.client(
            "s3",
            region_name=settings.region,
            endpoint_url=settings.s3_endpoint,
            aws_access_key_id=LOCAL_ACCESS_KEY_ID,
            aws_secret_access_key=LOCAL_SECRET_ACCESS_KEY,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 3}),
        )
        return settings, S3ArchiveOrigin(settings, client=client)
    settings = CatalogSettings(
        bucket=bucket,
        objects_table=table or OBJECTS_TABLE_DEFAULT_NAME,
        region=aws_region(region),
        s3_endpoint=s3_endpoint,
        dynamodb_endpoint=dynamodb_endpoint,
        tombstone_ttl_seconds=tombstone_ttl_seconds,
        # A sync is a long batch job, not a request path: give the origin time to answer.
        s3_timeout_seconds=20,
        dynamodb_read_timeout_seconds=20,
    )
    return settings, S3ArchiveOrigin(settings)


def _summary_table(report: SyncReport, elapsed_seconds: float) -> Table:
    table = Table(title="catalog sync" + (" (dry run: nothing written)" if report.dry_run else ""))
    table.add_column("", style="bold")
    table.add_column("objects", justify="right")
    table.add_column("first keys")
    table.add_row("listed", f"{report.listed:,}", "")
    table.add_row("added", f"{report.added:,}", ", ".join(report.added_keys[:5]))
    table.add_row("changed", f"{report.changed:,}", ", ".join(report.changed_keys[:5]))
    table.add_row("removed", f"{report.removed:,}", ", ".join(report.removed_keys[:5]))
    table.add_row("unchanged", f"{report.unchanged:,}", "")
    table.caption = f"{elapsed_seconds:.1f} s"
    return table


@catalog_app.command("sync")
def sync_command(  # noqa: PLR0917 - typer maps each option to one parameter
    context: typer.Context,
    bucket: Annotated[
        str | None, typer.Option("--bucket", help="origin bucket; default: the local runtime's bucket")
    ] = None,
    table: Annotated[str | None, typer.Option("--table", help="objects table name")] = None,
    prefix: Annotated[str, typer.Option("--prefix", help="only keys under this prefix")] = "",
    region: Annotated[str | None, typer.Option("--aws-region", help="region of bucket and table")] = None,
    s3_endpoint: Annotated[
        str | None, typer.Option("--s3-endpoint", help="S3-compatible endpoint URL")
    ] = None,
    dynamodb_endpoint: Annotated[
        str | None, typer.Option("--dynamodb-endpoint", help="DynamoDB endpoint URL")
    ] = None,
    tombstone_ttl: Annotated[
        int, typer.Option("--tombstone-ttl", min=1, help="seconds a removed object stays a 404 tombstone")
    ] = 3600,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report differences, write nothing")] = False,
    json_flag: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Reconcile the catalog with a listing of the bucket: added, changed and removed objects."""
    if prefix and not dry_run:
        # Objects outside the prefix would look removed to a merge of a partial listing.
        fail(EXIT_USAGE, "--prefix needs --dry-run: a partial listing cannot tell removed objects apart")
    settings, origin = _settings(
        bucket=bucket,
        table=table,
        region=region,
        s3_endpoint=s3_endpoint,
        dynamodb_endpoint=dynamodb_endpoint,
        tombstone_ttl_seconds=tombstone_ttl,
    )
    as_json = _json_requested(context, json_flag)
    started = datetime.now(UTC)
    try:
        if bucket is None:
            create_objects_table(settings)  # the local runtime's DynamoDB Local may not have it yet
        else:
            bind_objects_table(settings)
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]syncing[/] {task.description}"),
            TextColumn("{task.completed:,} objects listed"),
            TimeElapsedColumn(),
            console=stderr,
            transient=True,
            disable=as_json,
        ) as progress:
            task = progress.add_task(f"s3://{settings.bucket}/{prefix}", total=None)

            def advance(listed: int) -> None:
                if listed % _PROGRESS_EVERY == 0:
                    progress.update(task, completed=listed)

            report = reconcile(
                origin.list_objects(prefix),
                DynamoObjectCatalog(),
                now=started,
                tombstone_ttl=timedelta(seconds=settings.tombstone_ttl_seconds),
                restore_recheck=timedelta(seconds=settings.restore.recheck_seconds),
                dry_run=dry_run,
                on_progress=advance,
            )
    except OriginUnavailable as error:
        fail(EXIT_UNREACHABLE, f"the bucket could not be listed: {error}")
    except CatalogUnavailable as error:
        fail(EXIT_UNREACHABLE, f"the objects table could not be used: {error}")
    except ListingOrderError as error:
        fail(EXIT_FAILED, str(error))
    elapsed = (datetime.now(UTC) - started).total_seconds()
    if as_json:
        document: dict[str, Any] = {**asdict(report), "bucket": settings.bucket, "elapsed_seconds": elapsed}
        document.pop("sample_size", None)
        stdout.print_json(json.dumps(document))
    else:
        stdout.print(_summary_table(report, elapsed))


@catalog_app.command("show")
def show_command(  # noqa: PLR0917 - typer maps each option to one parameter
    context: typer.Context,
    key: Annotated[str, typer.Argument(help="object key (no leading slash)")],
    bucket: Annotated[
        str | None, typer.Option("--bucket", help="origin bucket; default: local runtime")
    ] = None,
    table: Annotated[str | None, typer.Option("--table", help="objects table name")] = None,
    region: Annotated[str | None, typer.Option("--aws-region", help="region of the table")] = None,
    dynamodb_endpoint: Annotated[
        str | None, typer.Option("--dynamodb-endpoint", help="DynamoDB endpoint URL")
    ] = None,
    json_flag: Annotated[bool, typer.Option("--json", help="print the entry as JSON")] = False,
) -> None:
    """What the catalog knows about one key (state, size, storage class, restore times)."""
    settings, _ = _settings(
        bucket=bucket,
        table=table,
        region=region,
        s3_endpoint=None,
        dynamodb_endpoint=dynamodb_endpoint,
        tombstone_ttl_seconds=3600,
    )
    try:
        bind_objects_table(settings)
        entry = DynamoObjectCatalog().get(key.removeprefix("/"), consistent=True)
    except CatalogUnavailable as error:
        fail(EXIT_UNREACHABLE, f"the objects table could not be read: {error}")
    if entry is None:
        fail(EXIT_FAILED, f"the catalog has no entry for {key!r}")
    document = {
        name: (value.isoformat() if isinstance(value, datetime) else value)
        for name, value in asdict(entry).items()
        if value is not None
    }
    if _json_requested(context, json_flag):
        stdout.print_json(json.dumps(document, default=str))
        return
    table_view = Table(title=key, show_header=False)
    for name, value in document.items():
        table_view.add_row(name, str(value))
    stdout.print(table_view)


def register(app: typer.Typer) -> None:
    """Add `edgemeter catalog ...` to the CLI (called by cli/main.py)."""
    app.add_typer(catalog_app, name="catalog")
