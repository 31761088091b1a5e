"""Accounts from before the account list get their index keys from the one-off backfill."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.credits.data.models import ACCOUNT_PROFILE_SK, BALANCE_SK, AccountItem, BalanceItem, account_pk
from functions.credits.sellers.backfill import backfill_account_list
from functions.credits.settings import Settings
from tests.integration.credits.conftest import Caller
from tests.integration.sellers.helpers import unique_name

pytestmark = pytest.mark.dynamodb


def _old_account(name: str, account_id: str) -> None:
    """An account item and balance as the service wrote them before issue 16 (no index keys)."""
    pk = account_pk(account_id)
    AccountItem(
        pk,
        ACCOUNT_PROFILE_SK,
        account_id=account_id,
        name=name,
        status="active",
        created_at=datetime.now(UTC),
    ).save()
    BalanceItem(pk, BALANCE_SK, account_id=account_id, balance=3, key_revocations=0).save()


def test_old_accounts_are_listed_after_the_backfill_and_it_can_run_again(
    call: Caller, credits_settings: Settings
) -> None:
    stem = unique_name("Old")
    _old_account(f"{stem} one", "acct_0000000000000000aaa1")
    _old_account(f"{stem} two", "acct_0000000000000000aaa2")
    assert call("GET", "/v1/accounts", query={"name_prefix": stem}).body["accounts"] == []
    assert backfill_account_list(credits_settings) >= 2
    listed = call("GET", "/v1/accounts", query={"name_prefix": stem}).body["accounts"]
    assert [(account["name"], account["balance"]) for account in listed] == [
        (f"{stem} one", 3),
        (f"{stem} two", 3),
    ]
    assert backfill_account_list(credits_settings) == 0
