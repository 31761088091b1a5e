"""Bytecode in the Lambda@Edge packages: compiled by a matching interpreter, or a synth warning.

The bytecode tests compile with this test run's own interpreter standing in for the
Lambda runtime's (the format is per minor version; which interpreter is picked is
``find_bytecode_compiler``'s job, tested on its own).
"""

from __future__ import annotations

import dataclasses
import io
import marshal
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from aws_cdk import App, Duration, Environment, Stack
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Annotations, Match

from bench.edge_package import zip_directory
from stacks import bundling
from stacks.bundling import (
    BYTECODE_PYTHON_ENV,
    BytecodeCompiler,
    BytecodeCompilerError,
    LambdaCpu,
    PythonAssetSpec,
    asset_hash,
    bundle_into,
    current_interpreter_compiler,
    find_bytecode_compiler,
    python_lambda_code,
)
from stacks.constructs.edge_functions import BakedEdgeFunction, EdgeSettingsWriter
from stacks.main_stack import EDGE_AUTH_ASSET, ORIGIN_SIGNER_ASSET

THIS_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
CACHE_TAG = sys.implementation.cache_tag
DEMO_SPEC = PythonAssetSpec(
    package_dirs=("functions/demo",), python_version=THIS_PYTHON, cpu=LambdaCpu.X86_64, compile_bytecode=True
)
# PEP 552: the pyc header's flags word; bit 0 = hash-based, bit 1 = check the source.
UNCHECKED_HASH_FLAGS = 0b01


@pytest.fixture(autouse=True)
def no_interpreter_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BYTECODE_PYTHON_ENV, raising=False)


@pytest.fixture
def fake_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = tmp_path / "project"
    package = project / "functions" / "demo"
    package.mkdir(parents=True)
    (project / "functions" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    (package / "config.example.json").write_text("{}")
    monkeypatch.setattr(bundling, "PROJECT_ROOT", project)
    return project


def pyc_header_flags(pyc: Path) -> int:
    return int.from_bytes(pyc.read_bytes()[4:8], "little")


def extract_zipped(directory: Path, destination: Path) -> Path:
    """Zip ``directory`` and unzip it elsewhere: every file gets a new mtime, as in Lambda."""
    with zipfile.ZipFile(io.BytesIO(zip_directory(directory))) as archive:
        archive.extractall(destination)
    return destination


def test_every_packaged_module_gets_unchecked_hash_bytecode(fake_project: Path, tmp_path: Path) -> None:
    output = tmp_path / "bundle"
    bundle_into(DEMO_SPEC, output, current_interpreter_compiler())
    modules = sorted(path.relative_to(output) for path in output.rglob("*.py"))
    compiled = sorted(path.relative_to(output) for path in output.rglob("*.pyc"))
    assert compiled == sorted(
        module.parent / "__pycache__" / f"{module.stem}.{CACHE_TAG}.pyc" for module in modules
    )
    assert len(compiled) == 3
    for pyc in output.rglob("*.pyc"):
        assert pyc_header_flags(pyc) == UNCHECKED_HASH_FLAGS, pyc
    # The recorded file name is the package-relative one, not the directory it was built in.
    handler_pyc = output / "functions" / "demo" / "__pycache__" / f"handler.{CACHE_TAG}.pyc"
    handler_code = marshal.loads(handler_pyc.read_bytes()[16:])  # noqa: S302 - bytecode this test compiled
    assert handler_code.co_filename == "functions/demo/handler.py"


def test_the_bytecode_is_what_runs_after_a_zip_round_trip(fake_project: Path, tmp_path: Path) -> None:
    bundle_into(DEMO_SPEC, tmp_path / "bundle", current_interpreter_compiler())
    package = extract_zipped(tmp_path / "bundle", tmp_path / "task")
    # Changing the source after the build proves the import ran the shipped bytecode and did
    # not check the source against it (new mtimes from the unzip must not invalidate it).
    (package / "functions" / "demo" / "handler.py").write_text("def handler(event, context):\n    return 2\n")
    child = (
        f"import sys; sys.path.insert(0, {str(package)!r})\n"
        "from functions.demo.handler import handler\n"
        "print(handler(None, None))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-I", "-B", "-c", child], capture_output=True, text=True, timeout=60, check=True
    )
    assert completed.stdout.strip() == "1"


def test_without_a_compiler_the_bundle_is_sources_only(fake_project: Path, tmp_path: Path) -> None:
    bundle_into(DEMO_SPEC, tmp_path / "bundle")
    assert (tmp_path / "bundle" / "functions" / "demo" / "handler.py").is_file()
    assert not list((tmp_path / "bundle").rglob("__pycache__"))


def test_the_bytecode_format_is_part_of_the_asset_hash(fake_project: Path) -> None:
    compiler = current_interpreter_compiler()
    other_format = dataclasses.replace(compiler, magic_number="00000000")
    hashes = {asset_hash(DEMO_SPEC), asset_hash(DEMO_SPEC, compiler), asset_hash(DEMO_SPEC, other_format)}
    assert len(hashes) == 3


def test_the_edge_packages_ask_for_bytecode() -> None:
    assert EDGE_AUTH_ASSET.compile_bytecode
    assert ORIGIN_SIGNER_ASSET.compile_bytecode


@pytest.mark.parametrize("spec", [EDGE_AUTH_ASSET, ORIGIN_SIGNER_ASSET], ids=["edge_auth", "origin_signer"])
def test_edge_packages_with_bytecode_stay_under_250_kb_zipped(spec: PythonAssetSpec, tmp_path: Path) -> None:
    # The limit tests/unit/edge_auth/test_package.py holds the sources to, now with their bytecode.
    bundle_into(spec, tmp_path / "bundle", current_interpreter_compiler())
    assert list((tmp_path / "bundle").rglob("*.pyc"))
    assert len(zip_directory(tmp_path / "bundle")) < 250 * 1024


def test_an_interpreter_named_by_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BYTECODE_PYTHON_ENV, sys.executable)
    compiler = find_bytecode_compiler(THIS_PYTHON)
    assert compiler is not None
    assert compiler.executable == sys.executable
    assert compiler.python_version == THIS_PYTHON
    assert compiler.magic_number == current_interpreter_compiler().magic_number


def test_a_named_interpreter_of_another_version_fails_the_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BYTECODE_PYTHON_ENV, sys.executable)
    with pytest.raises(
        BytecodeCompilerError, match=f"is Python {THIS_PYTHON}; the Lambda runtime is Python 3.99"
    ):
        find_bytecode_compiler("3.99")


def test_a_named_interpreter_that_does_not_run_fails_the_synth(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(BYTECODE_PYTHON_ENV, str(tmp_path / "no-such-python"))
    with pytest.raises(BytecodeCompilerError, match="does not run"):
        find_bytecode_compiler(THIS_PYTHON)


def fake_interpreter(directory: Path, name: str, script: str) -> None:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def test_python3_x_on_path_is_found_when_it_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Stands in for an interpreter of another version than the synthesizing one.
    fake_interpreter(tmp_path / "bin", "python3.98", "echo 3.98 0a0d0d0a")
    monkeypatch.setenv("PATH", str(tmp_path / "bin") + os.pathsep + os.environ["PATH"])
    assert find_bytecode_compiler("3.98") == BytecodeCompiler(
        executable=str(tmp_path / "bin" / "python3.98"), python_version="3.98", magic_number="0a0d0d0a"
    )


def test_a_broken_python3_x_on_path_is_no_compiler(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Like a pyenv shim for a version pyenv has not selected: on PATH, but exits with an error.
    fake_interpreter(
        tmp_path / "bin", "python3.97", "echo 'pyenv: python3.97: command not found' >&2; exit 127"
    )
    monkeypatch.setenv("PATH", str(tmp_path / "bin") + os.pathsep + os.environ["PATH"])
    assert find_bytecode_compiler("3.97") is None


def synthesize_viewer_function(outdir: Path) -> tuple[Stack, Path]:
    """The edge_auth package as the main stack builds it, in a minimal app; returns the edge stack."""
    app = App(outdir=str(outdir))
    edge_stack = Stack(app, "Edge", env=Environment(region="us-east-1"))
    main_stack = Stack(app, "Main", env=Environment(region="eu-west-1"))
    writer = EdgeSettingsWriter(main_stack, "SettingsWriter", log_retention=logs.RetentionDays.ONE_WEEK)
    BakedEdgeFunction(
        main_stack,
        "ViewerRequest",
        edge_stack=edge_stack,
        code=python_lambda_code(EDGE_AUTH_ASSET),
        handler="functions.edge_auth.viewer_request.handler",
        description="viewer-request",
        memory_size=128,
        timeout=Duration.seconds(5),
        settings_file_name="functions/edge_auth/config.json",
        settings_document={"credits_api": {"url": "https://example.com", "region": "eu-west-1"}},
        settings_writer=writer,
        role_name="edgemeter-test-viewer-request",
    )
    app.synth()
    return edge_stack, outdir


def asset_bytecode(outdir: Path) -> list[Path]:
    return sorted(outdir.glob("asset.*/functions/edge_auth/__pycache__/*.pyc"))


def test_synth_without_a_matching_interpreter_ships_sources_and_warns(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(bundling, "find_bytecode_compiler", lambda _version: None)
    edge_stack, outdir = synthesize_viewer_function(tmp_path / "cdk.out")
    assert list(outdir.glob("asset.*/functions/edge_auth/viewer_request.py"))
    assert asset_bytecode(outdir) == []
    warnings = Annotations.from_stack(edge_stack).find_warning(
        "*", Match.string_like_regexp("ships without bytecode")
    )
    assert len(warnings) == 1
    message = str(warnings[0].entry.data)
    assert "every cold start" in message
    assert f"set {BYTECODE_PYTHON_ENV}" in message


def test_synth_with_a_matching_interpreter_ships_bytecode_without_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    compiler = current_interpreter_compiler()
    monkeypatch.setattr(bundling, "find_bytecode_compiler", lambda _version: compiler)
    edge_stack, outdir = synthesize_viewer_function(tmp_path / "cdk.out")
    compiled = asset_bytecode(outdir)
    assert {pyc.name for pyc in compiled} >= {
        f"viewer_request.{CACHE_TAG}.pyc",
        f"origin_response.{CACHE_TAG}.pyc",
        f"settings.{CACHE_TAG}.pyc",
    }
    assert all(pyc_header_flags(pyc) == UNCHECKED_HASH_FLAGS for pyc in compiled)
    assert Annotations.from_stack(edge_stack).find_warning("*", Match.string_like_regexp("bytecode")) == []
