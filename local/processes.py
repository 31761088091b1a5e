"""Small helpers for the child processes of the local runtime and the tests."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def port_is_open(port: int, host: str = LOOPBACK) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def wait_until(
    ready: Callable[[], bool], *, timeout: float, what: str, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``ready`` until it is true; fail early if ``process`` has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before it was ready")
        if ready():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} was not ready within {timeout:.0f}s")


def stop_process(process: subprocess.Popen[bytes], *, grace: float = 5.0) -> None:
    """Terminate, then kill after ``grace`` seconds; never leave a process behind."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)
