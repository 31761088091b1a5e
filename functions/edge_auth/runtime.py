"""Per-container state of the edge functions, and how it gets configured.

A Lambda@Edge container serves one invocation at a time for minutes, so state
kept here outlives a request: the credits API connection, signing credentials
and the negative caches. Nothing is built at import time; the first invocation
builds the runtime from the baked settings file, unless the local runtime (or a
test) called ``configure`` first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from functions.edge_auth.credits_client import Clock, CreditsClient, CreditsTransport, HttpCreditsTransport
from functions.edge_auth.settings import EdgeSettings, load_settings_file
from functions.shared.json_log import log_json
from functions.shared.sigv4 import load_credentials
from functions.shared.ttl_cache import TtlCache

if TYPE_CHECKING:
    from botocore.credentials import ReadOnlyCredentials

logger = logging.getLogger("edgemeter.edge")


class KeyDenial(NamedTuple):
    """A cached key-level denial (unknown, revoked or expired key; suspended account)."""

    reason: str


class EmptyAccount(NamedTuple):
    """A cached 'account has no credits' answer, for the 402 it produced."""

    account_id: str | None
    balance: int
    price: int


class EdgeRuntime:
    """One container's state. A plain slotted class: dataclasses would cost the cold start its import."""

    __slots__ = ("clock", "credits", "empty_accounts", "key_denials", "settings")

    def __init__(
        self,
        *,
        settings: EdgeSettings,
        credits: CreditsClient,
        key_denials: TtlCache[KeyDenial],
        empty_accounts: TtlCache[EmptyAccount],
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.credits = credits
        # Keyed by the key's SHA-256 digest (empty accounts: digest plus a digest of the request's
        # method, size and path), never by the key.
        self.key_denials = key_denials
        self.empty_accounts = empty_accounts
        self.clock = clock


_current_runtime: EdgeRuntime | None = None


def configure(
    settings: EdgeSettings,
    *,
    transport: CreditsTransport | None = None,
    credentials_loader: Callable[[], ReadOnlyCredentials] = load_credentials,
    clock: Clock = time.monotonic,
) -> EdgeRuntime:
    """Install the runtime the handlers use from now on (local runtime, tests).

    ``transport`` defaults to a keep-alive HTTP connection to ``settings.credits_api.url``.
    """
    global _current_runtime  # noqa: PLW0603 - per-container state is module state by design
    http_transport = HttpCreditsTransport(settings.credits_api.url, clock)
    credits = CreditsClient(
        transport=transport if transport is not None else http_transport,
        url_for=http_transport.url_for,
        region=settings.credits_api.region,
        service=settings.credits_api.service,
        clock=clock,
        credentials_loader=credentials_loader,
    )
    _current_runtime = EdgeRuntime(
        settings=settings,
        credits=credits,
        key_denials=TtlCache(settings.cache.max_entries, settings.cache.unknown_key_ttl_seconds, clock),
        empty_accounts=TtlCache(settings.cache.max_entries, settings.cache.empty_account_ttl_seconds, clock),
        clock=clock,
    )
    return _current_runtime


def get_runtime() -> EdgeRuntime:
    """The configured runtime; on a container's first call, built from the baked settings file."""
    if _current_runtime is None:
        return configure(load_settings_file())
    return _current_runtime


def reset_runtime() -> None:
    """Forget the runtime (the next invocation configures from the baked file again)."""
    global _current_runtime  # noqa: PLW0603 - see configure
    _current_runtime = None


def log_event(level: int, event_name: str, **fields: Any) -> None:
    """One JSON log line. Callers pass digests' absence by construction: never a key."""
    log_json(logger, level, event_name, **fields)


def exception_location(exc: BaseException) -> str:
    """``ExcType at file.py:line`` without the message (which might echo request data)."""
    traceback = exc.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    where = ""
    if traceback is not None:
        code = traceback.tb_frame.f_code
        where = f" at {code.co_filename.rsplit('/', 1)[-1]}:{traceback.tb_lineno}"
    return f"{type(exc).__name__}{where}"
