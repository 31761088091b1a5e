"""Local (Docker-free) bundling: the asset layout and the hash that keys it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from stacks import bundling
from stacks.bundling import LambdaCpu, PythonAssetSpec, asset_hash, bundle_into
from stacks.main_stack import EDGE_AUTH_ASSET


def test_edge_asset_keeps_the_functions_paths(tmp_path: Path) -> None:
    bundle_into(EDGE_AUTH_ASSET, tmp_path)
    assert (tmp_path / "functions" / "__init__.py").is_file()
    assert (tmp_path / "functions" / "edge_auth" / "viewer_request.py").is_file()
    assert (tmp_path / "functions" / "edge_auth" / "origin_response.py").is_file()
    assert (tmp_path / "functions" / "shared" / "api_keys.py").is_file()
    # Only what the edge runs: no other function, no bytecode, no third-party packages.
    assert sorted(path.name for path in (tmp_path / "functions").iterdir()) == [
        "__init__.py",
        "edge_auth",
        "shared",
    ]
    assert not list(tmp_path.rglob("*.pyc"))
    assert not list(tmp_path.rglob("__pycache__"))


@pytest.fixture
def fake_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    package = tmp_path / "functions" / "demo"
    package.mkdir(parents=True)
    (tmp_path / "functions" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    (package / "requirements.txt").write_text("pydantic==2.14.3\n")
    monkeypatch.setattr(bundling, "PROJECT_ROOT", tmp_path)
    return tmp_path


DEMO_SPEC = PythonAssetSpec(package_dirs=("functions/demo",), python_version="3.12", cpu=LambdaCpu.X86_64)


def test_asset_hash_follows_every_packaged_file(fake_project: Path) -> None:
    before = asset_hash(DEMO_SPEC)
    assert asset_hash(DEMO_SPEC) == before
    (fake_project / "functions" / "demo" / "handler.py").write_text(
        "def handler(event, context):\n    return 2\n"
    )
    assert asset_hash(DEMO_SPEC) != before


def test_asset_hash_ignores_bytecode(fake_project: Path) -> None:
    before = asset_hash(DEMO_SPEC)
    cache = fake_project / "functions" / "demo" / "__pycache__"
    cache.mkdir()
    (cache / "handler.cpython-312.pyc").write_bytes(b"\0")
    assert asset_hash(DEMO_SPEC) == before


def test_asset_hash_follows_requirements_and_platform(fake_project: Path) -> None:
    with_requirements = dataclasses.replace(DEMO_SPEC, requirements_file="functions/demo/requirements.txt")
    arm = dataclasses.replace(with_requirements, cpu=LambdaCpu.ARM64)
    hashes = {asset_hash(DEMO_SPEC), asset_hash(with_requirements), asset_hash(arm)}
    assert len(hashes) == 3
    (fake_project / "functions" / "demo" / "requirements.txt").write_text("pydantic==2.14.2\n")
    assert asset_hash(with_requirements) not in hashes


def test_a_directory_without_init_is_not_packaged(fake_project: Path) -> None:
    (fake_project / "functions" / "loose").mkdir()
    with pytest.raises(FileNotFoundError, match="not a Python package"):
        asset_hash(dataclasses.replace(DEMO_SPEC, package_dirs=("functions/loose",)))


def test_cached_dependencies_are_copied_without_pip(
    fake_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = dataclasses.replace(DEMO_SPEC, requirements_file="functions/demo/requirements.txt")
    monkeypatch.setattr(bundling, "BUNDLING_CACHE_ROOT", fake_project / "cache")
    cached = fake_project / "cache" / f"site-packages-{bundling._requirements_digest(spec)[:32]}"
    (cached / "pydantic").mkdir(parents=True)
    (cached / "pydantic" / "__init__.py").write_text("VERSION = 'cached'\n")
    monkeypatch.setattr("subprocess.run", pytest.fail)  # pip must not run
    output = fake_project / "out"
    bundle_into(spec, output)
    assert (output / "pydantic" / "__init__.py").read_text() == "VERSION = 'cached'\n"
    assert (output / "functions" / "demo" / "handler.py").is_file()
