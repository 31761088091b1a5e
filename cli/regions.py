"""`edgemeter balance` across regions (issue 15 §5): home + each credits region + transfers in flight.

Home's API answers ``GET /v1/accounts/{id}/regions`` only when regions are configured; without
them that route does not exist (404) and the balance is the account's one balance, as before.
The JSON keeps ``account_id``, ``balance`` and ``status`` (scripts read them) and adds the split.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from rich.table import Table

from cli.api_session import short_time, stdout
from cli.client import CreditsApiClient, CreditsApiError


def account_balance(client: CreditsApiClient, account_id: str) -> dict[str, Any]:
    """The account's balance; with regions, the total and its per-region split."""
    account = client.get_account(account_id)
    document: dict[str, Any] = {
        "account_id": account["account_id"],
        "balance": account["balance"],
        "status": account["status"],
    }
    try:
        split = client.request("GET", f"/v1/accounts/{quote(account_id, safe='')}/regions")
    except CreditsApiError as error:
        if error.status == 404:
            return document  # one region: the account exists (read above), the route does not
        raise
    return document | {
        "balance": split["balance"],
        "complete": split["complete"],
        "regions": split["regions"],
        "in_flight": split["in_flight"],
        "transfers": split["transfers"],
        "unreachable_regions": split["unreachable_regions"],
    }


def render_balance(document: dict[str, Any]) -> None:
    stdout.print(f"{document['account_id']}: {document['balance']} credits")
    if "regions" not in document:
        return
    table = Table("region", "credits", "")
    for region in document["regions"]:
        held = "unreachable" if region["balance"] is None else str(region["balance"])
        table.add_row(region["region"], held, "home" if region["home"] else "")
    table.add_row("in flight", str(document["in_flight"]), "between regions")
    stdout.print(table)
    for transfer in document["transfers"]:
        stdout.print(
            f"  transfer {transfer['transfer_id']}: {transfer['amount']} credits "
            f"{transfer['source_region']} -> {transfer['target_region']} "
            f"({transfer['state']} since {short_time(transfer['created_at'])})"
        )
    if not document["complete"]:
        missing = ", ".join(document["unreachable_regions"])
        stdout.print(f"[yellow]Incomplete: {missing} could not be read; the total leaves their share out.[/]")
