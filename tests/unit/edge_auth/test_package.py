"""The deployed edge package stays small and standard-library-only (plus botocore).

The package is what stacks/ bundles for Lambda@Edge: ``functions/__init__.py``,
``functions/edge_auth/**`` and ``functions/shared/**`` (and the origin signer's
own package: ``functions/origin_signer/**`` with the same shared code).
Lambda@Edge takes no layers and viewer triggers allow 1 MB zipped; we hold
ourselves to 250 KB and to imports the Lambda Python runtime provides.
"""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from stacks.lambda_packages import EDGE_AUTH_PACKAGE_DIRS, ORIGIN_SIGNER_PACKAGE_DIRS

PROJECT_ROOT = Path(__file__).resolve().parents[3]
MAX_PACKAGE_ZIPPED_BYTES = 250 * 1024
# The CDK app's own lists (stacks/lambda_packages.py), plus the parent __init__ the bundler adds.
PACKAGES = {
    "edge_auth": ("functions/__init__.py", *EDGE_AUTH_PACKAGE_DIRS),
    "origin_signer": ("functions/__init__.py", *ORIGIN_SIGNER_PACKAGE_DIRS),
}
# The Lambda Python runtime ships boto3 and botocore, and botocore's own dependencies.
# certifi: botocore imports it when installed and falls back to its bundled CA file otherwise.
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "jmespath", "dateutil", "urllib3", "s3transfer", "six", "certifi"}
)
ALLOWED_DIRECT_IMPORTS = frozenset({"botocore", "boto3"})


def package_files(package: str) -> list[Path]:
    files: list[Path] = []
    for relative in PACKAGES[package]:
        path = PROJECT_ROOT / relative
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        files.extend(
            candidate
            for candidate in candidates
            if candidate.is_file() and "__pycache__" not in candidate.parts and candidate.suffix != ".pyc"
        )
    return files


def package_zip(package: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in package_files(package):
            archive.write(file, file.relative_to(PROJECT_ROOT).as_posix())
    return buffer.getvalue()


def imported_modules(source: Path, root: Path) -> set[str]:
    """Absolute module names a source file imports (relative imports resolved against its package)."""
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    package_parts = source.relative_to(root).with_suffix("").parts[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package_parts[: len(package_parts) - node.level + 1])
                names.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.add(node.module)
    return names


def forbidden_imports(files: list[Path], root: Path) -> list[str]:
    """Imports of anything but the standard library, botocore/boto3 and the package's own modules."""
    own_modules = {
        ".".join(file.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        for file in files
        if file.suffix == ".py"
    }
    offenders: list[str] = []
    for file in files:
        if file.suffix != ".py":
            continue
        for module in sorted(imported_modules(file, root)):
            top_level = module.split(".")[0]
            if top_level in sys.stdlib_module_names or top_level in ALLOWED_DIRECT_IMPORTS:
                continue
            if module in own_modules:
                continue
            offenders.append(f"{file.relative_to(root)} imports {module}")
    return offenders


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_package_is_under_250_kb_zipped(package: str) -> None:
    size = len(package_zip(package))
    print(f"{package} package: {size} bytes zipped")
    assert size < MAX_PACKAGE_ZIPPED_BYTES


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_package_imports_only_stdlib_botocore_and_itself(package: str) -> None:
    assert forbidden_imports(package_files(package), PROJECT_ROOT) == []


def test_import_check_catches_third_party_and_out_of_package_imports(tmp_path: Path) -> None:
    package = tmp_path / "functions" / "edge_auth"
    package.mkdir(parents=True)
    (tmp_path / "functions" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "ok.py").write_text("import json\nimport botocore.auth\nfrom . import helper\n")
    (package / "helper.py").write_text("from functions.edge_auth.ok import json\n")
    (package / "bad.py").write_text(
        "import pydantic\nfrom requests import get\nfrom functions.credits import handler\n"
    )
    files = sorted(path for path in tmp_path.rglob("*.py"))
    assert forbidden_imports(files, tmp_path) == [
        "functions/edge_auth/bad.py imports functions.credits",
        "functions/edge_auth/bad.py imports pydantic",
        "functions/edge_auth/bad.py imports requests",
    ]


def unzip_with_settings(directory: Path) -> None:
    """The edge_auth package unzipped into ``directory``, its settings baked as the CDK does."""
    with zipfile.ZipFile(io.BytesIO(package_zip("edge_auth"))) as archive:
        archive.extractall(directory)
    example = PROJECT_ROOT / "functions" / "edge_auth" / "config.example.json"
    (directory / "functions" / "edge_auth" / "config.json").write_text(example.read_text())


def keyless_cold_start(package_dir: Path) -> str:
    """Child source: import both handlers from ``package_dir`` and answer a key-less request."""
    return (
        "import json, sys\n"
        f"sys.path.insert(0, {str(package_dir)!r})\n"
        "import functions.edge_auth.viewer_request as viewer_request\n"
        "import functions.edge_auth.origin_response\n"
        "event = {'Records': [{'cf': {'config': {'eventType': 'viewer-request', 'requestId': 'r-1'},\n"
        "  'request': {'clientIp': '198.51.100.7', 'headers': {}, 'method': 'GET', 'querystring': '',\n"
        "  'uri': '/a'}}}]}\n"
        "answer = viewer_request.handler(event, None)\n"
    )


def test_unzipped_package_runs_alone_and_loads_only_runtime_modules(tmp_path: Path) -> None:
    """Import the handlers from the unzipped package in a fresh interpreter and invoke one.

    The baked settings file is written next to the handler as the CDK does. The
    child runs in isolated mode from the package directory, so the handlers come
    from the zip, not the repository; every third-party module it ends up
    loading must be one the Lambda runtime provides.
    """
    unzip_with_settings(tmp_path)
    child = (
        keyless_cold_start(tmp_path)
        + "print(json.dumps({'status': answer['status'], 'file': viewer_request.__file__,\n"
        "  'modules': sorted({name.split('.')[0] for name in sys.modules})}))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-I", "-c", child],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["status"] == "401"
    assert report["file"].startswith(str(tmp_path))
    third_party = {
        name
        for name in report["modules"]
        if name not in sys.stdlib_module_names and not name.startswith("_") and name != "functions"
    }
    assert third_party <= RUNTIME_PROVIDED


# What the edge's cold import leaves for later (the first keyed request) or never needs.
# A module here showing up again at import puts its cost back on every cold start;
# bench/edge_package.py measures the time.
DEFERRED_OR_UNUSED_AT_COLD_START = (
    "http.client",  # the credits transport's first connection
    "ssl",
    "socket",
    "email",
    "botocore",  # the first signature
    "dataclasses",  # and with it inspect, ast, dis, tokenize
    "inspect",
    "ast",
    "pathlib",
    "secrets",  # generating keys: the credits service's job
)


def test_cold_start_without_a_key_leaves_the_heavy_modules_unloaded(tmp_path: Path) -> None:
    """Import both handlers and answer a key-less request (a 401) in a bare interpreter.

    ``-S`` keeps site (and whatever a virtualenv's .pth files import) out, so every module
    loaded is one the package's import or its first invocation asked for.
    """
    unzip_with_settings(tmp_path)
    child = (
        keyless_cold_start(tmp_path)
        + "print(json.dumps({'status': answer['status'], 'modules': sorted(sys.modules)}))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", child],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["status"] == "401"
    loaded = {name for name in report["modules"] if name.split(".")[0] != "functions"}
    assert "functions.edge_auth.credits_client" in report["modules"]
    unexpected = sorted(
        name
        for name in loaded
        if any(name == heavy or name.startswith(heavy + ".") for heavy in DEFERRED_OR_UNUSED_AT_COLD_START)
    )
    assert unexpected == []
