"""The deployed code keeps its functions short and simple, with no exemptions.

No function in functions/ or stacks/ (methods and nested functions included) runs over
MAX_FUNCTION_LINES, counted from its ``def`` line to its last line. Complexity is ruff's
C901 (McCabe), configured in pyproject.toml for the same paths; the tests below hold that
configuration in place, so neither limit can be switched off for one file or function.
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LIMITED_PACKAGES = ("functions", "stacks")
MAX_FUNCTION_LINES = 60
MAX_COMPLEXITY = 10
# A suppression of the complexity rule, or of ruff's own size rules, on any line.
_EXEMPTION = re.compile(r"#\s*noqa\b[^#\n]*\b(C901|PLR0915|PLR0912)\b")


@dataclass(frozen=True)
class LongFunction:
    path: str
    line: int
    name: str
    lines: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.name} ({self.lines} lines)"


def long_functions(source: str, path: str, max_lines: int = MAX_FUNCTION_LINES) -> list[LongFunction]:
    """Every function of ``source`` longer than ``max_lines``, ``def`` to last line."""
    found: list[LongFunction] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
            length = node.end_lineno - node.lineno + 1
            if length > max_lines:
                found.append(LongFunction(path, node.lineno, node.name, length))
    return found


def limited_sources() -> list[Path]:
    return sorted(
        path
        for package in LIMITED_PACKAGES
        for path in (PROJECT_ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    )


def test_no_function_in_functions_or_stacks_is_longer_than_the_limit() -> None:
    offenders = [
        str(offender)
        for path in limited_sources()
        for offender in long_functions(path.read_text(encoding="utf-8"), str(path.relative_to(PROJECT_ROOT)))
    ]
    assert offenders == [], "split these along their steps:\n" + "\n".join(offenders)


def test_the_length_check_counts_from_def_to_last_line() -> None:
    statements = [f"x{index} = {index}" for index in range(MAX_FUNCTION_LINES - 1)]
    just_fits = "def fits():\n" + "".join(f"    {statement}\n" for statement in statements)
    one_over = "class Holder:\n    def over(self):\n" + "".join(
        f"        {statement}\n" for statement in [*statements, "return x0"]
    )

    assert long_functions(just_fits, "fits.py") == []
    assert long_functions(one_over, "over.py") == [LongFunction("over.py", 2, "over", MAX_FUNCTION_LINES + 1)]


def _ruff_settings() -> dict[str, object]:
    with (PROJECT_ROOT / "pyproject.toml").open("rb") as pyproject:
        ruff: dict[str, object] = tomllib.load(pyproject)["tool"]["ruff"]["lint"]
    return ruff


def test_ruff_checks_mccabe_complexity_of_functions_and_stacks() -> None:
    lint = _ruff_settings()
    per_file_ignores: dict[str, list[str]] = lint["per-file-ignores"]  # type: ignore[assignment]
    exempting_patterns = [pattern for pattern, rules in per_file_ignores.items() if "C901" in rules]

    assert "C901" in lint["select"]  # type: ignore[operator]
    assert lint["mccabe"] == {"max-complexity": MAX_COMPLEXITY}
    # The one pattern that drops C901 is the negation "everything but functions/ and stacks/".
    assert exempting_patterns == ["!{functions,stacks}/**"]
    assert "C901" not in lint.get("ignore", [])  # type: ignore[operator]


def test_no_line_in_functions_or_stacks_suppresses_the_limits() -> None:
    suppressions = [
        f"{path.relative_to(PROJECT_ROOT)}:{number}"
        for path in limited_sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if _EXEMPTION.search(line)
    ]
    assert suppressions == []
