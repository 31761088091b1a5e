"""The account list, the account lifecycle and alert thresholds through the API, on DynamoDB Local.

The lifecycle's point is in the two-container tests: a status change made through one
container stops charges in another that has the key cached, at once, and charges nothing.
"""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from functions.credits.data.models import BALANCE_SK, AccountItem, BalanceItem, account_pk
from functions.credits.sellers.listing import ACCOUNT_LIST_BUCKETS
from functions.credits.settings import Settings
from tests.integration.credits.conftest import Caller
from tests.integration.credits.events import assert_error_shape
from tests.integration.credits.test_api import ledger_sum, stored_balance
from tests.integration.sellers.helpers import (
    authorize_key,
    balance_of,
    container,
    set_status,
    unique_name,
)

pytestmark = pytest.mark.dynamodb

CALLER_ARN = "arn:aws:iam::123456789012:user/billing"


def _make_accounts(call: Caller, names: list[str], balances: list[int] | None = None) -> dict[str, str]:
    """name -> account id; each funded with its balance when given."""
    ids: dict[str, str] = {}
    for position, name in enumerate(names):
        reply = call("POST", "/v1/accounts", {"name": name})
        assert reply.status == 201, reply
        account_id = reply.body["account_id"]
        ids[name] = account_id
        amount = balances[position] if balances else 0
        if amount:
            grant = {"amount": amount, "reason": "seed", "idempotency_key": f"seed-{account_id}"}
            assert call("POST", f"/v1/accounts/{account_id}/grants", grant).status == 201
    return ids


def _list_all(call: Caller, **query: str) -> tuple[list[dict[str, object]], int]:
    """Every account the list returns for ``query``, following cursors; and the pages it took."""
    accounts: list[dict[str, object]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = dict(query) | ({"cursor": cursor} if cursor else {})
        reply = call("GET", "/v1/accounts", query=params)
        assert reply.status == 200, reply
        accounts.extend(reply.body["accounts"])
        pages += 1
        cursor = reply.body["next_cursor"]
        if cursor is None:
            return accounts, pages
        assert pages < 50, "the cursor does not move on"


# --- the account list -------------------------------------------------------------------------


def test_list_pages_through_accounts_sorted_by_name(call: Caller) -> None:
    stem = unique_name("Sorted")
    names = [
        f"{stem} {suffix}" for suffix in ("delta", "Alpha", "charlie", "bravo", "echo", "Foxtrot", "golf")
    ]
    ids = _make_accounts(call, names)
    listed, pages = _list_all(call, name_prefix=stem.lower(), limit="3")
    assert [account["name"] for account in listed] == sorted(names, key=str.casefold)
    assert [account["account_id"] for account in listed] == [
        ids[name] for name in sorted(names, key=str.casefold)
    ]
    assert pages == 3
    assert set(listed[0]) == {"account_id", "name", "status", "balance", "created_at"}


def test_name_prefix_is_a_case_insensitive_prefix(call: Caller) -> None:
    stem = unique_name("Prefix")
    _make_accounts(call, [f"{stem}-ACME", f"{stem}-acme corp", f"{stem}-acorn", f"{stem}-beta"])
    listed, _ = _list_all(call, name_prefix=f"{stem}-Ac".upper())
    assert [account["name"] for account in listed] == [f"{stem}-ACME", f"{stem}-acme corp", f"{stem}-acorn"]


def test_status_filter_reads_only_that_status(call: Caller) -> None:
    stem = unique_name("Status")
    ids = _make_accounts(call, [f"{stem} a", f"{stem} b", f"{stem} c"])
    assert set_status(call, ids[f"{stem} b"], "suspended").status == 200
    assert set_status(call, ids[f"{stem} c"], "closed").status == 200
    suspended, _ = _list_all(call, name_prefix=stem, status="suspended")
    assert [account["account_id"] for account in suspended] == [ids[f"{stem} b"]]
    active, _ = _list_all(call, name_prefix=stem, status="active")
    assert [account["account_id"] for account in active] == [ids[f"{stem} a"]]
    every, _ = _list_all(call, name_prefix=stem)
    assert [account["status"] for account in every] == ["active", "suspended", "closed"]


def test_balance_below_filters_each_page_and_cursors_go_on(call: Caller) -> None:
    stem = unique_name("Low")
    balances = [5, 500, 0, 50, 7, 1000, 3, 99]
    names = [f"{stem} {number:02d}" for number in range(len(balances))]
    _make_accounts(call, names, balances)
    low, _ = _list_all(call, name_prefix=stem, balance_below="10", limit="2")
    assert [(account["name"], account["balance"]) for account in low] == [
        (names[0], 5),
        (names[2], 0),
        (names[4], 7),
        (names[6], 3),
    ]


def test_the_list_index_spreads_accounts_over_buckets_and_lives_on_the_account_item(call: Caller) -> None:
    stem = unique_name("Spread")
    ids = _make_accounts(call, [f"{stem} {number}" for number in range(12)])
    partitions = {AccountItem.get(account_pk(account_id), "profile").list_pk for account_id in ids.values()}
    assert partitions <= {f"accounts#active#{bucket}" for bucket in range(ACCOUNT_LIST_BUCKETS)}
    assert len(partitions) > 1
    balance = BalanceItem.get(account_pk(next(iter(ids.values()))), BALANCE_SK)
    assert "list_pk" not in balance.attribute_values


@pytest.mark.parametrize(
    "query",
    [
        {"status": "frozen"},
        {"balance_below": "-1"},
        {"balance_below": "ten"},
        {"limit": "0"},
        {"limit": "101"},
        {"cursor": "not a cursor"},
        {"cursor": "bm9wZQ"},
        {"name_prefix": ""},
    ],
)
def test_bad_list_queries_are_4xx_json(call: Caller, query: dict[str, str]) -> None:
    reply = call("GET", "/v1/accounts", query=query)
    assert_error_shape(reply)


# --- the lifecycle ----------------------------------------------------------------------------


def test_status_changes_are_recorded_with_who_and_when(call: Caller) -> None:
    account_id = _make_accounts(call, [unique_name("Who")]).popitem()[1]
    suspended = set_status(call, account_id, "suspended", "unpaid invoice 42")
    assert suspended.status == 200, suspended
    assert suspended.body["status"] == "suspended"
    assert suspended.body["changed"] is True
    assert suspended.body["status_reason"] == "unpaid invoice 42"
    assert suspended.body["status_changed_by"] == CALLER_ARN
    assert datetime.fromisoformat(suspended.body["status_changed_at"])
    again = set_status(call, account_id, "suspended", "still unpaid")
    assert again.status == 200
    assert again.body["changed"] is False
    assert again.body["status_reason"] == "unpaid invoice 42"
    item = AccountItem.get(account_pk(account_id), "profile", consistent_read=True)
    assert (item.status, item.status_reason, item.status_changed_by) == (
        "suspended",
        "unpaid invoice 42",
        CALLER_ARN,
    )
    shown = call("GET", f"/v1/accounts/{account_id}")
    assert shown.body["status"] == "suspended"
    assert shown.body["status_changed_by"] == CALLER_ARN
    resumed = set_status(call, account_id, "active", "paid")
    assert resumed.body["status"] == "active"
    assert resumed.body["changed"] is True


def test_closing_reports_the_remaining_balance_and_is_terminal(call: Caller) -> None:
    account_id = _make_accounts(call, [unique_name("Close")], [42]).popitem()[1]
    closed = set_status(call, account_id, "closed", "customer left")
    assert closed.status == 200
    assert closed.body["status"] == "closed"
    assert closed.body["balance"] == 42
    for status in ("active", "suspended"):
        refused = set_status(call, account_id, status, "oops")
        assert refused.status == 409
        assert refused.error_code == "account_closed"
    grant = {"amount": 5, "reason": "late", "idempotency_key": f"late-{account_id}"}
    refused_grant = call("POST", f"/v1/accounts/{account_id}/grants", grant)
    assert refused_grant.status == 409
    assert refused_grant.error_code == "account_closed"
    assert stored_balance(account_id) == 42 == ledger_sum(account_id)
    refused_key = call("POST", f"/v1/accounts/{account_id}/keys", {})
    assert refused_key.status == 409
    assert refused_key.error_code == "account_closed"
    assert set_status(call, account_id, "closed", "again").body["changed"] is False


def test_a_suspension_stops_a_container_that_cached_the_key_at_once(
    call: Caller, funded_key: object, credits_settings: Settings
) -> None:
    account_id, api_key = funded_key(10)  # type: ignore[operator]
    edge_facing = container(credits_settings)
    assert authorize_key(edge_facing, api_key)["decision"] == "allow"  # the key is cached now
    assert authorize_key(edge_facing, api_key)["decision"] == "allow"
    assert set_status(call, account_id, "suspended", "fraud check").status == 200
    refused = authorize_key(edge_facing, api_key)
    assert (refused["decision"], refused["reason"], refused["charged"]) == ("deny", "account_suspended", 0)
    assert balance_of(call, account_id) == 8 == ledger_sum(account_id)
    # A third container that never saw the key refuses too.
    assert authorize_key(container(credits_settings), api_key)["reason"] == "account_suspended"
    assert set_status(call, account_id, "active", "cleared").status == 200
    assert authorize_key(edge_facing, api_key)["decision"] == "allow"
    assert set_status(call, account_id, "suspended", "again").status == 200
    assert set_status(call, account_id, "closed", "gone").status == 200
    closed = authorize_key(edge_facing, api_key)
    assert (closed["decision"], closed["reason"]) == ("deny", "account_closed")
    assert balance_of(call, account_id) == 7 == ledger_sum(account_id)


def test_bad_status_changes_are_4xx_json(call: Caller) -> None:
    account_id = _make_accounts(call, [unique_name("Bad")]).popitem()[1]
    for body in (
        {"status": "frozen", "reason": "x"},
        {"status": "suspended"},
        {"status": "suspended", "reason": ""},
        {"status": "suspended", "reason": "x", "extra": 1},
        {"status": 1, "reason": "x"},
    ):
        assert_error_shape(call("PATCH", f"/v1/accounts/{account_id}", body))
    missing = set_status(call, "acct_00000000000000000000", "suspended")
    assert missing.status == 404
    assert_error_shape(missing)


# --- alert thresholds -------------------------------------------------------------------------


def test_thresholds_are_stored_on_the_balance_item_and_shown_with_the_account(call: Caller) -> None:
    account_id = _make_accounts(call, [unique_name("Alerts")], [500]).popitem()[1]
    reply = call("PUT", f"/v1/accounts/{account_id}/alerts", {"thresholds": [10, 100]})
    assert reply.status == 200, reply
    assert reply.body == {"account_id": account_id, "alert_thresholds": [100, 10]}
    raw = BalanceItem.get(account_pk(account_id), BALANCE_SK, consistent_read=True)
    assert [int(value) for value in raw.alert_thresholds] == [100, 10]
    assert int(raw.balance) == 500
    assert call("GET", f"/v1/accounts/{account_id}").body["alert_thresholds"] == [100, 10]
    assert call("GET", f"/v1/accounts/{account_id}/alerts").body == reply.body
    cleared = call("PUT", f"/v1/accounts/{account_id}/alerts", {"thresholds": []})
    assert cleared.body["alert_thresholds"] == []
    raw = BalanceItem.get(account_pk(account_id), BALANCE_SK, consistent_read=True)
    assert raw.alert_thresholds is None


def test_bad_thresholds_are_4xx_json(call: Caller) -> None:
    account_id = _make_accounts(call, [unique_name("BadAlerts")]).popitem()[1]
    for body in (
        {"thresholds": [10, 10]},
        {"thresholds": [0]},
        {"thresholds": [-1]},
        {"thresholds": ["10"]},
        {"thresholds": [1.5]},
        {"thresholds": list(range(1, 12))},
        {"thresholds": 10},
        {},
    ):
        assert_error_shape(call("PUT", f"/v1/accounts/{account_id}/alerts", body))
    assert call("PUT", "/v1/accounts/acct_00000000000000000000/alerts", {"thresholds": [1]}).status == 404


def test_charges_racing_a_suspension_never_outlive_it(
    call: Caller, funded_key: object, credits_settings: Settings
) -> None:
    """Eight threads on four containers (each with the key cached) charge while billing staff
    suspend the account: once the PATCH has returned, no container charges it again, and every
    allow is one ledger entry."""
    account_id, api_key = funded_key(10_000)  # type: ignore[operator]
    containers = [container(credits_settings) for _ in range(4)]
    for edge_facing in containers:
        assert authorize_key(edge_facing, api_key)["decision"] == "allow"
    suspended = threading.Event()
    allows: list[bool] = []
    lock = threading.Lock()

    def charge_until_denied(thread: int) -> None:
        edge_facing = containers[thread % len(containers)]
        for _ in range(400):
            suspension_returned = suspended.is_set()
            decision = authorize_key(edge_facing, api_key)
            if decision["decision"] == "deny":
                assert decision["reason"] == "account_suspended"
                return
            with lock:
                allows.append(suspension_returned)

    threads = [threading.Thread(target=charge_until_denied, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    assert set_status(call, account_id, "suspended", "race").status == 200
    suspended.set()
    for thread in threads:
        thread.join()
    assert True not in allows  # no allow that started after the suspension returned
    assert stored_balance(account_id) == ledger_sum(account_id) == 10_000 - len(containers) - len(allows)
