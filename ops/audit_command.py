"""``edgemeter audit``: the money audit as a CLI command.

Kept here, next to the audit, so the CLI (``cli/``) only registers it:
``ops.audit_command.register(app)``. Exit codes: 0 clean, 1 any mismatch, 2 the table
could not be read.
"""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer
from pynamodb.exceptions import PynamoDBException

from functions.credits.config import ConfigurationError, Settings, settings_from_env
from local.config import LocalConfig
from local.dynamodb_local import LOCAL_CREDENTIALS
from ops.audit import AuditReport, run_audit

EXIT_CLEAN = 0
EXIT_MISMATCH = 1
EXIT_UNREADABLE = 2
ENDPOINT_ENV_VAR = "EDGEMETER_DYNAMODB_ENDPOINT"


def audit_settings(
    endpoint: str | None, credits_table: str | None, region: str | None, aws: bool
) -> Settings:
    """Environment (as the credits service reads it) overridden by the command's options.

    Without ``--aws`` and without an endpoint anywhere, the audit reads the local runtime's
    DynamoDB Local: auditing production must be asked for explicitly.
    """
    settings = settings_from_env()
    overrides: dict[str, object] = {}
    if endpoint is not None:
        overrides["dynamodb_endpoint"] = endpoint
    elif aws:
        overrides["dynamodb_endpoint"] = None
    elif not os.environ.get(ENDPOINT_ENV_VAR):
        # Where `make run` puts DynamoDB Local by default.
        overrides["dynamodb_endpoint"] = LocalConfig().dynamodb_url
    if credits_table is not None:
        overrides["credits_table"] = credits_table
    if region is not None:
        overrides["region"] = region
    return Settings.model_validate({**settings.model_dump(), **overrides})


def render_report(report: AuditReport) -> str:
    lines = [
        f"accounts {len(report.accounts)}  ledger entries {report.ledger_entries}  "
        f"charges {report.charges}  refunds {report.refunds}  grants {report.grants}  "
        f"total balance {report.total_balance}",
        f"records: charges {report.charge_records}  refunds {report.refund_records}  "
        f"grants {report.grant_records}",
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


def audit(  # noqa: PLR0917 - typer maps each option to one parameter
    context: typer.Context,
    endpoint: Annotated[
        str | None, typer.Option(help=f"DynamoDB endpoint URL (default: ${ENDPOINT_ENV_VAR} or make run's)")
    ] = None,
    credits_table: Annotated[str | None, typer.Option(help="credits table name")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region of the table")] = None,
    aws: Annotated[bool, typer.Option("--aws", help="audit the table in AWS (regional endpoint)")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Check every account: ledger sum == balance, no request charged twice, refunds match charges."""
    try:
        settings = audit_settings(endpoint, credits_table, region, aws)
        if settings.dynamodb_endpoint is not None:
            # DynamoDB Local accepts any credentials; without these botocore refuses to sign at all.
            os.environ.setdefault("AWS_ACCESS_KEY_ID", LOCAL_CREDENTIALS["aws_access_key_id"])
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", LOCAL_CREDENTIALS["aws_secret_access_key"])
        report = run_audit(settings)
    except (ConfigurationError, ValueError) as error:
        typer.echo(f"audit: invalid settings: {error}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from None
    except PynamoDBException as error:
        typer.echo(f"audit: cannot read the credits table: {error}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from None
    # The edgemeter CLI's global `--json` (edgemeter --json audit) counts as well.
    as_json = json_output or bool(getattr(context.obj, "json_output", False))
    typer.echo(json.dumps(report.to_json_dict(), indent=2) if as_json else render_report(report))
    raise typer.Exit(EXIT_CLEAN if report.ok else EXIT_MISMATCH)


def register(app: typer.Typer) -> None:
    """Add the ``audit`` command to the edgemeter CLI."""
    app.command("audit")(audit)
