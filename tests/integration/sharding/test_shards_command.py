"""``edgemeter shards``: split, even, show and follow an account's shards through the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from cli.main import app
from functions.credits.settings import Settings

pytestmark = pytest.mark.dynamodb

FundedKey = Callable[..., tuple[str, str]]


def _shards(settings: Settings, *arguments: str) -> tuple[int, dict[str, object]]:
    assert settings.dynamodb_endpoint is not None
    table = ["--endpoint", settings.dynamodb_endpoint, "--credits-table", settings.credits_table]
    result = CliRunner().invoke(app, ["shards", *arguments, *table])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


def test_the_cli_splits_evens_shows_and_follows_the_rate_back(
    funded_key: FundedKey, credits_settings: Settings
) -> None:
    account_id, _ = funded_key(100)
    assert _shards(credits_settings, "show", account_id) == (
        0,
        {"account_id": account_id, "count": 1, "peak": 1, "balances": [100]},
    )
    code, split = _shards(credits_settings, "count", account_id, "4")
    assert code == 0
    assert (split["count"], split["balances"]) == (4, [100, 0, 0, 0])
    code, evened = _shards(credits_settings, "rebalance", account_id)
    assert (code, evened["balances"]) == (0, [25, 25, 25, 25])
    code, followed = _shards(credits_settings, "follow", account_id)  # no traffic: back to one shard
    assert (code, followed["count"], followed["peak"], followed["balances"]) == (0, 1, 4, [100, 0, 0, 0])


def test_an_unknown_account_is_a_readable_error(credits_settings: Settings) -> None:
    code, document = _shards(credits_settings, "show", "acct_missing")
    assert (code, document) == (2, {})
