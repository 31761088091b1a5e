"""Edge function figures: cold import and warm CPU per allow decision.

- Cold import: fresh interpreters (``python -c``) import the two handler modules and report
  the time the imports took, several runs, median; measured side by side with botocore alone
  (which the Lambda runtime provides and the SigV4 signing needs), to show what is ours.
- Warm decision: the real ``viewer_request.handler`` on prebuilt CloudFront events, the credits
  call answered by an in-process fake that returns a canned allow document, so the CPU time is
  the edge's own work: reading the event, hashing the key, signing the call with SigV4, parsing
  the reply, rewriting the request.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stats import median
from functions.edge_auth import runtime, viewer_request
from functions.edge_auth.credits_client import TransportResponse
from functions.edge_auth.settings import CreditsApiSettings, EdgeSettings
from functions.shared.api_keys import generate_api_key
from functions.shared.sigv4 import static_credentials

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TARGET_DECISION_MICROSECONDS = 100.0
TARGET_COLD_IMPORT_MS = 30.0
EDGE_HANDLER_MODULES = ("functions.edge_auth.viewer_request", "functions.edge_auth.origin_response")
BENCH_CREDITS_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod"

_IMPORT_TIMER = (
    "import sys, time\n"
    "started = time.perf_counter()\n"
    "for name in sys.argv[1:]:\n"
    "    __import__(name)\n"
    "print(time.perf_counter() - started)\n"
)


@dataclass(frozen=True, slots=True)
class EdgeFigures:
    cold_import_runs: int
    cold_import_median_ms: float
    botocore_import_median_ms: float
    decisions: int
    cpu_microseconds_per_decision: float
    wall_microseconds_per_decision: float

    @property
    def meets_decision_target(self) -> bool:
        return self.cpu_microseconds_per_decision < TARGET_DECISION_MICROSECONDS

    @property
    def meets_cold_import_target(self) -> bool:
        return self.cold_import_median_ms < TARGET_COLD_IMPORT_MS


def cold_import_ms(modules: tuple[str, ...], runs: int) -> float:
    """Median time, in a fresh interpreter each run, to import ``modules``."""
    environment = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    samples = []
    for _ in range(runs):
        completed = subprocess.run(
            [sys.executable, "-c", _IMPORT_TIMER, *modules],
            cwd=PROJECT_ROOT,
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        )
        samples.append(float(completed.stdout.strip()) * 1000)
    return median(samples)


class CannedAllowTransport:
    """The credits API's allow reply, from memory: the cheapest possible credits call."""

    def __init__(self) -> None:
        self.calls = 0
        self._reply = TransportResponse(
            status=200,
            body=json.dumps(
                {
                    "decision": "allow",
                    "reason": None,
                    "account_id": "acct_0123456789abcdef0123",
                    "price": 1,
                    "charged": 1,
                    "balance": 41,
                    "entry_id": "le_0123456789abcdef01234567",
                    "retry_after": None,
                    "replayed": False,
                }
            ).encode(),
        )

    def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, deadline: float
    ) -> TransportResponse:
        self.calls += 1
        return self._reply


def viewer_request_event(api_key: str, request_id: str) -> dict[str, Any]:
    """A CloudFront viewer-request event for a GET with an API key (CloudFront's shape)."""
    domain = "d111111abcdef8.cloudfront.net"
    return {
        "Records": [
            {
                "cf": {
                    "config": {
                        "distributionDomainName": domain,
                        "distributionId": "EDFDVBD6EXAMPLE",
                        "eventType": "viewer-request",
                        "requestId": request_id,
                    },
                    "request": {
                        "clientIp": "203.0.113.178",
                        "headers": {
                            "host": [{"key": "Host", "value": domain}],
                            "user-agent": [{"key": "User-Agent", "value": "curl/8.5.0"}],
                            "x-api-key": [{"key": "x-api-key", "value": api_key}],
                        },
                        "method": "GET",
                        "querystring": "",
                        "uri": "/data/object-0001.bin",
                    },
                }
            }
        ]
    }


def warm_decision_microseconds(decisions: int) -> tuple[float, float]:
    """(CPU, wall) microseconds per allow decision of a warm container."""
    transport = CannedAllowTransport()
    runtime.configure(
        EdgeSettings(credits_api=CreditsApiSettings(url=BENCH_CREDITS_URL, region="us-east-1")),
        transport=transport,
        credentials_loader=lambda: static_credentials("AKIDBENCH", "bench-secret", "bench-session-token"),
    )
    try:
        api_key = generate_api_key()
        warm_up = [viewer_request_event(api_key, f"warm-{index:08d}") for index in range(200)]
        events = [viewer_request_event(api_key, f"bench-{index:08d}") for index in range(decisions)]
        for event in warm_up:
            viewer_request.handler(event)
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        for event in events:
            result = viewer_request.handler(event)
        cpu_seconds = time.process_time() - cpu_started
        wall_seconds = time.perf_counter() - wall_started
        # The last result must be the forwarded request, not a generated response.
        if "status" in result or transport.calls != len(warm_up) + decisions:
            raise RuntimeError(f"the edge did not allow: {result}")
    finally:
        runtime.reset_runtime()
    return cpu_seconds / decisions * 1e6, wall_seconds / decisions * 1e6


def run_edge_bench(*, decisions: int, import_runs: int) -> EdgeFigures:
    cpu_us, wall_us = warm_decision_microseconds(decisions)
    return EdgeFigures(
        cold_import_runs=import_runs,
        cold_import_median_ms=cold_import_ms(EDGE_HANDLER_MODULES, import_runs),
        botocore_import_median_ms=cold_import_ms(("botocore.auth", "botocore.awsrequest"), import_runs),
        decisions=decisions,
        cpu_microseconds_per_decision=cpu_us,
        wall_microseconds_per_decision=wall_us,
    )


# What the viewer-request package holds (stacks/ bundles the same paths): the handler package,
# the stdlib-only shared package and the namespace __init__.
EDGE_PACKAGE_PATHS = ("functions/__init__.py", "functions/edge_auth", "functions/shared")
LAMBDA_EDGE_VIEWER_PACKAGE_LIMIT_BYTES = 1024 * 1024


def edge_package_zip_bytes() -> int:
    """Size of the edge package zipped with deflate (the viewer trigger limit is 1 MB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in EDGE_PACKAGE_PATHS:
            path = PROJECT_ROOT / relative
            files = [path] if path.is_file() else sorted(path.rglob("*"))
            for file in files:
                if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc":
                    archive.write(file, file.relative_to(PROJECT_ROOT).as_posix())
    return len(buffer.getvalue())
