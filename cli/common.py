"""What every `edgemeter` command shares: exit codes, how a failure is reported, the AWS region.

Exit codes: 0 success, 1 the API or the operation refused or failed the request, 2 bad usage,
3 the API (or the bucket, or the table) could not be reached, 4 access denied (a rejected
signature or credentials).
"""

from __future__ import annotations

import os
from typing import NoReturn

import typer
from rich.console import Console

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_DENIED = 4
# Used when neither an option nor the environment names a region (botocore's own default is none).
FALLBACK_AWS_REGION = "us-east-1"

stderr = Console(stderr=True, soft_wrap=True)


def fail(code: int, message: str) -> NoReturn:
    """Print ``message`` as an error on stderr and end the command with exit code ``code``."""
    stderr.print(f"[bold red]error:[/] {message}", highlight=False)
    # The message says what went wrong; the exception being handled, if any, adds nothing.
    raise typer.Exit(code) from None


def aws_region(explicit: str | None) -> str:
    """The region an option named, else the environment's (as the AWS CLI reads it), else us-east-1."""
    environment_region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return explicit or environment_region or FALLBACK_AWS_REGION
