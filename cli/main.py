"""`edgemeter`: the billing staff's CLI for the credits API.

Talks to the local runtime (http://127.0.0.1:8081, `make run`) by default and to
a deployed API with ``--api URL``. Every request is SigV4-signed
(functions/shared/sigv4.py): with the caller's AWS credentials for a deployed
API, with the local runtime's credentials for a loopback one.

Exit codes (cli/common.py): 0 success, 1 the API refused or failed the request, 2 bad usage,
3 the API could not be reached, 4 access denied (a rejected signature or credentials).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from cli.api_session import DEFAULT_API_URL, CliOptions, call_api, emit, short_time, stdout
from cli.client import CreditsApiClient
from cli.common import aws_region
from cli.local_runtime import LOCAL_ACCESS_KEY_ID, LOCAL_DYNAMODB_URL, LOCAL_SECRET_ACCESS_KEY
from cli.regions import account_balance, render_balance
from functions.shared.environment_variables import EDGEMETER_API, EDGEMETER_REGION

_RELATIVE_TIME = re.compile(r"^(?P<count>\d+)(?P<unit>[smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


app = typer.Typer(
    name="edgemeter",
    help="Accounts, API keys, credits, the ledger and usage of edgemeter (the credits API).",
    no_args_is_help=True,
    add_completion=False,
)
accounts_app = typer.Typer(
    help="Create, show, list, suspend, resume and close accounts.", no_args_is_help=True
)
keys_app = typer.Typer(help="Issue, list and revoke API keys.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")


@app.callback()
def global_options(  # noqa: PLR0917 - typer maps each option to one parameter
    context: typer.Context,
    api: Annotated[
        str, typer.Option("--api", envvar=EDGEMETER_API, help="base URL of the credits API")
    ] = DEFAULT_API_URL,
    region: Annotated[
        str | None, typer.Option("--region", envvar=EDGEMETER_REGION, help="AWS region the API lives in")
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", envvar="AWS_PROFILE", help="AWS profile whose credentials sign")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="print the API's JSON instead of tables")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="seconds to wait for the API")] = 15.0,
) -> None:
    # A transport given as the context object (tests) is kept; see CliOptions.
    transport = context.obj if isinstance(context.obj, httpx.BaseTransport) else None
    context.obj = CliOptions(api, aws_region(region), profile, json_output, timeout, transport)


def parse_time(value: str | None, *, now: datetime | None = None) -> str | None:
    """ISO 8601 (UTC when no offset is given) or a relative age like ``24h``/``7d`` -> ISO with offset."""
    if value is None:
        return None
    relative = _RELATIVE_TIME.match(value.strip())
    if relative is not None:
        moment = (now or datetime.now(UTC)) - timedelta(
            seconds=int(relative["count"]) * _UNIT_SECONDS[relative["unit"]]
        )
        return moment.isoformat()
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is neither ISO 8601 (2026-01-31T12:00:00Z) nor an age (24h, 7d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def _account_table(account: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    for field_name in ("account_id", "name", "balance", "status", "created_at"):
        table.add_row(f"[bold]{field_name}[/]", str(account.get(field_name, "")))
    stdout.print(table)


# --------------------------------------------------------------------------- accounts


@accounts_app.command("create")
def accounts_create(
    context: typer.Context, name: Annotated[str, typer.Argument(help="account name")]
) -> None:
    """Create an account (balance 0; grant credits next)."""
    account = call_api(context, lambda client: client.create_account(name))
    emit(context, account, _account_table)


@accounts_app.command("show")
def accounts_show(
    context: typer.Context, account_id: Annotated[str, typer.Argument(help="acct_...")]
) -> None:
    """Show an account with its balance and status."""
    account = call_api(context, lambda client: client.get_account(account_id))
    emit(context, account, _account_table)


# --------------------------------------------------------------------------- keys


@keys_app.command("issue")
def keys_issue(  # noqa: PLR0917 - typer maps each option to one parameter
    context: typer.Context,
    account_id: Annotated[str, typer.Argument(help="acct_...")],
    name: Annotated[str | None, typer.Option(help="a label for the key")] = None,
    expires_at: Annotated[
        str | None, typer.Option(help="when it stops working (ISO 8601 or e.g. 30d ahead)")
    ] = None,
    methods: Annotated[
        str | None, typer.Option("--methods", help="only these HTTP methods, e.g. GET,HEAD")
    ] = None,
    prefixes: Annotated[
        list[str] | None, typer.Option("--prefix", help="only paths under this prefix (repeatable)")
    ] = None,
    spend_limit: Annotated[
        int | None, typer.Option("--spend-limit", min=1, help="credits the key may spend in its life")
    ] = None,
) -> None:
    """Issue an API key, optionally scoped and capped. The key is shown this once: store it now."""
    expiry = _future_time(expires_at)
    scope = key_scope(methods, prefixes)
    issued = call_api(
        context,
        lambda client: client.issue_key(
            account_id, name=name, expires_at=expiry, scope=scope, spend_limit=spend_limit
        ),
    )

    def render(document: dict[str, Any]) -> None:
        stdout.print(f"Issued key [bold]{document['key_id']}[/] for account {document['account_id']}.")
        stdout.print("API key (shown once, store it now):")
        # Plain print so the key can be copied without markup or wrapping.
        print(document["api_key"])

    emit(context, issued, render)


def key_scope(methods: str | None, prefixes: list[str] | None) -> dict[str, list[str]] | None:
    """``--methods GET,HEAD --prefix /reports/`` -> the API's ``scope`` (None: unrestricted).

    Only the shape is checked here; which methods and prefixes are valid is the API's to say.
    """
    scope: dict[str, list[str]] = {}
    if methods is not None:
        names = [name.strip().upper() for name in methods.split(",")]
        if not all(names):
            raise typer.BadParameter(f"{methods!r} is not a comma-separated list", param_hint="--methods")
        scope["methods"] = names
    if prefixes:
        scope["prefixes"] = list(prefixes)
    return scope or None


def describe_scope(scope: dict[str, list[str]] | None) -> str:
    """``{"methods": ["GET"], "prefixes": ["/a/"]}`` -> ``GET /a/``; no scope: ``any``."""
    if not scope:
        return "any"
    methods = ",".join(scope.get("methods") or []) or "any method"
    prefixes = ",".join(scope.get("prefixes") or []) or "any path"
    return f"{methods} {prefixes}"


def _future_time(value: str | None) -> str | None:
    if value is None:
        return None
    relative = _RELATIVE_TIME.match(value.strip())
    if relative is not None:
        seconds = int(relative["count"]) * _UNIT_SECONDS[relative["unit"]]
        return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()
    return parse_time(value)


@keys_app.command("list")
def keys_list(
    context: typer.Context,
    account_id: Annotated[str, typer.Argument(help="acct_...")],
    limit: Annotated[int | None, typer.Option(min=1, max=100, help="page size")] = None,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
) -> None:
    """List an account's keys (never the keys themselves)."""
    page = call_api(context, lambda client: client.list_keys(account_id, limit=limit, cursor=cursor))

    def render(document: dict[str, Any]) -> None:
        table = Table()
        table.add_column("key_id", no_wrap=True)
        table.add_column("name", overflow="fold")
        table.add_column("status", no_wrap=True)
        for time_column in ("created_at", "expires_at", "revoked_at"):
            table.add_column(time_column, no_wrap=True)
        table.add_column("scope", overflow="fold")
        table.add_column("spend_limit", justify="right", no_wrap=True)
        for key in document.get("keys", []):
            table.add_row(
                key["key_id"],
                key.get("name") or "",
                key["status"],
                short_time(key.get("created_at") or ""),
                short_time(key.get("expires_at") or ""),
                short_time(key.get("revoked_at") or ""),
                describe_scope(key.get("scope")),
                "" if key.get("spend_limit") is None else str(key["spend_limit"]),
            )
        stdout.print(table)
        if document.get("next_cursor"):
            stdout.print(f"more: --cursor {document['next_cursor']}")

    emit(context, page, render)


@keys_app.command("revoke")
def keys_revoke(
    context: typer.Context,
    account_id: Annotated[str, typer.Argument(help="acct_...")],
    key_id: Annotated[str, typer.Argument(help="key_...")],
) -> None:
    """Revoke a key: the CDN answers 403 to it from now on."""
    revoked = call_api(context, lambda client: client.revoke_key(account_id, key_id))
    emit(context, revoked, lambda document: stdout.print(f"Revoked key {document.get('key_id', key_id)}."))


# --------------------------------------------------------------------------- credits


@app.command("grant")
def grant(
    context: typer.Context,
    account_id: Annotated[str, typer.Argument(help="acct_...")],
    amount: Annotated[int, typer.Argument(min=1, help="credits to add")],
    reason: Annotated[str, typer.Option(help="why (kept in the ledger)")] = "granted with the edgemeter CLI",
    idempotency_key: Annotated[
        str | None, typer.Option(help="retry-safe id: the same key never grants twice (default: new)")
    ] = None,
) -> None:
    """Grant credits to an account (idempotent per --idempotency-key)."""
    key = idempotency_key or f"cli-{uuid.uuid4()}"
    granted = call_api(
        context, lambda client: client.grant(account_id, amount=amount, reason=reason, idempotency_key=key)
    )

    def render(document: dict[str, Any]) -> None:
        verb = "Already granted" if document.get("replayed") else "Granted"
        stdout.print(
            f"{verb} {document['amount']} credits to {document['account_id']}; balance {document['balance']}."
        )

    emit(context, granted, render)


@app.command("balance")
def balance(context: typer.Context, account_id: Annotated[str, typer.Argument(help="acct_...")]) -> None:
    """An account's balance in credits; with credits regions, the split per region and in flight."""
    emit(context, call_api(context, lambda client: account_balance(client, account_id)), render_balance)


@app.command("ledger")
def ledger(  # noqa: PLR0917 - typer maps each option to one parameter
    context: typer.Context,
    account_id: Annotated[str, typer.Argument(help="acct_...")],
    since: Annotated[str | None, typer.Option("--from", help="start: ISO 8601 or an age (24h, 7d)")] = None,
    until: Annotated[str | None, typer.Option("--to", help="end: ISO 8601 or an age (1h)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="entries per page")] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="follow every page")] = False,
) -> None:
    """Ledger entries, newest first, paged (with --all, every page)."""
    start, end = parse_time(since), parse_time(until)
    entries: list[dict[str, Any]] = []
    next_cursor = cursor
    while True:
        page = call_api(context, _LedgerPageQuery(account_id, limit, next_cursor, start, end))
        entries.extend(page.get("entries", []))
        next_cursor = page.get("next_cursor")
        if not all_pages or not next_cursor:
            break
    document = {"entries": entries, "next_cursor": next_cursor}

    def render(document: dict[str, Any]) -> None:
        table = Table()
        table.add_column("created_at (UTC)", no_wrap=True)
        table.add_column("kind", no_wrap=True)
        table.add_column("amount", justify="right", no_wrap=True)
        table.add_column("method", no_wrap=True)
        table.add_column("path", overflow="fold")
        table.add_column("bytes", justify="right")
        # Request ids are long; the full ones are in --json.
        table.add_column("request_id", no_wrap=True, overflow="ellipsis", max_width=16)
        # Credits regions (issue 15): home's pages merge every region's ledger; say whose entry it is.
        regional = any(entry.get("region") for entry in document["entries"])
        if regional:
            table.add_column("region", no_wrap=True)
        for entry in document["entries"]:
            cells = [
                short_time(entry["created_at"]),
                entry["kind"],
                f"{entry['amount']:+d}",
                entry.get("method") or "",
                entry.get("path") or "",
                "" if entry.get("bytes") is None else str(entry["bytes"]),
                entry["request_id"],
            ]
            table.add_row(*cells, *([entry.get("region") or ""] if regional else []))
        stdout.print(table)
        total = sum(entry["amount"] for entry in document["entries"])
        stdout.print(f"{len(document['entries'])} entries, net {total:+d} credits")
        if document.get("next_cursor"):
            stdout.print(f"more: --cursor {document['next_cursor']} (or --all)")

    emit(context, document, render)


@app.command("usage")
def usage(
    context: typer.Context,
    account_id: Annotated[str, typer.Argument(help="acct_...")],
    since: Annotated[
        str | None, typer.Option("--from", help="start: ISO 8601 or an age (default: month start)")
    ] = None,
    until: Annotated[str | None, typer.Option("--to", help="end: ISO 8601 or an age (default: now)")] = None,
) -> None:
    """Usage in a period: requests, bytes, credits spent, refunded and granted."""
    start, end = parse_time(since), parse_time(until)
    report = call_api(context, lambda client: client.usage(account_id, since=start, until=end))

    def render(document: dict[str, Any]) -> None:
        table = Table(show_header=False, box=None)
        for name, value in document.items():
            table.add_row(f"[bold]{name}[/]", str(value))
        stdout.print(table)

    emit(context, report, render)


@dataclass(frozen=True)
class _LedgerPageQuery:
    account_id: str
    limit: int
    cursor: str | None
    start: str | None
    end: str | None

    def __call__(self, client: CreditsApiClient) -> dict[str, Any]:
        return client.ledger(
            self.account_id, limit=self.limit, cursor=self.cursor, since=self.start, until=self.end
        )


def _register_extensions() -> None:
    """Commands other parts of edgemeter contribute (the money audit lives next to its code)."""
    from cli.catalog import register as register_catalog  # noqa: PLC0415 - pulls in pynamodb
    from cli.events import register as register_events  # noqa: PLC0415 - uses this module's helpers
    from cli.sellers import register as register_sellers  # noqa: PLC0415 - uses this module's helpers
    from ops.audit import DynamoDBCredentials  # noqa: PLC0415 - pulls in pynamodb
    from ops.audit_command import LocalDynamoDB  # noqa: PLC0415 - pulls in pynamodb
    from ops.audit_command import register as register_audit  # noqa: PLC0415 - pulls in pynamodb
    from ops.shards_command import register as register_shards  # noqa: PLC0415 - pulls in pynamodb

    # The audit reads make run's DynamoDB Local unless told otherwise; ops does not import local/.
    local_credentials = DynamoDBCredentials(LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY)
    local_dynamodb = LocalDynamoDB(LOCAL_DYNAMODB_URL, local_credentials)
    register_audit(app, local_dynamodb=local_dynamodb)
    register_shards(app, local_dynamodb=local_dynamodb)  # sharding (issue 14)
    register_catalog(app)
    register_sellers(app, accounts_app)
    register_events(app)


_register_extensions()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
