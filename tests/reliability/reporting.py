"""Counts the reliability tests report (requests, faults injected, refunds, ...).

Lines are printed where they happen (visible with ``-s``) and collected for the terminal
summary (tests/reliability/conftest.py), so ``make test`` and ``make soak`` show them even
though pytest captures the tests' output.
"""

from __future__ import annotations

REPORTED_LINES: list[str] = []


def report_line(line: str) -> None:
    REPORTED_LINES.append(line)
    print(line)
