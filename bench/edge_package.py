"""Edge package figures, printed (never asserted): zipped size and cold start.

``python -m bench.edge_package [--runs N]``

- Each Lambda@Edge package as stacks/ bundles it (``stacks.bundling.bundle_into`` on the
  main stack's asset specs): the sources plus their bytecode, here compiled by this
  interpreter (the deployed bytecode comes from a Python of the Lambda runtime's version;
  the format differs per version, the work it saves does not). Zipped size against the
  1 MB viewer-trigger limit, with and without the bytecode.
- Cold start in fresh isolated interpreters (``-I -B``) started in the unzipped
  edge_auth package with the baked ``config.json`` next to the handler, once with the
  bytecode and once with sources only, alternating in the same run:
  - import: both handler modules;
  - first invocation: reads and validates the settings, builds the per-container
    runtime, answers a key-less request with 401 (no network, no botocore, no http.client);
  - first keyed request: the real handler on a request with a key, the runtime built from
    the baked settings with the real credentials loader (botocore reading the environment's
    credentials, as in Lambda), the authorize call signed by botocore; the
    transport is the real one up to the socket (it imports http.client and builds the TLS
    context and the connection, as the first connection does) and answers allow from
    memory. Everything the import defers is paid here, so this is the figure to add.
  The same import with bytecode is also timed in an interpreter without site (``-S``), the
  strictest figure: nothing preloaded. Median and spread over ``--runs``; botocore's signing
  modules' own import is measured alone alongside.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("edge_auth", "origin_signer")
VIEWER_PACKAGE_LIMIT_BYTES = 1024 * 1024

_COLD_START_CHILD = """
import json, sys, time
sys.path.insert(0, {package_dir!r})
started = time.perf_counter()
import functions.edge_auth.viewer_request as viewer_request
import functions.edge_auth.origin_response
imported = time.perf_counter()

def event(headers, request_id):
    return {{"Records": [{{"cf": {{"config": {{"eventType": "viewer-request", "requestId": request_id}},
        "request": {{"clientIp": "198.51.100.7", "headers": headers, "method": "GET", "querystring": "",
        "uri": "/bench"}}}}}}]}}

answer = viewer_request.handler(event({{}}, "bench-1"), None)
invoked = time.perf_counter()
assert answer["status"] == "401", answer

from functions.edge_auth import runtime
from functions.edge_auth.credits_client import HttpCreditsTransport, TransportResponse

ALLOW = json.dumps({{"decision": "allow", "reason": None, "account_id": "acct_bench", "price": 1,
    "charged": 1, "balance": 41, "entry_id": "le_bench", "retry_after": None, "replayed": False}}).encode()

class UpToTheSocket(HttpCreditsTransport):
    # The real transport's first-connection work (http.client, TLS context, connection object),
    # then the credits API's allow from memory instead of the network exchange.
    def send(self, method, path, headers, body, deadline):
        self._new_connection(1.0)
        return TransportResponse(status=200, body=ALLOW)

settings = runtime.get_runtime().settings
runtime.configure(settings, transport=UpToTheSocket(settings.credits_api.url))
keyed_started = time.perf_counter()
key = "em_" + "k" * 43
keyed_event = event({{"x-api-key": [{{"key": "x-api-key", "value": key}}]}}, "bench-2")
answer = viewer_request.handler(keyed_event, None)
keyed = time.perf_counter()
assert "status" not in answer and "x-edgemeter-account" in answer["headers"], answer
assert {{"http.client", "ssl", "botocore.auth", "botocore.credentials"}} <= set(sys.modules)
print(json.dumps({{"import_ms": (imported - started) * 1000, "first_call_ms": (invoked - imported) * 1000,
    "first_keyed_request_ms": (keyed - keyed_started) * 1000}}))
"""

# The same import and 401 in an interpreter started with -S as well: no site, so nothing but the
# interpreter's own startup modules is loaded before the package (a venv's .pth files preload
# re, enum, pathlib, urllib.parse, ...; Lambda's bootstrap preloads json, logging, traceback, ...).
# The strictest figure; botocore is not on the path there, so no keyed request.
_BARE_IMPORT_CHILD = """
import json, sys, time
sys.path.insert(0, {package_dir!r})
started = time.perf_counter()
import functions.edge_auth.viewer_request as viewer_request
import functions.edge_auth.origin_response
imported = time.perf_counter()
event = {{"Records": [{{"cf": {{"config": {{"eventType": "viewer-request", "requestId": "bench-1"}},
    "request": {{"clientIp": "198.51.100.7", "headers": {{}}, "method": "GET", "querystring": "",
    "uri": "/bench"}}}}}}]}}
assert viewer_request.handler(event, None)["status"] == "401"
print(json.dumps({{"import_ms": (imported - started) * 1000}}))
"""

_BOTOCORE_CHILD = """
import json, time
started = time.perf_counter()
import botocore.auth, botocore.awsrequest, botocore.config, botocore.credentials
print(json.dumps({"import_ms": (time.perf_counter() - started) * 1000}))
"""

# The child's botocore finds these first, as Lambda's own environment credentials.
_CHILD_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "AKIDBENCH",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_SESSION_TOKEN": "bench-session-token",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def bundle_package(package: str, output_dir: Path, *, bytecode: bool) -> None:
    """The package exactly as stacks/ bundles it; with bytecode compiled by this interpreter."""
    # Imported here: stacks/ loads the CDK, which only this step needs.
    from stacks.bundling import bundle_into, current_interpreter_compiler  # noqa: PLC0415
    from stacks.main_stack import EDGE_AUTH_ASSET, ORIGIN_SIGNER_ASSET  # noqa: PLC0415

    spec = {"edge_auth": EDGE_AUTH_ASSET, "origin_signer": ORIGIN_SIGNER_ASSET}[package]
    bundle_into(spec, output_dir, current_interpreter_compiler() if bytecode else None)


def zip_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(directory.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(directory).as_posix())
    return buffer.getvalue()


def package_zip(package: str, *, bytecode: bool = True) -> bytes:
    """The package's deployment zip (bytecode included unless ``bytecode=False``)."""
    with tempfile.TemporaryDirectory(prefix="edge-bundle-") as scratch:
        bundle_package(package, Path(scratch), bytecode=bytecode)
        return zip_directory(Path(scratch))


@contextmanager
def unzipped_edge_auth(*, bytecode: bool) -> Iterator[Path]:
    """The edge_auth zip unpacked into a fresh directory (new mtimes, as in Lambda) with its settings."""
    with tempfile.TemporaryDirectory(prefix="edge-package-") as scratch:
        package_dir = Path(scratch)
        with zipfile.ZipFile(io.BytesIO(package_zip("edge_auth", bytecode=bytecode))) as archive:
            archive.extractall(package_dir)
        example_settings = PROJECT_ROOT / "functions" / "edge_auth" / "config.example.json"
        (package_dir / "functions" / "edge_auth" / "config.json").write_text(example_settings.read_text())
        yield package_dir


def run_child(source: str, cwd: Path, *, without_site: bool = False) -> dict[str, float]:
    flags = ["-I", "-S", "-B"] if without_site else ["-I", "-B"]
    completed = subprocess.run(
        [sys.executable, *flags, "-c", source],
        cwd=cwd,
        env={**os.environ, **_CHILD_ENVIRONMENT},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"cold-start child failed:\n{completed.stderr}")
    figures: dict[str, float] = json.loads(completed.stdout)
    return figures


@dataclass(frozen=True)
class ColdStartSamples:
    """Per-run figures of the cold-start children (``import_ms``, ``first_call_ms``, ...)."""

    with_bytecode: list[dict[str, float]] = field(default_factory=list)
    sources_only: list[dict[str, float]] = field(default_factory=list)
    # With bytecode, in an interpreter without site (``-S``): import only.
    bare_with_bytecode: list[dict[str, float]] = field(default_factory=list)
    botocore_alone: list[dict[str, float]] = field(default_factory=list)


def cold_start_samples(runs: int) -> ColdStartSamples:
    """``runs`` fresh interpreters per figure in the unzipped edge_auth package, with and without bytecode.

    The packages' runs alternate, so every figure sees the same machine load.
    """
    with unzipped_edge_auth(bytecode=True) as compiled_dir, unzipped_edge_auth(bytecode=False) as source_dir:
        compiled_child = _COLD_START_CHILD.format(package_dir=str(compiled_dir))
        source_child = _COLD_START_CHILD.format(package_dir=str(source_dir))
        bare_child = _BARE_IMPORT_CHILD.format(package_dir=str(compiled_dir))
        samples = ColdStartSamples(
            with_bytecode=[], sources_only=[], bare_with_bytecode=[], botocore_alone=[]
        )
        for _ in range(runs):
            samples.with_bytecode.append(run_child(compiled_child, compiled_dir))
            samples.sources_only.append(run_child(source_child, source_dir))
            samples.bare_with_bytecode.append(run_child(bare_child, compiled_dir, without_site=True))
        samples.botocore_alone.extend(run_child(_BOTOCORE_CHILD, compiled_dir) for _ in range(runs))
    return samples


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
        sources_zipped = package_zip(package, bytecode=False)
        with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
            file_count = len(archive.infolist())
        print(
            f"{package} package: {len(zipped):,} bytes zipped "
            f"({len(zipped) / VIEWER_PACKAGE_LIMIT_BYTES:.1%} of the 1 MB viewer limit), "
            f"{unzipped:,} bytes unzipped, {file_count} files "
            f"(sources only: {len(sources_zipped):,} bytes zipped)"
        )

    samples = cold_start_samples(arguments.runs)
    figures = [
        ("cold import of both edge handlers, bundled with bytecode", samples.with_bytecode, "import_ms"),
        (
            "cold import of both edge handlers, sources only (compiled at import)",
            samples.sources_only,
            "import_ms",
        ),
        (
            "cold import with bytecode, bare interpreter (-S: nothing preloaded)",
            samples.bare_with_bytecode,
            "import_ms",
        ),
        ("first invocation (settings load + validation + a 401)", samples.with_bytecode, "first_call_ms"),
        (
            "first keyed request (loads http.client, ssl, botocore; credentials, signing, TLS context)",
            samples.with_bytecode,
            "first_keyed_request_ms",
        ),
        ("botocore's signing modules alone", samples.botocore_alone, "import_ms"),
    ]
    for label, runs, figure in figures:
        print(describe(label, [run[figure] for run in runs]))


if __name__ == "__main__":
    main()
