"""`make run` (python -m local.run, as the e2e fixture starts it) publishes account events: real
downloads through the CDN cross a threshold, a suspension through the CLI, and `edgemeter events
--follow` sees both in the events log."""

from __future__ import annotations

import json
import os
import subprocess

import httpx
import pytest

from tests.e2e.conftest import EDGEMETER_CLI, RunningSystem

pytestmark = pytest.mark.e2e


def test_downloads_across_a_threshold_and_a_suspension_reach_the_events_log(
    local_system: RunningSystem, cdn: httpx.Client
) -> None:
    account_id, key_id, api_key = local_system.new_account(5, name="events-e2e")
    assert local_system.cli_json("alerts", "set", account_id, "3")["alert_thresholds"] == [3]
    for _ in range(3):  # 5 -> 2: below 3 once
        assert cdn.get("/hello.txt", headers={"x-api-key": api_key}).status_code == 200
    local_system.cli_json("accounts", "suspend", account_id, "--reason", "e2e check")

    # Prints what is already logged for the account and follows until the three events are there.
    log = local_system.data_dir / "events.jsonl"
    followed = subprocess.run(
        [
            str(EDGEMETER_CLI), "--json", "events", "--follow", "--file", str(log),
            "--account", account_id, "-n", "1000", "--max-events", "3",
        ],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ},
    )  # fmt: skip
    assert followed.returncode == 0, followed.stderr
    documents = [json.loads(line) for line in followed.stdout.splitlines()]
    assert [document["type"] for document in documents] == [
        "key.issued",
        "balance.low",
        "account.suspended",
    ]
    assert documents[0]["detail"]["key_id"] == key_id
    assert api_key not in followed.stdout
    assert documents[1]["detail"] == {"threshold": 3, "balance": 2, "previous_balance": 3}
    assert documents[2]["detail"]["reason"] == "e2e check"
