"""``edgemeter shards``: an account's balance shards, shown, split, merged, evened (issue 14).

Registered by the CLI next to ``edgemeter audit`` and resolving the table the same way
(``--endpoint``, ``$EDGEMETER_DYNAMODB_ENDPOINT``, ``--aws``, else make run's DynamoDB Local).
``follow`` is the rate policy (``ShardRebalancer.follow_rate``): run it from a scheduler for the
accounts that matter. Exit codes: 0 done, 1 the shards moved under a change (run it again),
2 the table could not be read or the account has no balance.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import typer
from pynamodb.exceptions import PynamoDBException

from functions.credits.settings import CreditsSettingsError, Settings
from functions.credits.store.errors import CreditsStoreError
from functions.credits.store.rebalancer import ShardRebalancer
from functions.credits.store.shards import MAX_SHARDS, read_shards, shard_index
from ops.audit_command import (
    EXIT_CLEAN,
    EXIT_MISMATCH,
    EXIT_UNREADABLE,
    AwsOption,
    CreditsTableOption,
    EndpointOption,
    LocalDynamoDB,
    RegionOption,
    audit_settings,
    scan_credentials,
)

AccountArgument = Annotated[str, typer.Argument(help="the account id")]


def _rebalancer(
    endpoint: str | None,
    credits_table: str | None,
    region: str | None,
    aws: bool,
    local: LocalDynamoDB | None,
) -> ShardRebalancer:
    try:
        settings: Settings = audit_settings(endpoint, credits_table, region, aws, local)
    except (CreditsSettingsError, ValueError) as error:
        typer.echo(f"shards: invalid settings: {error}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from None
    credentials = scan_credentials(settings, local)
    if credentials is not None:
        # DynamoDB Local accepts any credentials but botocore signs with some; this short-lived
        # process has none (the audit hands them to its scan; the rebalancer's models read the
        # environment).
        os.environ.setdefault("AWS_ACCESS_KEY_ID", credentials.access_key_id)
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key)
    return ShardRebalancer(settings)


def _layout_document(account_id: str) -> dict[str, object]:
    found = read_shards(account_id)
    if found is None:
        typer.echo(f"shards: account {account_id} has no balance", err=True)
        raise typer.Exit(EXIT_UNREADABLE)
    layout, shards = found
    balances = [0] * layout.peak
    for item in shards:
        balances[shard_index(account_id, item)] = int(item.balance)
    return {"account_id": account_id, "count": layout.count, "peak": layout.peak, "balances": balances}


def _change(account_id: str, work: Callable[[], object]) -> None:
    """Run ``work``, print the layout after it; exit 1 when ``work`` returned False (lost a race)."""
    try:
        committed = work() is not False
        document = _layout_document(account_id)
    except (PynamoDBException, CreditsStoreError) as error:
        typer.echo(f"shards: {error}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from None
    typer.echo(json.dumps(document))
    raise typer.Exit(EXIT_CLEAN if committed else EXIT_MISMATCH)


def register(app: typer.Typer, *, local_dynamodb: LocalDynamoDB | None = None) -> None:
    """Add ``edgemeter shards show|count|rebalance|follow``."""
    shards_app = typer.Typer(help="An account's balance shards (issue 14).", no_args_is_help=True)

    @shards_app.command("show")
    def show(
        account_id: AccountArgument,
        endpoint: EndpointOption = None,
        credits_table: CreditsTableOption = None,
        region: RegionOption = None,
        aws: AwsOption = False,
    ) -> None:
        """The account's shard count, peak and each shard's balance, as JSON."""
        _rebalancer(endpoint, credits_table, region, aws, local_dynamodb)
        _change(account_id, lambda: True)

    @shards_app.command("count")
    def count(  # noqa: PLR0917 - typer maps each option to one parameter
        account_id: AccountArgument,
        shards: Annotated[int, typer.Argument(min=1, max=MAX_SHARDS, help="the new shard count")],
        endpoint: EndpointOption = None,
        credits_table: CreditsTableOption = None,
        region: RegionOption = None,
        aws: AwsOption = False,
    ) -> None:
        """Split or merge: charges spread over SHARDS shards from now on (credit moved down on a merge)."""
        rebalancer = _rebalancer(endpoint, credits_table, region, aws, local_dynamodb)
        _change(account_id, lambda: rebalancer.set_count(account_id, shards))

    @shards_app.command("rebalance")
    def rebalance(
        account_id: AccountArgument,
        endpoint: EndpointOption = None,
        credits_table: CreditsTableOption = None,
        region: RegionOption = None,
        aws: AwsOption = False,
    ) -> None:
        """Even the credit over the shards when a shard holds under half its share."""
        rebalancer = _rebalancer(endpoint, credits_table, region, aws, local_dynamodb)
        _change(account_id, lambda: rebalancer.rebalance(account_id) or True)

    @shards_app.command("follow")
    def follow(
        account_id: AccountArgument,
        endpoint: EndpointOption = None,
        credits_table: CreditsTableOption = None,
        region: RegionOption = None,
        aws: AwsOption = False,
    ) -> None:
        """Set the count the last minute's charge rate asks for, then even the credit."""
        rebalancer = _rebalancer(endpoint, credits_table, region, aws, local_dynamodb)
        _change(account_id, lambda: rebalancer.follow_rate(account_id, datetime.now(UTC)))

    app.add_typer(shards_app, name="shards")
