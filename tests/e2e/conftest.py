"""Fixtures that start the local system the way `make run` does and drive it over real HTTP.

`python -m local.run` runs as a subprocess on free loopback ports with its data
in a temporary directory; the fixture waits for the run-state file it writes
once everything is up and seeded, and always stops it (SIGINT, as Ctrl-C
does), then checks that none of its processes is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.processes import LOOPBACK, free_port, wait_until
from local.seaweedfs import SeaweedFS

STARTUP_TIMEOUT_SECONDS = 240.0
EDGEMETER_CLI = Path(sys.executable).parent / "edgemeter"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent has not reaped it yet).
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def peak_rss_bytes(pid: int) -> int:
    """VmHWM: the peak resident set size of a process so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


@dataclass
class RunningSystem:
    data_dir: Path
    extra_args: list[str]
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    output_path: Path | None = None

    @property
    def cdn_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['cdn']}"

    @property
    def credits_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['credits']}"

    @property
    def child_pids(self) -> dict[str, int]:
        return {name: int(pid) for name, pid in self.state["pids"].items()}

    def start(self) -> None:
        if not self.ports:
            self.ports = {name: free_port() for name in ("cdn", "credits", "origin", "dynamodb")}
        state_file = self.data_dir / "run-state.json"
        state_file.unlink(missing_ok=True)
        self.output_path = self.data_dir / f"run-{time.time_ns()}.out"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.output_path.open("wb") as output:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "local.run",
                    "--cdn-port",
                    str(self.ports["cdn"]),
                    "--credits-port",
                    str(self.ports["credits"]),
                    "--origin-port",
                    str(self.ports["origin"]),
                    "--dynamodb-port",
                    str(self.ports["dynamodb"]),
                    "--data-dir",
                    str(self.data_dir),
                    *self.extra_args,
                ],
                cwd=PROJECT_ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until(
                state_file.exists, timeout=STARTUP_TIMEOUT_SECONDS, what="local.run", process=self.process
            )
        except (RuntimeError, TimeoutError):
            self.stop()
            raise AssertionError(f"local.run did not come up:\n{self.output_path.read_text()}") from None
        self.state = json.loads(state_file.read_text())

    def stop(self) -> None:
        """Ctrl-C, then wait; the supervisor must stop every child by itself."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
                raise AssertionError("local.run did not stop within 90 s of Ctrl-C") from None
        self.process = None

    def cli(self, *args: str, api: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the installed `edgemeter` console script against this system."""
        return subprocess.run(
            [str(EDGEMETER_CLI), "--api", api or self.credits_url, "--json", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "COLUMNS": "200"},
        )

    def cli_json(self, *args: str) -> Any:
        completed = self.cli(*args)
        assert completed.returncode == 0, f"edgemeter {' '.join(args)} failed: {completed.stderr}"
        return json.loads(completed.stdout)

    def new_account(self, credits: int, name: str = "e2e") -> tuple[str, str, str]:
        """(account_id, key_id, api_key) of a fresh account holding ``credits``."""
        account = self.cli_json("accounts", "create", name)
        key = self.cli_json("keys", "issue", account["account_id"])
        if credits:
            self.cli_json("grant", account["account_id"], str(credits), "--reason", "e2e test credits")
        return account["account_id"], key["key_id"], key["api_key"]

    def balance(self, account_id: str) -> int:
        return int(self.cli_json("balance", account_id)["balance"])

    def ledger(self, account_id: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.cli_json("ledger", account_id, "--all", "--limit", "100")[
            "entries"
        ]
        return entries


@contextmanager
def running_system(data_dir: Path, *extra_args: str) -> Iterator[RunningSystem]:
    system = RunningSystem(data_dir=data_dir, extra_args=list(extra_args))
    system.start()
    try:
        yield system
    finally:
        pids = system.child_pids if system.state else {}
        system.stop()
        leftovers = {name: pid for name, pid in pids.items() if pid_alive(pid)}
        assert not leftovers, f"processes left behind after Ctrl-C: {leftovers}"


@pytest.fixture(scope="session")
def local_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    """The default system (moto origin), shared by the walkthrough tests."""
    with running_system(tmp_path_factory.mktemp("local-system")) as system:
        yield system


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    with SeaweedFS(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="session")
def seaweedfs_system(
    tmp_path_factory: pytest.TempPathFactory, seaweedfs: SeaweedFS
) -> Iterator[RunningSystem]:
    """The system with SeaweedFS as its S3-compatible origin (`--origin URL`)."""
    with running_system(
        tmp_path_factory.mktemp("seaweedfs-system"),
        "--origin",
        seaweedfs.endpoint_url,
        "--origin-access-key",
        seaweedfs.access_key_id,
        "--origin-secret-key",
        seaweedfs.secret_access_key,
    ) as system:
        yield system


@pytest.fixture
def cdn(local_system: RunningSystem) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_system.cdn_url, timeout=60, trust_env=False) as client:
        yield client
