"""Local (Docker-free) bundling of the Python Lambda assets.

Every asset keeps the repository's ``functions/...`` paths, so a handler imports
``functions.shared...`` the same way in tests, in the local runtime and in AWS.
Third-party packages (credits Lambda only) come from ``pip install --platform
<manylinux> --only-binary=:all: --python-version <runtime>`` into a cache under
``.build/``, keyed by the requirements file and the target platform, so a synth
after the first only copies files.

The asset hash is computed here from the packaged sources, the requirements
and the target platform: CDK then reuses an unchanged bundle instead of
re-bundling, and an edit to any packaged file changes the hash (and the
deployed code).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_ROOT = PROJECT_ROOT / "functions"
BUNDLING_CACHE_ROOT = PROJECT_ROOT / ".build" / "bundling-cache"

# Bumped when the bundle layout produced below changes, so old caches and asset
# hashes are not reused for a different layout.
_BUNDLE_FORMAT_VERSION = "1"
_SKIPPED_DIRECTORY_NAMES = frozenset({"__pycache__", "tests", ".pytest_cache", ".mypy_cache"})
_SKIPPED_FILE_SUFFIXES = (".pyc", ".pyo")


class LambdaCpu(StrEnum):
    """Instruction set of a Lambda function, as pip names the matching manylinux wheels."""

    X86_64 = "manylinux2014_x86_64"
    ARM64 = "manylinux2014_aarch64"


@dataclass(frozen=True)
class PythonAssetSpec:
    """What goes into one Lambda asset.

    ``package_dirs`` are repository-relative package directories copied with their
    paths (their parent packages' ``__init__.py`` files come along);
    ``requirements_file`` is pip-installed for ``python_version`` and ``cpu``.
    """

    package_dirs: tuple[str, ...]
    python_version: str
    cpu: LambdaCpu
    requirements_file: str | None = None


def _packaged_files(package_dir: Path) -> Iterator[Path]:
    for directory, subdirectories, file_names in os.walk(package_dir):
        subdirectories[:] = sorted(name for name in subdirectories if name not in _SKIPPED_DIRECTORY_NAMES)
        for file_name in sorted(file_names):
            if not file_name.endswith(_SKIPPED_FILE_SUFFIXES):
                yield Path(directory) / file_name


def _parent_package_inits(package_dir: str) -> list[Path]:
    """``functions/__init__.py`` for ``functions/credits``: makes ``functions`` importable in the asset."""
    inits: list[Path] = []
    parent = Path(package_dir).parent
    while parent != Path("."):
        init_file = PROJECT_ROOT / parent / "__init__.py"
        if init_file.is_file():
            inits.append(init_file)
        parent = parent.parent
    return inits


def _source_files(spec: PythonAssetSpec) -> list[Path]:
    files: set[Path] = set()
    for package_dir in spec.package_dirs:
        absolute_dir = PROJECT_ROOT / package_dir
        if not (absolute_dir / "__init__.py").is_file():
            raise FileNotFoundError(f"{package_dir} is not a Python package (no __init__.py)")
        files.update(_packaged_files(absolute_dir))
        files.update(_parent_package_inits(package_dir))
    return sorted(files)


def _requirements_digest(spec: PythonAssetSpec) -> str:
    digest = hashlib.sha256(f"{_BUNDLE_FORMAT_VERSION}|{spec.python_version}|{spec.cpu.value}".encode())
    if spec.requirements_file is not None:
        digest.update((PROJECT_ROOT / spec.requirements_file).read_bytes())
    return digest.hexdigest()


def asset_hash(spec: PythonAssetSpec) -> str:
    """Digest of everything that determines the bundle: sources, requirements, target platform."""
    digest = hashlib.sha256(_requirements_digest(spec).encode())
    for source_file in _source_files(spec):
        digest.update(source_file.relative_to(PROJECT_ROOT).as_posix().encode())
        digest.update(b"\0")
        digest.update(source_file.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _install_requirements(spec: PythonAssetSpec, requirements_file: str) -> Path:
    """Install the requirements once per (requirements, platform) into the cache; return that directory."""
    cached_dir = BUNDLING_CACHE_ROOT / f"site-packages-{_requirements_digest(spec)[:32]}"
    if cached_dir.is_dir():
        return cached_dir
    BUNDLING_CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    # Install into a scratch directory and rename it into place, so an interrupted
    # install never leaves a half-filled cache entry behind.
    scratch_dir = Path(tempfile.mkdtemp(prefix="pip-", dir=BUNDLING_CACHE_ROOT))
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                "--requirement",
                str(PROJECT_ROOT / requirements_file),
                "--platform",
                spec.cpu.value,
                "--implementation",
                "cp",
                "--python-version",
                spec.python_version,
                "--only-binary=:all:",
                "--target",
                str(scratch_dir),
            ],
            check=True,
        )
        scratch_dir.rename(cached_dir)
    except BaseException:
        shutil.rmtree(scratch_dir, ignore_errors=True)
        raise
    return cached_dir


def bundle_into(spec: PythonAssetSpec, output_dir: Path) -> None:
    """Write the asset's files into ``output_dir`` (dependencies first, then the packages)."""
    if spec.requirements_file is not None:
        shutil.copytree(_install_requirements(spec, spec.requirements_file), output_dir, dirs_exist_ok=True)
    for source_file in _source_files(spec):
        destination = output_dir / source_file.relative_to(PROJECT_ROOT)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source_file, destination)


@jsii.implements(ILocalBundling)
class LocalPythonBundler:
    """CDK local bundling for a ``PythonAssetSpec``; never falls back to Docker."""

    def __init__(self, spec: PythonAssetSpec) -> None:
        self._spec = spec

    # jsii passes the BundlingOptions struct positionally; the protocol declares it as keywords.
    def try_bundle(self, output_dir: str, *_options: Any, **_keyword_options: Any) -> bool:
        bundle_into(self._spec, Path(output_dir))
        # True: the bundle is complete, CDK must not try a Docker image.
        return True


def python_lambda_code(spec: PythonAssetSpec) -> lambda_.AssetCode:
    """A Lambda asset built by ``LocalPythonBundler`` and keyed by ``asset_hash``."""
    return lambda_.Code.from_asset(
        str(FUNCTIONS_ROOT),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash(spec),
        bundling=BundlingOptions(
            # Never pulled or run: local bundling always succeeds or raises.
            image=DockerImage.from_registry("local-bundling-only"),
            local=LocalPythonBundler(spec),
        ),
    )
