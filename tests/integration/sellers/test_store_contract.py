"""The sellers' store methods and charge conditions, held to one contract on both stores.

``memory`` is the in-memory twin the unit tests use; ``dynamodb`` the DynamoDB store on
DynamoDB Local. Each case builds the same history on both and expects the same outcome.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from functions.credits.ids import new_account_id, new_key_id
from functions.credits.sellers.lifecycle import AccountStatus, StatusChange
from functions.credits.sellers.links import LinkFacts
from functions.credits.sellers.listing import list_sort_key
from functions.credits.sellers.records import (
    AccountClosedToGrants,
    AccountNotActive,
    LinkExhausted,
    SpendLimitReached,
    StatusChanged,
    StatusRaced,
)
from functions.credits.settings import Settings
from functions.credits.store.protocol import CreditsStore
from functions.credits.store.records import (
    AccountRecord,
    AlreadyCharged,
    Charged,
    ChargeIntent,
    Granted,
    GrantIntent,
    InsufficientCredits,
    KeyRecord,
    KeyState,
)

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
_numbers = itertools.count()


@pytest.fixture(scope="module")
def dynamodb_settings(request: pytest.FixtureRequest) -> Iterator[Settings]:
    from functions.credits.data.tables import create_tables, delete_tables

    dynamodb_local = request.getfixturevalue("dynamodb_local")
    suffix = f"sellers-contract-{os.getpid()}-{next(_numbers)}"
    settings = Settings(
        users_table=f"users-{suffix}",
        credits_table=f"credits-{suffix}",
        dynamodb_endpoint=dynamodb_local.endpoint_url,
    )
    create_tables(settings)
    yield settings
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "local")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "local")
        delete_tables(settings)


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> CreditsStore:
    if request.param == "memory":
        from functions.credits.store.memory import InMemoryCreditsStore

        return InMemoryCreditsStore()
    from functions.credits.store.dynamodb import DynamoDBCreditsStore

    return DynamoDBCreditsStore(request.getfixturevalue("dynamodb_settings"))


def _account(store: CreditsStore, name: str = "acme", credits: int = 0) -> AccountRecord:
    account = AccountRecord(account_id=new_account_id(), name=name, status="active", created_at=NOW)
    store.create_account(account)
    if credits:
        intent = GrantIntent(account.account_id, credits, "seed", f"seed-{account.account_id}", 10**15, NOW)
        assert isinstance(store.grant(intent), Granted)
    return account


def _key(store: CreditsStore, account: AccountRecord) -> KeyRecord:
    key = KeyRecord(
        account_id=account.account_id,
        key_id=new_key_id(),
        key_digest=secrets.token_hex(32),
        status=KeyState.ACTIVE,
        created_at=NOW,
    )
    assert store.put_key(key)
    return key


def _charge(key: KeyRecord, amount: int = 1, request_id: str | None = None, **extra: object) -> ChargeIntent:
    return ChargeIntent(
        account_id=key.account_id,
        key_id=key.key_id,
        request_id=request_id or secrets.token_hex(8),
        amount=amount,
        method="GET",
        path="/a",
        bytes=0,
        now=NOW,
        **extra,  # type: ignore[arg-type]
    )


def _suspend(store: CreditsStore, account: AccountRecord, status: AccountStatus) -> None:
    current = store.get_account(account.account_id)
    assert current is not None
    outcome = store.change_account_status(current, StatusChange(status, "test", "arn:test", NOW))
    assert isinstance(outcome, StatusChanged)


def _link(store: CreditsStore, key: KeyRecord, max_uses: int | None) -> str:
    digest = secrets.token_hex(32)
    link = LinkFacts(
        "lnk_1", key.account_id, key.key_id, key.key_digest, "/a", None, NOW + timedelta(hours=1), max_uses, 0
    )
    store.put_link(digest, link, now=NOW)
    return digest


def test_status_is_enforced_by_the_charge_and_reported_before_the_balance(store: CreditsStore) -> None:
    account = _account(store, credits=0)
    key = _key(store, account)
    _suspend(store, account, AccountStatus.SUSPENDED)
    assert store.charge(_charge(key)) == AccountNotActive(AccountStatus.SUSPENDED)
    _suspend(store, account, AccountStatus.CLOSED)
    assert store.charge(_charge(key)) == AccountNotActive(AccountStatus.CLOSED)
    grant = GrantIntent(account.account_id, 5, "late", "late-1", 10**15, NOW)
    assert isinstance(store.grant(grant), AccountClosedToGrants)
    facts = store.get_balance_facts(account.account_id)
    assert facts is not None
    assert (facts.balance, facts.account_status) == (0, AccountStatus.CLOSED)


def test_a_replay_wins_over_a_later_suspension(store: CreditsStore) -> None:
    account = _account(store, credits=5)
    key = _key(store, account)
    first = _charge(key, request_id="same-request")
    assert isinstance(store.charge(first), Charged)
    _suspend(store, account, AccountStatus.SUSPENDED)
    assert isinstance(store.charge(first), AlreadyCharged)


def test_a_stale_status_change_loses_the_race(store: CreditsStore) -> None:
    account = _account(store)
    _suspend(store, account, AccountStatus.SUSPENDED)
    stale = StatusChange(AccountStatus.CLOSED, "late", "arn:test", NOW)
    assert isinstance(store.change_account_status(account, stale), StatusRaced)  # read as active
    stored = store.get_account(account.account_id)
    assert stored is not None
    assert (stored.status, stored.status_changed_by) == ("suspended", "arn:test")


def test_counters_are_reported_before_the_balance_and_refunds_give_spend_back(store: CreditsStore) -> None:
    account = _account(store, credits=2)
    key = _key(store, account)
    assert store.charge(_charge(key, amount=5, spend_limit=3)) == SpendLimitReached()
    spent = _charge(key, amount=2, spend_limit=3)
    assert isinstance(store.charge(spent), Charged)
    assert store.charge(_charge(key, amount=2, spend_limit=3)) == SpendLimitReached()  # balance is 0 too
    charge = store.get_charge(spent.request_id)
    assert charge is not None
    assert charge.spend_counted
    store.refund(charge, reason="origin_5xx", now=NOW)
    assert isinstance(store.charge(_charge(key, amount=2, spend_limit=3)), Charged)
    assert isinstance(store.charge(_charge(key, amount=1, spend_limit=3)), InsufficientCredits)


def test_link_uses_are_counted_in_the_charge(store: CreditsStore) -> None:
    account = _account(store, credits=10)
    key = _key(store, account)
    digest = _link(store, key, max_uses=2)
    for _ in range(2):
        assert isinstance(store.charge(_charge(key, link_digest=digest, link_max_uses=2)), Charged)
    assert store.charge(_charge(key, link_digest=digest, link_max_uses=2)) == LinkExhausted()
    stored = store.get_link(digest)
    assert stored is not None
    assert (stored.uses, stored.max_uses, stored.path) == (2, 2, "/a")
    assert store.get_balance(account.account_id) == 8
    unlimited = _link(store, key, max_uses=None)
    assert isinstance(store.charge(_charge(key, link_digest=unlimited)), Charged)
    assert store.get_link(secrets.token_hex(32)) is None


def test_list_accounts_balances_and_thresholds(store: CreditsStore) -> None:
    stem = secrets.token_hex(3)
    accounts = [
        _account(store, f"{stem}-{name}", credits) for name, credits in (("b", 5), ("A", 1), ("c", 9))
    ]
    _suspend(store, accounts[2], AccountStatus.SUSPENDED)
    listed = store.list_accounts(status=None, name_prefix=stem, after=None, limit=2)
    assert [account.name for account in listed.accounts] == [f"{stem}-A", f"{stem}-b"]
    assert listed.more
    after = list_sort_key(f"{stem}-b", accounts[0].account_id)
    rest = store.list_accounts(status=None, name_prefix=stem, after=after, limit=2)
    assert [(account.name, account.status) for account in rest.accounts] == [
        (f"{stem}-c", AccountStatus.SUSPENDED)
    ]
    assert not rest.more
    active = store.list_accounts(status=AccountStatus.ACTIVE, name_prefix=stem, after=None, limit=10)
    assert len(active.accounts) == 2
    ids = [account.account_id for account in accounts]
    assert store.get_balances([*ids, new_account_id()]) == dict(zip(ids, (5, 1, 9), strict=True))
    assert store.set_alert_thresholds(ids[0], [100, 10])
    facts = store.get_balance_facts(ids[0])
    assert facts is not None
    assert facts.alert_thresholds == (100, 10)
    assert not store.set_alert_thresholds(new_account_id(), [1])
