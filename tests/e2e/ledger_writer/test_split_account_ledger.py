"""`make run` with a split account (issue 14): its downloads are charged by two single-item writes
and their ledger entries come from the ledger writer thread reading DynamoDB Local's stream; the
CLI's ledger, balance, usage and audit still show every charge."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from local.processes import LOOPBACK, wait_until
from tests.e2e.conftest import RunningSystem

pytestmark = pytest.mark.e2e

DOWNLOADS = 12


def _charges(system: RunningSystem, account_id: str) -> list[dict[str, Any]]:
    return [entry for entry in system.ledger(account_id) if entry["kind"] == "charge"]


def test_a_split_accounts_downloads_are_all_in_the_cli_ledger(
    local_system: RunningSystem, cdn: httpx.Client
) -> None:
    account_id, _, api_key = local_system.new_account(credits=30)
    endpoint = ("--endpoint", f"http://{LOOPBACK}:{local_system.ports['dynamodb']}")
    local_system.cli_json("shards", "count", account_id, "4", *endpoint)
    local_system.cli_json("shards", "rebalance", account_id, *endpoint)

    for _ in range(DOWNLOADS):
        assert cdn.get("/hello.txt", headers={"x-api-key": api_key}).status_code == 200
    # The writer thread polls the stream twice a second: wait for it, then check exact figures.
    wait_until(lambda: len(_charges(local_system, account_id)) == DOWNLOADS, timeout=60, what="ledger")
    ledger = local_system.ledger(account_id)
    assert local_system.balance(account_id) == 30 - DOWNLOADS
    assert sum(entry["amount"] for entry in ledger) == 30 - DOWNLOADS
    assert len({entry["request_id"] for entry in _charges(local_system, account_id)}) == DOWNLOADS
    usage = local_system.cli_json("usage", account_id, "--from", "1h")
    assert (usage["downloads"], usage["credits_spent"]) == (DOWNLOADS, DOWNLOADS)

    audit = local_system.cli("audit", *endpoint)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    report = json.loads(audit.stdout)
    assert report["stream_ledger_entries"] >= DOWNLOADS
    assert [pending for pending in report["pending"] if pending["account_id"] == account_id] == []
