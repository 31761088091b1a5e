"""Restarting `make run` keeps balances and the ledger (DynamoDB Local's data dir), and stops cleanly."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import pid_alive, running_system

pytestmark = pytest.mark.e2e


def test_restart_keeps_balances_and_the_ledger_and_leaves_no_process(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_system(data_dir) as first_run:
        account_id, _, api_key = first_run.new_account(credits=30)
        with httpx.Client(base_url=first_run.cdn_url, timeout=60, trust_env=False) as cdn:
            assert cdn.get("/hello.txt", headers={"x-api-key": api_key}).status_code == 200
            assert cdn.put("/notes.txt", content=b"x" * 10, headers={"x-api-key": api_key}).status_code == 200
        balance_before = first_run.balance(account_id)
        ledger_before = first_run.ledger(account_id)
        demo_before = first_run.state["demo"]
        pids_before = first_run.child_pids
    # running_system asserted that Ctrl-C left none of the children behind.
    assert not any(pid_alive(pid) for pid in pids_before.values())
    assert balance_before == 30 - 1 - 2

    with running_system(data_dir) as second_run:
        assert second_run.balance(account_id) == balance_before
        assert second_run.ledger(account_id) == ledger_before
        # The demo account is reused, not re-created, and its one-time grant is not repeated.
        assert second_run.state["demo"]["account_id"] == demo_before["account_id"]
        assert second_run.state["demo"]["balance"] == demo_before["balance"]
        with httpx.Client(base_url=second_run.cdn_url, timeout=60, trust_env=False) as cdn:
            # moto's objects are in memory: the demo objects were seeded again.
            assert cdn.get("/hello.txt", headers={"x-api-key": api_key}).status_code == 200
        assert second_run.balance(account_id) == balance_before - 1
