"""`edgemeter events [--follow]`: reading and following the local JSON-lines events log."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from typer.testing import CliRunner

from cli.common import EXIT_FAILED, EXIT_USAGE
from cli.events import follow_lines
from cli.main import app
from functions.account_events.events import AccountEvent, EventType


def _event(number: int, event_type: EventType = EventType.BALANCE_LOW, account: str = "acct_1") -> str:
    detail = {"threshold": 100, "balance": 99 - number, "previous_balance": 100}
    return AccountEvent(f"evt_{number}", event_type, account, "2026-12-05T08:00:00Z", detail).to_json()


def _write(path: Path, *lines: str) -> None:
    with path.open("a", encoding="utf-8") as log:
        log.write("".join(f"{line}\n" for line in lines))


def test_events_prints_the_last_events_readably(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    _write(log, *(_event(number) for number in range(12)))
    result = CliRunner().invoke(app, ["events", "--file", str(log), "-n", "2"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert "balance.low" in lines[0]
    assert "acct_1" in lines[0]
    assert "balance=89" in lines[0]
    assert "balance=88" in lines[1]


def test_events_filters_by_type_and_account_and_prints_json(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    _write(
        log,
        _event(1),
        _event(2, EventType.ACCOUNT_SUSPENDED),
        _event(3, EventType.ACCOUNT_SUSPENDED, account="acct_2"),
        "not json at all",
    )
    result = CliRunner().invoke(
        app,
        ["--json", "events", "--file", str(log), "--type", "account.suspended", "--account", "acct_2"],
    )
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["evt_3"]


def test_events_without_a_log_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["events", "--file", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == EXIT_FAILED
    assert "no events log" in result.stderr


def test_events_unknown_type_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["events", "--file", str(tmp_path / "e.jsonl"), "--type", "balance.high"]
    )
    assert result.exit_code == EXIT_USAGE
    assert "balance.high" in result.stderr


def test_events_follow_prints_what_is_appended_and_stops_after_max_events(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    _write(log, _event(0))
    done = threading.Event()

    def keep_appending() -> None:
        # One new event at a time until the command has returned, however late it starts following.
        for number in range(1, 10_000):
            if done.wait(0.02):
                return
            _write(log, _event(number))

    writer = threading.Thread(target=keep_appending)
    writer.start()
    try:
        result = CliRunner().invoke(
            app, ["--json", "events", "--follow", "--file", str(log), "-n", "0", "--max-events", "2"]
        )
    finally:
        done.set()
        writer.join()
    assert result.exit_code == 0, result.stderr
    numbers = [int(json.loads(line)["id"].removeprefix("evt_")) for line in result.stdout.splitlines()]
    assert len(numbers) == 2
    assert numbers[0] >= 1  # only events appended after it started following
    assert numbers[1] == numbers[0] + 1


def test_follow_waits_for_the_log_and_returns_only_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "later.jsonl"
    stop = threading.Event()
    seen: list[str] = []

    def collect() -> None:
        for line in follow_lines(log, start=0, stop=stop, poll_seconds=0.01):
            seen.append(line)
            if len(seen) == 2:
                stop.set()

    follower = threading.Thread(target=collect)
    follower.start()
    with log.open("a", encoding="utf-8") as partial:
        partial.write('{"id": "a"}\n{"id": "b')  # the second line is not complete yet
        partial.flush()
        first_line_read = threading.Event()
        for _ in range(1000):  # until the follower has read the first line (no timing asserted)
            if seen:
                first_line_read.set()
                break
            first_line_read.wait(0.01)
        assert seen == ['{"id": "a"}']  # read the whole line, held the partial one back
        partial.write('"}\n')
    follower.join(timeout=10)
    alive = follower.is_alive()
    stop.set()  # never leave the follower behind, even when the test fails
    assert not alive
    assert seen == ['{"id": "a"}', '{"id": "b"}']
