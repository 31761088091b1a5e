"""Local (Docker-free) bundling of the Python Lambda assets.

Every asset keeps the repository's ``functions/...`` paths, so a handler imports
``functions.shared...`` the same way in tests, in the local runtime and in AWS.
Third-party packages (credits Lambda only) come from ``pip install --platform
<manylinux> --only-binary=:all: --python-version <runtime>`` into a cache under
``.build/``, keyed by the requirements file and the target platform, so a synth
after the first only copies files.

Assets marked ``compile_bytecode`` (the Lambda@Edge packages) also ship
``__pycache__/<module>.cpython-3XX.pyc`` for every packaged module. Lambda
unpacks a package into a read-only /var/task, so without them every cold start
compiles the modules again before the first request. The bytecode is written by
an interpreter of the Lambda runtime's minor version (bytecode is specific to
it; see ``find_bytecode_compiler``) with ``UNCHECKED_HASH`` invalidation, so
the CDK's asset zip, which resets every mtime, does not invalidate it. Without
such an interpreter the asset ships sources only and the stack carries a warning.

The asset hash is computed here from the packaged sources, the requirements,
the target platform and the bytecode format: CDK then reuses an unchanged
bundle instead of re-bundling, and an edit to any packaged file changes the
hash (and the deployed code).
"""

from __future__ import annotations

import functools
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
from aws_cdk import Annotations, AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import IConstruct

from functions.shared.environment_variables import EDGEMETER_LAMBDA_PYTHON

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_ROOT = PROJECT_ROOT / "functions"
BUNDLING_CACHE_ROOT = PROJECT_ROOT / ".build" / "bundling-cache"

# Bumped when the bundle layout produced below changes, so old caches and asset
# hashes are not reused for a different layout.
_BUNDLE_FORMAT_VERSION = "1"
_SKIPPED_DIRECTORY_NAMES = frozenset({"__pycache__", "tests", ".pytest_cache", ".mypy_cache"})
_SKIPPED_FILE_SUFFIXES = (".pyc", ".pyo")

# Names the interpreter that compiles the bytecode of ``compile_bytecode`` assets, when
# neither the synthesizing interpreter nor ``python3.X`` on PATH is of the runtime's version.
BYTECODE_PYTHON_ENV = EDGEMETER_LAMBDA_PYTHON
BYTECODE_WARNING_ID = "edgemeter:edgeBytecodeMissing"
# Run by the compiling interpreter (any Python 3), in the bundle directory, with the
# bundle-relative source paths as arguments. Unchecked hash-based pycs: loaded without
# looking at the source's mtime, which the CDK's asset zip resets.
# ``dfile`` records the relative path (CPython swaps in the real one at import), so the
# bytecode does not depend on where the bundle was built.
_COMPILE_SCRIPT = """
import py_compile, sys
for source in sys.argv[1:]:
    py_compile.compile(source, dfile=source, doraise=True, optimize=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
"""
_PROBE_SCRIPT = (
    "import importlib.util, sys; print('%d.%d' % sys.version_info[:2], importlib.util.MAGIC_NUMBER.hex())"
)


class LambdaCpu(StrEnum):
    """Instruction set of a Lambda function, as pip names the matching manylinux wheels."""

    X86_64 = "manylinux2014_x86_64"
    ARM64 = "manylinux2014_aarch64"


@dataclass(frozen=True)
class PythonAssetSpec:
    """What goes into one Lambda asset.

    ``package_dirs`` are repository-relative package directories copied with their
    paths (their parent packages' ``__init__.py`` files come along);
    ``requirements_file`` is pip-installed for ``python_version`` and ``cpu``;
    ``compile_bytecode`` ships the packaged modules' bytecode for ``python_version``
    as well (when an interpreter of that version is found).
    """

    package_dirs: tuple[str, ...]
    python_version: str
    cpu: LambdaCpu
    requirements_file: str | None = None
    compile_bytecode: bool = False


class BytecodeCompilerError(RuntimeError):
    """The interpreter named by ``EDGEMETER_LAMBDA_PYTHON`` cannot compile for the Lambda runtime."""


@dataclass(frozen=True)
class BytecodeCompiler:
    """An interpreter that writes bytecode, and the format it writes.

    ``python_version`` is its ``major.minor``; ``magic_number`` (hex) identifies the
    bytecode format, which CPython changes between minor versions only.
    """

    executable: str
    python_version: str
    magic_number: str


@functools.cache
def probe_interpreter(executable: str) -> BytecodeCompiler | None:
    """The bytecode ``executable`` writes, or None when it does not run (a broken pyenv shim, say)."""
    try:
        completed = subprocess.run(
            [executable, "-I", "-c", _PROBE_SCRIPT], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    reported = completed.stdout.split()
    if completed.returncode != 0 or len(reported) != 2:
        return None
    return BytecodeCompiler(executable=executable, python_version=reported[0], magic_number=reported[1])


def find_bytecode_compiler(python_version: str) -> BytecodeCompiler | None:
    """An interpreter of ``python_version`` (``3.12``) to compile a Lambda asset's bytecode, or None.

    ``EDGEMETER_LAMBDA_PYTHON``, when set, names the interpreter (a path or a command on
    PATH) and must be of that version; otherwise the synthesizing interpreter itself and
    then ``python3.12`` on PATH are tried, each only if it runs and reports that version.
    """
    override = os.environ.get(BYTECODE_PYTHON_ENV, "").strip()
    if override:
        executable = shutil.which(override) or override
        compiler = probe_interpreter(executable)
        if compiler is None:
            raise BytecodeCompilerError(f"{BYTECODE_PYTHON_ENV}={override!r} does not run")
        if compiler.python_version != python_version:
            raise BytecodeCompilerError(
                f"{BYTECODE_PYTHON_ENV}={override!r} is Python {compiler.python_version}; "
                f"the Lambda runtime is Python {python_version}"
            )
        return compiler
    candidates = [sys.executable, shutil.which(f"python{python_version}")]
    for candidate in candidates:
        if candidate:
            compiler = probe_interpreter(candidate)
            if compiler is not None and compiler.python_version == python_version:
                return compiler
    return None


def current_interpreter_compiler() -> BytecodeCompiler:
    """This interpreter as a compiler (bench/: the bytecode the measuring interpreter loads)."""
    compiler = probe_interpreter(sys.executable)
    if compiler is None:
        raise BytecodeCompilerError(f"{sys.executable} does not run")
    return compiler


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


def asset_hash(spec: PythonAssetSpec, bytecode_compiler: BytecodeCompiler | None = None) -> str:
    """Digest of everything that determines the bundle: sources, requirements, platform, bytecode format."""
    digest = hashlib.sha256(_requirements_digest(spec).encode())
    if bytecode_compiler is not None:
        digest.update(f"bytecode|{bytecode_compiler.magic_number}|unchecked-hash\0".encode())
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


def bundle_into(
    spec: PythonAssetSpec, output_dir: Path, bytecode_compiler: BytecodeCompiler | None = None
) -> None:
    """Write the asset's files into ``output_dir`` (dependencies first, then the packages).

    With ``bytecode_compiler``, the packaged modules' bytecode (for that interpreter's
    version) goes next to them in ``__pycache__``.
    """
    if spec.requirements_file is not None:
        shutil.copytree(_install_requirements(spec, spec.requirements_file), output_dir, dirs_exist_ok=True)
    packaged: list[str] = []
    for source_file in _source_files(spec):
        relative = source_file.relative_to(PROJECT_ROOT)
        destination = output_dir / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source_file, destination)
        packaged.append(relative.as_posix())
    if bytecode_compiler is not None:
        modules = [relative for relative in packaged if relative.endswith(".py")]
        subprocess.run(
            [bytecode_compiler.executable, "-I", "-c", _COMPILE_SCRIPT, *modules],
            cwd=output_dir,
            check=True,
            timeout=300,
        )


@jsii.implements(ILocalBundling)
class LocalPythonBundler:
    """CDK local bundling for a ``PythonAssetSpec``; never falls back to Docker."""

    def __init__(self, spec: PythonAssetSpec, bytecode_compiler: BytecodeCompiler | None = None) -> None:
        self._spec = spec
        self._bytecode_compiler = bytecode_compiler

    # jsii passes the BundlingOptions struct positionally; the protocol declares it as keywords.
    def try_bundle(self, output_dir: str, *_options: Any, **_keyword_options: Any) -> bool:
        bundle_into(self._spec, Path(output_dir), self._bytecode_compiler)
        # True: the bundle is complete, CDK must not try a Docker image.
        return True


class PythonAssetCode(lambda_.AssetCode):
    """A Lambda asset from ``python_lambda_code``; says whether bytecode was wanted but not found."""

    def __init__(self, spec: PythonAssetSpec, bytecode_compiler: BytecodeCompiler | None) -> None:
        super().__init__(
            str(FUNCTIONS_ROOT),
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=asset_hash(spec, bytecode_compiler),
            bundling=BundlingOptions(
                # Never pulled or run: local bundling always succeeds or raises.
                image=DockerImage.from_registry("local-bundling-only"),
                local=LocalPythonBundler(spec, bytecode_compiler),
            ),
        )
        self.spec = spec
        self.bytecode_compiler = bytecode_compiler

    @property
    def lacks_bytecode(self) -> bool:
        return self.spec.compile_bytecode and self.bytecode_compiler is None


def python_lambda_code(spec: PythonAssetSpec) -> PythonAssetCode:
    """A Lambda asset built by ``LocalPythonBundler`` and keyed by ``asset_hash``."""
    compiler = find_bytecode_compiler(spec.python_version) if spec.compile_bytecode else None
    return PythonAssetCode(spec, compiler)


def warn_if_shipped_without_bytecode(scope: IConstruct, code: lambda_.Code) -> None:
    """A synth warning on ``scope`` when ``code`` wanted bytecode and got sources only."""
    if not isinstance(code, PythonAssetCode) or not code.lacks_bytecode:
        return
    version = code.spec.python_version
    Annotations.of(scope).add_warning_v2(
        BYTECODE_WARNING_ID,
        f"This Lambda@Edge package ships without bytecode: no Python {version} interpreter was found "
        f"to compile it (tried {BYTECODE_PYTHON_ENV}, the synthesizing interpreter and python{version} "
        "on PATH). Lambda's /var/task is read-only, so every cold start of this function compiles its "
        "modules again before answering (about 12 ms more on the bench machine; "
        "`python -m bench.edge_package` shows both figures). To fix it, set "
        f"{BYTECODE_PYTHON_ENV} to a Python {version} interpreter and synthesize again.",
    )
