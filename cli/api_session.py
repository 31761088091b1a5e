"""What every credits-API command shares: the global options, the signed client, errors, output.

A command calls ``call_api(context, lambda client: client.something(...))`` and hands the reply to
``emit`` (tables for people, plain JSON with ``--json``). API failures become exit codes in one
place (``api_errors``; the codes are in cli/common.py).
"""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import botocore.exceptions
import botocore.session
import httpx
import typer
from rich.console import Console

from cli.client import CreditsApiClient, CreditsApiError, CreditsApiUnreachable
from cli.common import EXIT_DENIED, EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE, fail
from cli.local_runtime import LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY
from functions.shared.sigv4 import MissingCredentialsError, load_credentials, static_credentials

DEFAULT_API_URL = "http://127.0.0.1:8081"

# Piped output (logs, CI) gets room for the tables; a terminal's own width is used otherwise.
stdout = Console(width=None if sys.stdout.isatty() else 160)


@dataclass(frozen=True)
class CliOptions:
    api: str
    region: str
    profile: str | None
    json_output: bool
    timeout_seconds: float
    # None: real HTTP. Tests (and programs embedding the CLI) pass an httpx transport as the
    # context object (``CliRunner().invoke(app, args, obj=transport)``).
    transport: httpx.BaseTransport | None = None


def options_of(context: typer.Context) -> CliOptions:
    options = context.find_root().obj
    if not isinstance(options, CliOptions):
        raise RuntimeError("the edgemeter callback did not run")
    return options


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_client(context: typer.Context) -> CreditsApiClient:
    options = options_of(context)
    split = urlsplit(options.api)
    if split.scheme not in ("http", "https") or not split.hostname:
        fail(EXIT_USAGE, f"--api must be an http(s) URL, got {options.api!r}")
    if is_loopback(options.api):
        # The local runtime accepts exactly its own credentials (cli/local_runtime.py).
        credentials = static_credentials(LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY)
    else:
        try:
            credentials = load_credentials(botocore.session.Session(profile=options.profile))
        except MissingCredentialsError as error:
            fail(EXIT_DENIED, f"{error}; configure AWS credentials (aws configure, AWS_PROFILE, env vars)")
        except botocore.exceptions.ProfileNotFound as error:
            fail(EXIT_USAGE, str(error))
    return CreditsApiClient(
        base_url=options.api,
        credentials=credentials,
        region=options.region,
        timeout_seconds=options.timeout_seconds,
        transport=options.transport,
    )


@contextmanager
def api_errors(options: CliOptions) -> Iterator[None]:
    """One place that turns API failures into messages and exit codes."""
    try:
        yield
    except CreditsApiUnreachable as error:
        hint = " Is `make run` running?" if is_loopback(options.api) else " Check --api and your network."
        fail(EXIT_UNREACHABLE, f"{error}.{hint}")
    except CreditsApiError as error:
        if error.status in (401, 403):
            fail(
                EXIT_DENIED,
                f"access denied by the credits API ({error.status} {error.code}): {error.message}",
            )
        details = "".join(f"\n  {name}: {value}" for name, value in error.details.items())
        fail(EXIT_FAILED, f"{error.status} {error.code}: {error.message}{details}")


def emit(context: typer.Context, document: dict[str, Any], render: Callable[[dict[str, Any]], None]) -> None:
    if options_of(context).json_output:
        # Plain JSON, never wrapped or styled: this output is for scripts.
        print(json.dumps(document, indent=2))
    else:
        render(document)


def call_api(context: typer.Context, action: Callable[[CreditsApiClient], dict[str, Any]]) -> dict[str, Any]:
    client = api_client(context)
    with api_errors(options_of(context)):
        return action(client)
    raise AssertionError("unreachable: api_errors either returns or exits")


def short_time(value: Any) -> str:
    """``2026-11-21T20:01:02.123456Z`` -> ``2026-11-21 20:01:02`` (the API's times are UTC)."""
    text = str(value)
    return text[:19].replace("T", " ") if len(text) >= 19 else text
