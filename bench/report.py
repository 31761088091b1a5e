"""The benchmark table (stdout) and its JSON record (bench/results/, git-ignored)."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True, slots=True)
class Row:
    section: str
    figure: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    verdict: str = ""  # "pass" | "FAIL" | ""


def verdict(passed: bool) -> str:
    return "pass" if passed else "FAIL"


def machine() -> dict[str, Any]:
    cpu_model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        # Other work on the machine skews every figure; the 1-minute load average says how much.
        "load_average_1m": os.getloadavg()[0],
    }


TABLE_HEADER = Row("section", "figure", "value", "baseline", "ratio", "target", "verdict")


def render_table(rows: list[Row], header: Row = TABLE_HEADER) -> str:
    columns = list(
        zip(
            *[
                (r.section, r.figure, r.value, r.baseline, r.ratio, r.target, r.verdict)
                for r in [header, *rows]
            ],
            strict=True,
        )
    )
    widths = [max(len(cell) for cell in column) for column in columns]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    rendered = [line(tuple(column[0] for column in columns))]
    rendered.append("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    rendered += [line(tuple(column[index] for column in columns)) for index in range(1, len(rows) + 1)]
    return "\n".join(rendered)


def write_results(document: dict[str, Any], results_dir: Path = RESULTS_DIR) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = results_dir / f"bench-{stamp}.json"
    text = json.dumps(document, indent=2, default=str)
    path.write_text(text)
    (results_dir / "latest.json").write_text(text)
    return path
