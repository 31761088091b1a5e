"""Edge package figures, printed (never asserted): zipped size and cold start.

``python -m bench.edge_package [--runs N]``

- Zipped size of each Lambda@Edge package as stacks/ bundles it
  (``functions/__init__.py`` + the function's package + ``functions/shared``),
  deflate-compressed, against the 1 MB viewer-trigger limit.
- Cold start in fresh interpreters started in the unzipped package with the
  baked ``config.json`` next to the handler: the time to import both handler
  modules, and the time of the first invocation (reads and validates the
  settings, builds the per-container runtime, answers a key-less request with
  401, so no network is involved). Median and spread over ``--runs``; botocore's
  own import, which the Lambda runtime pays too, is measured alone alongside.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "edge_auth": ("functions/__init__.py", "functions/edge_auth", "functions/shared"),
    "origin_signer": ("functions/__init__.py", "functions/origin_signer", "functions/shared"),
}
VIEWER_PACKAGE_LIMIT_BYTES = 1024 * 1024

_COLD_START_CHILD = """
import json, sys, time
sys.path.insert(0, {package_dir!r})
started = time.perf_counter()
import functions.edge_auth.viewer_request as viewer_request
import functions.edge_auth.origin_response
imported = time.perf_counter()
event = {{"Records": [{{"cf": {{"config": {{"eventType": "viewer-request", "requestId": "bench-1"}},
    "request": {{"clientIp": "198.51.100.7", "headers": {{}}, "method": "GET", "querystring": "",
    "uri": "/bench"}}}}}}]}}
answer = viewer_request.handler(event, None)
invoked = time.perf_counter()
assert answer["status"] == "401", answer
# The first keyed request signs its authorize call: botocore is loaded then, not at import.
from functions.shared.sigv4 import sign_request, static_credentials
sign_request("POST", "https://abc.execute-api.us-east-1.amazonaws.com/live/v1/authorize",
    {{"content-type": "application/json"}}, b"{{}}", static_credentials("AKID", "SECRET"),
    "us-east-1", "execute-api")
signed = time.perf_counter()
print(json.dumps({{"import_ms": (imported - started) * 1000, "first_call_ms": (invoked - imported) * 1000,
    "first_signature_ms": (signed - invoked) * 1000}}))
"""

_BOTOCORE_CHILD = """
import json, time
started = time.perf_counter()
import botocore.auth, botocore.awsrequest, botocore.config, botocore.credentials
print(json.dumps({"import_ms": (time.perf_counter() - started) * 1000}))
"""


def package_zip(package: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in PACKAGES[package]:
            path = PROJECT_ROOT / relative
            files = [path] if path.is_file() else sorted(path.rglob("*"))
            for file in files:
                if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc":
                    archive.write(file, file.relative_to(PROJECT_ROOT).as_posix())
    return buffer.getvalue()


def run_child(source: str, cwd: Path) -> dict[str, float]:
    completed = subprocess.run(
        [sys.executable, "-I", "-B", "-c", source],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    figures: dict[str, float] = json.loads(completed.stdout)
    return figures


def cold_start_samples(runs: int) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """``runs`` fresh interpreters in the unzipped edge_auth package with its baked settings.

    Returns the cold-start child's figures per run, then botocore's own import per run.
    """
    with tempfile.TemporaryDirectory(prefix="edge-package-") as scratch:
        package_dir = Path(scratch)
        with zipfile.ZipFile(io.BytesIO(package_zip("edge_auth"))) as archive:
            archive.extractall(package_dir)
        example_settings = PROJECT_ROOT / "functions" / "edge_auth" / "config.example.json"
        (package_dir / "functions" / "edge_auth" / "config.json").write_text(example_settings.read_text())
        child = _COLD_START_CHILD.format(package_dir=str(package_dir))
        cold_starts = [run_child(child, package_dir) for _ in range(runs)]
        botocore_alone = [run_child(_BOTOCORE_CHILD, package_dir) for _ in range(runs)]
    return cold_starts, botocore_alone


def describe(label: str, samples: list[float]) -> str:
    return (
        f"{label}: median {statistics.median(samples):.1f} ms, "
        f"min {min(samples):.1f} ms, max {max(samples):.1f} ms ({len(samples)} runs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per cold-start figure")
    arguments = parser.parse_args()

    for package in PACKAGES:
        zipped = package_zip(package)
        with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
            file_count = len(archive.infolist())
        print(
            f"{package} package: {len(zipped):,} bytes zipped "
            f"({len(zipped) / VIEWER_PACKAGE_LIMIT_BYTES:.1%} of the 1 MB viewer limit), "
            f"{unzipped:,} bytes unzipped, {file_count} files"
        )

    cold_starts, botocore_alone = cold_start_samples(arguments.runs)
    print(
        describe(
            "cold import of both edge handlers (botocore deferred)", [c["import_ms"] for c in cold_starts]
        )
    )
    print(describe("botocore's signing modules alone", [b["import_ms"] for b in botocore_alone]))
    print(
        describe(
            "first invocation (settings load + validation + a 401)", [c["first_call_ms"] for c in cold_starts]
        )
    )
    print(
        describe(
            "first signature (loads botocore; every keyed cold request pays it)",
            [c["first_signature_ms"] for c in cold_starts],
        )
    )


if __name__ == "__main__":
    main()
