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
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from functions.edge_auth.credits_client import Clock, CreditsClient, CreditsTransport, HttpCreditsTransport
from functions.edge_auth.regional import EdgeRegionSource, RegionalCreditsClient, lambda_edge_region
from functions.edge_auth.settings import CreditsApiSettings, EdgeSettings, load_settings_file
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
        credits: CreditsClient | RegionalCreditsClient,
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
    regional_transports: Mapping[str, CreditsTransport] | None = None,
    edge_region: EdgeRegionSource = lambda_edge_region,
) -> EdgeRuntime:
    """Install the runtime the handlers use from now on (local runtime, tests).

    ``transport`` defaults to a keep-alive HTTP connection to ``settings.credits_api.url``. With
    regional credits (issue 15), ``regional_transports`` (credits region -> transport) replace the
    other regions' HTTP connections, and ``edge_region`` says where a request is served from.
    """
    global _current_runtime  # noqa: PLW0603 - per-container state is module state by design
    home = _credits_client(settings.credits_api, transport, credentials_loader, clock)
    credits: CreditsClient | RegionalCreditsClient = home
    if settings.regional_credits.apis:
        clients = {settings.credits_api.region: home}
        for api in settings.regional_credits.apis:
            regional_transport = (regional_transports or {}).get(api.region)
            clients[api.region] = _credits_client(api, regional_transport, credentials_loader, clock)
        credits = RegionalCreditsClient(
            clients=clients,
            order=dict(settings.regional_credits.order),
            home_region=settings.credits_api.region,
            clock=clock,
            edge_region=edge_region,
        )
    _current_runtime = EdgeRuntime(
        settings=settings,
        credits=credits,
        key_denials=TtlCache(settings.cache.max_entries, settings.cache.unknown_key_ttl_seconds, clock),
        empty_accounts=TtlCache(settings.cache.max_entries, settings.cache.empty_account_ttl_seconds, clock),
        clock=clock,
    )
    return _current_runtime


def _credits_client(
    api: CreditsApiSettings,
    transport: CreditsTransport | None,
    credentials_loader: Callable[[], ReadOnlyCredentials],
    clock: Clock,
) -> CreditsClient:
    """A client of one credits API: its own keep-alive connection unless a transport is given."""
    http_transport = HttpCreditsTransport(api.url, clock)
    return CreditsClient(
        transport=transport if transport is not None else http_transport,
        url_for=http_transport.url_for,
        region=api.region,
        service=api.service,
        clock=clock,
        credentials_loader=credentials_loader,
    )


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
