"""`edgemeter balance` with and without credits regions (issue 15), against a fake credits API."""

from __future__ import annotations

import json

from cli.common import EXIT_FAILED
from tests.unit.cli.fake_api import FakeCreditsApi, error

ACCOUNT = "acct_0123456789abcdef0123"
PROFILE = {"account_id": ACCOUNT, "name": "Acme", "status": "active", "balance": 90}
SPLIT = {
    "account_id": ACCOUNT,
    "balance": 130,
    "complete": False,
    "regions": [
        {"region": "eu-west-1", "balance": 90, "home": True},
        {"region": "us-east-1", "balance": 15, "home": False},
        {"region": "ap-northeast-1", "balance": None, "home": False},
    ],
    "in_flight": 25,
    "transfers": [
        {
            "transfer_id": "t1",
            "source_region": "eu-west-1",
            "target_region": "ap-northeast-1",
            "amount": 25,
            "state": "sent",
            "created_at": "2026-12-05T12:00:00Z",
        }
    ],
    "unreachable_regions": ["ap-northeast-1"],
}


def test_without_regions_the_balance_is_the_account_balance_as_before() -> None:
    api = FakeCreditsApi()
    api.reply("GET", f"/v1/accounts/{ACCOUNT}", 200, PROFILE)
    result = api.invoke("--json", "balance", ACCOUNT)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"account_id": ACCOUNT, "balance": 90, "status": "active"}
    assert [request.url.path for request in api.requests] == [
        f"/v1/accounts/{ACCOUNT}",
        f"/v1/accounts/{ACCOUNT}/regions",
    ]


def test_with_regions_the_split_and_transfers_in_flight_are_shown() -> None:
    api = FakeCreditsApi()
    api.reply("GET", f"/v1/accounts/{ACCOUNT}", 200, PROFILE)
    api.reply("GET", f"/v1/accounts/{ACCOUNT}/regions", 200, SPLIT)
    document = json.loads(api.invoke("--json", "balance", ACCOUNT).stdout)
    assert (document["balance"], document["status"], document["in_flight"]) == (130, "active", 25)
    assert [r["region"] for r in document["regions"]] == ["eu-west-1", "us-east-1", "ap-northeast-1"]
    result = api.invoke("balance", ACCOUNT)
    assert result.exit_code == 0, result.stderr
    assert f"{ACCOUNT}: 130 credits" in result.stdout
    assert "unreachable" in result.stdout
    assert "25 credits eu-west-1 -> ap-northeast-1 (sent since 2026-12-05 12:00:00)" in result.stdout
    assert "Incomplete: ap-northeast-1 could not be read" in result.stdout


def test_a_failing_split_is_reported_not_hidden() -> None:
    api = FakeCreditsApi()
    api.reply("GET", f"/v1/accounts/{ACCOUNT}", 200, PROFILE)
    busy = error("service_unavailable", "busy")
    api.reply("GET", f"/v1/accounts/{ACCOUNT}/regions", 503, busy)
    result = api.invoke("balance", ACCOUNT)
    assert result.exit_code == EXIT_FAILED
    assert "503 service_unavailable" in result.stderr


def test_the_ledger_names_each_entrys_region_when_home_merges_regions() -> None:
    api = FakeCreditsApi()
    entry = {
        "entry_id": "e1",
        "account_id": ACCOUNT,
        "request_id": "r1",
        "kind": "charge",
        "amount": -1,
        "method": "GET",
        "path": "/a",
        "bytes": 10,
        "reason": None,
        "created_at": "2026-12-05T12:00:00Z",
        "region": "ap-northeast-1",
    }
    api.reply("GET", f"/v1/accounts/{ACCOUNT}/ledger", 200, {"entries": [entry], "next_cursor": None})
    result = api.invoke("ledger", ACCOUNT)
    assert result.exit_code == 0, result.stderr
    assert "region" in result.stdout
    assert "ap-northeast-1" in result.stdout
