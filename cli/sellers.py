"""`edgemeter` commands for issue 16's sellers' features, through the credits API.

    edgemeter accounts list [--name-prefix P] [--status S] [--balance-below N] [--all]
    edgemeter accounts suspend|resume|close ACCOUNT --reason "..."
    edgemeter links create ACCOUNT --key KEY_ID (--path P | --prefix P) --expires-in S [--max-uses N]
    edgemeter alerts set ACCOUNT 100 10 · alerts clear ACCOUNT · alerts show ACCOUNT

(`keys issue --methods/--prefix/--spend-limit` lives with the other key commands in cli/main.py.)
"""

from __future__ import annotations

import functools
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.api_session import call_api, emit, short_time, stdout
from cli.client import CreditsApiClient
from cli.common import EXIT_USAGE, fail

links_app = typer.Typer(
    help="Signed download links for browsers (no key header needed).", no_args_is_help=True
)
alerts_app = typer.Typer(
    help="Low-balance alert thresholds (events on each downward crossing).", no_args_is_help=True
)

# The API's own page limit; --all follows next_cursor instead of asking for bigger pages.
_MAX_PAGE = 100


class StatusFilter(StrEnum):
    active = "active"
    suspended = "suspended"
    closed = "closed"


AccountArgument = Annotated[str, typer.Argument(help="acct_...")]
ReasonOption = Annotated[str, typer.Option("--reason", help="why (recorded with who and when)")]


# --------------------------------------------------------------------------- accounts


def accounts_list(  # noqa: PLR0917 - typer maps each option to one parameter
    context: typer.Context,
    name_prefix: Annotated[
        str | None, typer.Option("--name-prefix", help="names starting with this (case-insensitive)")
    ] = None,
    status: Annotated[StatusFilter | None, typer.Option("--status", help="only this status")] = None,
    balance_below: Annotated[
        int | None, typer.Option("--balance-below", min=1, help="only balances below this many credits")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=_MAX_PAGE, help="accounts per page")] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="follow every page")] = False,
) -> None:
    """List accounts sorted by name, paged; filter by name prefix, status and balance."""
    accounts: list[dict[str, Any]] = []
    next_cursor = cursor
    while True:
        page = call_api(
            context,
            functools.partial(
                CreditsApiClient.list_accounts,
                name_prefix=name_prefix,
                status=status.value if status else None,
                balance_below=balance_below,
                limit=limit,
                cursor=next_cursor,
            ),
        )
        accounts.extend(page.get("accounts", []))
        next_cursor = page.get("next_cursor")
        if not all_pages or not next_cursor:
            break
    emit(context, {"accounts": accounts, "next_cursor": next_cursor}, _render_accounts)


def _render_accounts(document: dict[str, Any]) -> None:
    table = Table()
    table.add_column("account_id", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("balance", justify="right", no_wrap=True)
    table.add_column("created_at (UTC)", no_wrap=True)
    for account in document["accounts"]:
        table.add_row(
            account["account_id"],
            account.get("name", ""),
            account.get("status", ""),
            str(account.get("balance", "")),
            short_time(account.get("created_at", "")),
        )
    stdout.print(table)
    stdout.print(f"{len(document['accounts'])} accounts")
    if document.get("next_cursor"):
        # With --balance-below a page may be short, even empty, before the end.
        stdout.print(f"more: --cursor {document['next_cursor']} (or --all)")


def _change_status(context: typer.Context, account_id: str, status: str, reason: str) -> None:
    reply = call_api(context, lambda client: client.change_status(account_id, status=status, reason=reason))

    def render(document: dict[str, Any]) -> None:
        if not document.get("changed", True):
            stdout.print(f"{document['account_id']} was already {document['status']}.")
            return
        stdout.print(
            f"{document['account_id']} is now {document['status']} ({document.get('status_reason')})."
        )
        if document["status"] == "closed":
            stdout.print(f"Remaining balance: {document.get('balance')} credits.")

    emit(context, reply, render)


def accounts_suspend(context: typer.Context, account_id: AccountArgument, reason: ReasonOption) -> None:
    """Suspend an account: the CDN refuses it (403 account_suspended) at once, nothing charged."""
    _change_status(context, account_id, "suspended", reason)


def accounts_resume(context: typer.Context, account_id: AccountArgument, reason: ReasonOption) -> None:
    """Resume a suspended account."""
    _change_status(context, account_id, "active", reason)


def accounts_close(
    context: typer.Context,
    account_id: AccountArgument,
    reason: ReasonOption,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask: closing cannot be undone")] = False,
) -> None:
    """Close an account for good (terminal); prints the remaining balance."""
    if not yes and not typer.confirm(f"Close {account_id}? This cannot be undone.", default=False):
        fail(EXIT_USAGE, "not closed")
    _change_status(context, account_id, "closed", reason)


# --------------------------------------------------------------------------- links


@links_app.command("create")
def links_create(  # noqa: PLR0917 - typer maps each option to one parameter
    context: typer.Context,
    account_id: AccountArgument,
    key_id: Annotated[str, typer.Option("--key", help="key_...: the key the link is charged and checked as")],
    expires_in: Annotated[int, typer.Option("--expires-in", min=1, help="seconds until the link expires")],
    path: Annotated[str | None, typer.Option("--path", help="the one object path the link opens")] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="every object path under this prefix")
    ] = None,
    max_uses: Annotated[int | None, typer.Option("--max-uses", min=1, help="downloads allowed")] = None,
) -> None:
    """Make a signed download link (the URL carries a token, never the key)."""
    if (path is None) == (prefix is None):
        fail(EXIT_USAGE, "give exactly one of --path and --prefix")
    link = call_api(
        context,
        lambda client: client.create_link(
            account_id, key_id=key_id, path=path, prefix=prefix, expires_in=expires_in, max_uses=max_uses
        ),
    )

    def render(document: dict[str, Any]) -> None:
        stdout.print(f"Link for key {document.get('key_id', key_id)}, valid until {document['expires_at']}:")
        # Plain print so the URL can be copied without markup or wrapping.
        print(document["url"])

    emit(context, link, render)


# --------------------------------------------------------------------------- alerts


@alerts_app.command("set")
def alerts_set(
    context: typer.Context,
    account_id: AccountArgument,
    thresholds: Annotated[list[int], typer.Argument(min=1, help="credits, e.g. 100 10")],
) -> None:
    """Set the thresholds: one balance.low event each time the balance falls below one."""
    reply = call_api(context, lambda client: client.set_alerts(account_id, thresholds))
    emit(context, reply, _render_alerts)


@alerts_app.command("clear")
def alerts_clear(context: typer.Context, account_id: AccountArgument) -> None:
    """Remove every threshold of the account."""
    reply = call_api(context, lambda client: client.set_alerts(account_id, []))
    emit(context, reply, _render_alerts)


@alerts_app.command("show")
def alerts_show(context: typer.Context, account_id: AccountArgument) -> None:
    """Show the account's thresholds."""
    reply = call_api(context, lambda client: client.get_alerts(account_id))
    emit(context, reply, _render_alerts)


def _render_alerts(document: dict[str, Any]) -> None:
    thresholds = document.get("alert_thresholds") or []
    listed = ", ".join(str(value) for value in thresholds) if thresholds else "none"
    stdout.print(f"{document.get('account_id')}: low-balance thresholds {listed}")


def register(app: typer.Typer, accounts_app: typer.Typer) -> None:
    """Add these commands to the `edgemeter` app and its `accounts` group."""
    accounts_app.command("list")(accounts_list)
    accounts_app.command("suspend")(accounts_suspend)
    accounts_app.command("resume")(accounts_resume)
    accounts_app.command("close")(accounts_close)
    app.add_typer(links_app, name="links")
    app.add_typer(alerts_app, name="alerts")
