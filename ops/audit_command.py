"""``edgemeter audit``: the money audit as a CLI command.

Kept here, next to the audit, so the CLI (``cli/``) only registers it:
``ops.audit_command.register(app, local_dynamodb=...)``, passing where the local runtime's
DynamoDB Local is (ops does not import ``local``). Exit codes: 0 clean, 1 any mismatch, 2 the table
could not be read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

import typer
from pynamodb.exceptions import PynamoDBException

from functions.credits.regions.topology import topology_from_environment
from functions.credits.settings import CreditsSettingsError, Settings, settings_from_env
from functions.shared.environment_variables import EDGEMETER_DYNAMODB_ENDPOINT
from ops.audit import AuditReport, DynamoDBCredentials, run_audit
from ops.migrate import migrate_shards
from ops.regional_audit import audit_every_region

EXIT_CLEAN = 0
EXIT_MISMATCH = 1
EXIT_UNREADABLE = 2


@dataclass(frozen=True)
class LocalDynamoDB:
    """Where the local runtime's DynamoDB Local listens, and the placeholder credentials it accepts.

    The CLI passes it in (ops does not import the local runtime); the audit reads it when no
    endpoint is given anywhere and ``--aws`` is not set.
    """

    endpoint_url: str
    credentials: DynamoDBCredentials


def audit_settings(
    endpoint: str | None,
    credits_table: str | None,
    region: str | None,
    aws: bool,
    local_dynamodb: LocalDynamoDB | None = None,
) -> Settings:
    """Environment (as the credits service reads it) overridden by the command's options.

    Without ``--aws`` and without an endpoint anywhere, the audit reads the local runtime's
    DynamoDB Local (``local_dynamodb``): auditing production must be asked for explicitly.
    """
    settings = settings_from_env()
    overrides: dict[str, object] = {}
    if endpoint is not None:
        overrides["dynamodb_endpoint"] = endpoint
    elif aws:
        overrides["dynamodb_endpoint"] = None
    elif not os.environ.get(EDGEMETER_DYNAMODB_ENDPOINT):
        if local_dynamodb is None:
            raise ValueError(
                f"say where the credits table is: --endpoint, ${EDGEMETER_DYNAMODB_ENDPOINT} or --aws"
            )
        overrides["dynamodb_endpoint"] = local_dynamodb.endpoint_url
    if credits_table is not None:
        overrides["credits_table"] = credits_table
    if region is not None:
        overrides["region"] = region
    return Settings.model_validate({**settings.model_dump(), **overrides})


def scan_credentials(settings: Settings, local_dynamodb: LocalDynamoDB | None) -> DynamoDBCredentials | None:
    """DynamoDB Local's placeholders for a local endpoint when the environment has no credentials.

    DynamoDB Local accepts any credentials, but botocore refuses to sign without some; they are
    handed to the scan, never written into os.environ. AWS (no endpoint) uses botocore's chain.
    """
    if settings.dynamodb_endpoint is None or local_dynamodb is None:
        return None
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return None  # credentials the caller chose win, as botocore's chain would have it
    return local_dynamodb.credentials


def render_report(report: AuditReport) -> str:
    lines = [
        f"accounts {len(report.accounts)}  ledger entries {report.ledger_entries}  "
        f"charges {report.charges}  refunds {report.refunds}  grants {report.grants}  "
        f"total balance {report.total_balance}",
        f"records: charges {report.charge_records}  refunds {report.refund_records}  "
        f"grants {report.grant_records}",
    ]
    if report.stream_ledger_entries or report.pending:
        lines.append(
            f"stream-derived ledger entries {report.stream_ledger_entries}  pending {len(report.pending)}"
        )
        lines += [
            f"  pending {pending.kind.value}: account={pending.account_id} request={pending.request_id} "
            f"{pending.detail}"
            for pending in report.pending
        ]
    if report.ok:
        lines.append("audit: OK (every ledger sums to its balance; no request charged twice)")
    else:
        lines.append(f"audit: {len(report.mismatches)} MISMATCHES")
        lines += [
            f"  {mismatch.kind.value}: account={mismatch.account_id} request={mismatch.request_id} "
            f"{mismatch.detail}"
            for mismatch in report.mismatches
        ]
    return "\n".join(lines)


EndpointOption = Annotated[
    str | None,
    typer.Option(help=f"DynamoDB endpoint URL (default: ${EDGEMETER_DYNAMODB_ENDPOINT} or make run's)"),
]
CreditsTableOption = Annotated[str | None, typer.Option(help="credits table name")]
RegionOption = Annotated[str | None, typer.Option(help="AWS region of the table")]
AwsOption = Annotated[bool, typer.Option("--aws", help="audit the table in AWS (regional endpoint)")]
JsonOption = Annotated[bool, typer.Option("--json", help="print the report as JSON")]


@dataclass(frozen=True)
class AuditRequest:
    """The audit command's options."""

    endpoint: str | None
    credits_table: str | None
    region: str | None
    aws: bool
    json_output: bool


def run_audit_command(
    context: typer.Context, request: AuditRequest, local_dynamodb: LocalDynamoDB | None
) -> None:
    """Audit, print the report and exit with its code."""
    # The edgemeter CLI's global `--json` (edgemeter --json audit) counts as well.
    as_json = request.json_output or bool(getattr(context.obj, "json_output", False))
    with _unreadable_exits("audit", "read the credits table"):
        settings = audit_settings(
            request.endpoint, request.credits_table, request.region, request.aws, local_dynamodb
        )
        # Regional credits (issue 15): with the regions' topology, every region and across them.
        if (topology := topology_from_environment()) is not None:
            raise typer.Exit(
                audit_every_region(
                    settings,
                    topology.credits_tables,
                    credentials=scan_credentials(settings, local_dynamodb),
                    as_json=as_json,
                    render_region=render_report,
                )
            )
        report = run_audit(settings, credentials=scan_credentials(settings, local_dynamodb))
    typer.echo(json.dumps(report.to_json_dict(), indent=2) if as_json else render_report(report))
    raise typer.Exit(EXIT_CLEAN if report.ok else EXIT_MISMATCH)


@contextmanager
def _unreadable_exits(command: str, table_action: str) -> Iterator[None]:
    """Bad settings, or a table that cannot be read or written, end ``command`` with
    ``EXIT_UNREADABLE`` and a one-line reason on stderr."""
    try:
        yield
    except (CreditsSettingsError, ValueError) as error:
        typer.echo(f"{command}: invalid settings: {error}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from None
    except PynamoDBException as error:
        typer.echo(f"{command}: cannot {table_action}: {error}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from None


def register(app: typer.Typer, *, local_dynamodb: LocalDynamoDB | None = None) -> None:
    """Add ``audit`` and ``migrate`` to the CLI; ``local_dynamodb`` is their default table's home."""

    def audit(  # noqa: PLR0917 - typer maps each option to one parameter
        context: typer.Context,
        endpoint: EndpointOption = None,
        credits_table: CreditsTableOption = None,
        region: RegionOption = None,
        aws: AwsOption = False,
        json_output: JsonOption = False,
    ) -> None:
        """Check every account: ledger sum == balance, no request charged twice, refunds match charges."""
        run_audit_command(
            context, AuditRequest(endpoint, credits_table, region, aws, json_output), local_dynamodb
        )

    app.command("audit")(audit)

    def migrate(
        endpoint: EndpointOption = None,
        credits_table: CreditsTableOption = None,
        region: RegionOption = None,
        aws: AwsOption = False,
    ) -> None:
        """Give every balance shard its ledger counter (issue 14 §8); idempotent, safe while charging."""
        with _unreadable_exits("migrate", "update the credits table"):
            settings = audit_settings(endpoint, credits_table, region, aws, local_dynamodb)
            report = migrate_shards(settings, credentials=scan_credentials(settings, local_dynamodb))
        typer.echo(
            f"migrate: {report.shards} shards, {report.migrated} migrated now, {report.already} already"
        )

    app.command("migrate")(migrate)
