"""The edge's client for the credits API: ``POST /v1/authorize`` and ``POST /v1/refunds``.

Contract (docs/decisions.md, "Edge <-> credits contract"): authorize answers 200
for every decision; anything else, a timeout or a refused connection is a
failure, reported as a ``CreditsUnavailableError`` so the caller answers 503 and
never allows; its subclass says whether the request may have reached the service
(``RequestMaybeSentError``: void a possible charge) or not (``RequestNotSentError``).

Layers:
- ``CreditsTransport`` is the seam: one HTTP exchange under a deadline. The
  production ``HttpCreditsTransport`` keeps one keep-alive connection per
  container; tests plug in an in-process fake of the credits API.
- ``CreditsClient`` builds and signs requests (SigV4 via functions.shared.sigv4)
  and validates replies into typed results.

http.client (with ssl, socket and the email parser it pulls in: ~20 ms of the
edge's cold import while it was imported here) is imported when the transport
first connects, as botocore is at the first signature: the container's first
keyed request pays both, the paths that never call the credits API (no key, a
malformed key, a negative-cache hit) pay neither. AWS's own Lambda runtime
client defers http.client the same way.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, TypeGuard
from urllib.parse import urlsplit

from functions.shared.errors import DENIAL_STATUS
from functions.shared.sigv4 import load_credentials, sign_request

if TYPE_CHECKING:
    import http.client
    import ssl

    from botocore.credentials import ReadOnlyCredentials

AUTHORIZE_PATH = "/v1/authorize"
REFUNDS_PATH = "/v1/refunds"
# Replies are small JSON documents; a bigger body means something is wrong upstream.
MAX_REPLY_BYTES = 64 * 1024
# Idle kept-alive connections kept per container (one suffices in Lambda; more serve threads).
_MAX_IDLE_CONNECTIONS = 4

DECISIONS = frozenset({"allow", "deny"})
# The reasons this edge understands: exactly those it can map to a viewer status.
DENY_REASONS: frozenset[str] = frozenset(str(reason) for reason in DENIAL_STATUS)

_ACCOUNT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")

Clock = Callable[[], float]


class CreditsUnavailableError(Exception):
    """The credits API did not give a usable answer in time (the edge answers 503).

    The base of a small hierarchy modelled on httpx's ``_exceptions.py``: what matters to
    the caller is whether the request can have reached the service (and charged), which is
    the *type*, never the cause string. ``cause`` is a short label for logs only.

    - ``RequestNotSentError``: nothing left the edge (signing failed, connection refused or
      not established, no budget left to send): nothing can have been charged.
      ``SigningError``, ``ConnectError``, ``ConnectTimeoutError``.
    - ``RequestMaybeSentError``: the request may have been received and a charge committed.
      ``ReadTimeoutError``, ``ConnectionLostError``, ``UnexpectedStatusError``, ``BadReplyError``.

    A bare ``CreditsUnavailableError`` (a test double, an unexpected path) counts as maybe sent.
    """

    default_cause = "unavailable"

    def __init__(self, cause: str | None = None) -> None:
        label = cause or self.default_cause
        super().__init__(label)
        self.cause = label


class RequestNotSentError(CreditsUnavailableError):
    """The request never left the edge: the service cannot have charged it."""

    default_cause = "not_sent"


class SigningError(RequestNotSentError):
    default_cause = "signing_failed"


class ConnectError(RequestNotSentError):
    default_cause = "connect_failed"


class ConnectTimeoutError(RequestNotSentError):
    default_cause = "connect_timeout"


class RequestMaybeSentError(CreditsUnavailableError):
    """The request may have reached the service: a charge may stand and must be voided."""

    default_cause = "maybe_sent"


class ReadTimeoutError(RequestMaybeSentError):
    default_cause = "timeout"


class ConnectionLostError(RequestMaybeSentError):
    default_cause = "connection_reset"


class UnexpectedStatusError(RequestMaybeSentError):
    """A complete reply with a status the contract does not allow here."""

    def __init__(self, status: int) -> None:
        super().__init__(f"status_{status}")
        self.status = status


class BadReplyError(RequestMaybeSentError):
    default_cause = "bad_reply"


class TransportResponse(NamedTuple):
    status: int
    body: bytes


class CreditsTransport(Protocol):
    """One HTTP exchange with the credits API, finished before ``deadline`` (a ``clock()`` value).

    Raises a ``CreditsUnavailableError`` subclass for anything that is not a complete HTTP reply.
    """

    def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, deadline: float
    ) -> TransportResponse: ...


class AuthorizeDecision(NamedTuple):
    """A validated ``POST /v1/authorize`` reply."""

    decision: str
    reason: str | None
    account_id: str | None
    price: int
    charged: int
    balance: int | None
    entry_id: str | None
    retry_after: int | None
    replayed: bool
    # The object's size, when the service knows it (a 416 states it as ``bytes */<size>``).
    object_size: int | None = None

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"


class Credential(NamedTuple):
    """What the viewer presented, as the authorize body names it: a key's or a link token's digest."""

    field: Literal["key_digest", "link_token_digest"]
    digest: str


class Authorization(NamedTuple):
    """One ``POST /v1/authorize`` request, as the edge builds it."""

    credential: Credential
    request_id: str
    method: str
    path: str
    upload_bytes: int
    # The raw ``Range`` header of a GET; the service prices the bytes it will serve.
    range_header: str | None = None
    # Regional credits (issue 15): the region an earlier attempt of this request may have charged
    # and could not be voided in; the answering region records a void notice for it.
    retry_of_region: str | None = None


class RefundOutcome(NamedTuple):
    """What ``POST /v1/refunds`` said: refunded (now or before), or no charge to refund."""

    refunded: int
    found: bool
    replayed: bool
    # The refunded 403 was an archived object whose restore is now running: seconds to wait.
    restore_retry_after: int | None = None


class HttpCreditsTransport:
    """http.client with kept-alive connections reused across invocations, under a hard deadline.

    Every socket operation gets the remaining budget as its timeout, and a watchdog
    shuts the socket down at the deadline, so a server that trickles bytes cannot
    hold the viewer past the budget. A reused connection that turns out to be
    stale (closed by the server between invocations) is replaced and the request
    sent once more; both endpoints are idempotent by request id.

    A Lambda container runs one invocation at a time, so normally one connection
    is reused for ever; callers that share the runtime across threads (the local
    runtime, tests) each check out their own connection from a small idle pool.
    """

    def __init__(self, base_url: str, clock: Clock = time.monotonic) -> None:
        split_url = urlsplit(base_url)
        if split_url.scheme not in ("http", "https") or not split_url.hostname:
            raise ValueError("credits API base URL must be an absolute http(s) URL")
        self._scheme = split_url.scheme
        self._host = split_url.hostname
        self._port = split_url.port
        self._base_path = split_url.path.rstrip("/")
        self._clock = clock
        self._idle_connections: list[http.client.HTTPConnection] = []
        self._pool_lock = threading.Lock()
        self._tls_context: ssl.SSLContext | None = None

    def url_for(self, path: str) -> str:
        """The absolute URL of ``path`` (what gets signed)."""
        port = f":{self._port}" if self._port is not None else ""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{self._scheme}://{host}{port}{self._base_path}{path}"

    def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, deadline: float
    ) -> TransportResponse:
        outgoing = _OutgoingRequest(method=method, path=path, headers=dict(headers), body=body)
        reused_connection = self._checkout()
        try:
            return self._exchange(reused_connection, outgoing, deadline)
        except _StaleConnectionError:
            if reused_connection is None:
                raise ConnectionLostError("connection_closed") from None
        # The kept-alive connection had been closed by the server: one fresh attempt.
        try:
            return self._exchange(None, outgoing, deadline)
        except _StaleConnectionError:
            raise ConnectionLostError("connection_closed") from None

    def close(self) -> None:
        """Close every idle connection (in-flight ones close when their exchange ends)."""
        with self._pool_lock:
            idle, self._idle_connections = self._idle_connections, []
        for connection in idle:
            connection.close()

    def _checkout(self) -> http.client.HTTPConnection | None:
        with self._pool_lock:
            return self._idle_connections.pop() if self._idle_connections else None

    def _checkin(self, connection: http.client.HTTPConnection) -> None:
        with self._pool_lock:
            if len(self._idle_connections) < _MAX_IDLE_CONNECTIONS:
                self._idle_connections.append(connection)
                return
        connection.close()

    def _exchange(
        self,
        reused_connection: http.client.HTTPConnection | None,
        outgoing: _OutgoingRequest,
        deadline: float,
    ) -> TransportResponse:
        """One request/response; the connection goes back to the pool only after a clean reply."""
        connection = self._ready_connection(reused_connection, deadline)
        watchdog = _DeadlineWatchdog(connection, max(deadline - self._clock(), 0.0))
        try:
            response, reply_body = self._round_trip(
                connection, outgoing, deadline, watchdog, reused=reused_connection is not None
            )
        finally:
            watchdog.cancel()
        if watchdog.fired:
            # The shutdown can look like a clean end of a truncated reply; never trust it.
            connection.close()
            raise ReadTimeoutError("timeout")
        if len(reply_body) > MAX_REPLY_BYTES:
            connection.close()
            raise BadReplyError("reply_too_large")
        if response.will_close:
            connection.close()
        else:
            self._checkin(connection)
        return TransportResponse(status=response.status, body=reply_body)

    def _ready_connection(
        self, reused_connection: http.client.HTTPConnection | None, deadline: float
    ) -> http.client.HTTPConnection:
        """A connected connection with the remaining budget as its timeout; nothing is sent yet."""
        remaining = deadline - self._clock()
        if remaining <= 0:
            if reused_connection is not None:
                self._checkin(reused_connection)
            raise ConnectTimeoutError("timeout")
        if reused_connection is not None:
            if reused_connection.sock is not None:
                reused_connection.sock.settimeout(remaining)
            return reused_connection
        connection = self._new_connection(remaining)
        try:
            connection.connect()
        except TimeoutError:
            connection.close()
            raise ConnectTimeoutError("timeout") from None
        except ConnectionRefusedError:
            connection.close()
            raise ConnectError("refused") from None
        except OSError:  # ssl.SSLError included: it is an OSError
            connection.close()
            raise ConnectError("connect_failed") from None
        return connection

    def _round_trip(
        self,
        connection: http.client.HTTPConnection,
        outgoing: _OutgoingRequest,
        deadline: float,
        watchdog: _DeadlineWatchdog,
        *,
        reused: bool,
    ) -> tuple[http.client.HTTPResponse, bytes]:
        """Send the request and read the reply; every failure here may follow a received request."""
        import http.client  # noqa: PLC0415 - deferred to the first exchange (module docstring)

        response_started = False
        try:
            connection.request(
                outgoing.method, self._base_path + outgoing.path, body=outgoing.body, headers=outgoing.headers
            )
            response = connection.getresponse()
            response_started = True
            return response, response.read(MAX_REPLY_BYTES + 1)
        except TimeoutError:
            connection.close()
            raise ReadTimeoutError("timeout") from None
        except (
            http.client.RemoteDisconnected,
            ConnectionResetError,
            BrokenPipeError,
            ConnectionAbortedError,
        ):
            connection.close()
            if watchdog.fired or self._clock() >= deadline:
                raise ReadTimeoutError("timeout") from None
            if reused and not response_started:
                raise _StaleConnectionError from None
            raise ConnectionLostError("connection_reset") from None
        except (http.client.HTTPException, OSError, ValueError):
            # Includes a watchdog shutdown surfacing as a short read or a closed file.
            connection.close()
            if watchdog.fired or self._clock() >= deadline:
                raise ReadTimeoutError("timeout") from None
            raise BadReplyError("bad_reply") from None

    def _new_connection(self, timeout: float) -> http.client.HTTPConnection:
        import http.client  # noqa: PLC0415 - deferred to the first connection (module docstring)

        if self._scheme == "https":
            import ssl  # noqa: PLC0415 - http.client has loaded it already; named for the context

            if self._tls_context is None:
                # Built once per container: loading the CA bundle costs milliseconds.
                self._tls_context = ssl.create_default_context()
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout, context=self._tls_context
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)


class _OutgoingRequest(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _StaleConnectionError(Exception):
    """The server closed a kept-alive connection before answering."""


class _DeadlineWatchdog:
    """Shuts the connection's socket down when the deadline passes, waking a blocked recv/send.

    Per-operation socket timeouts alone would let a server that sends a byte now
    and then hold the exchange for ever; this bounds the whole exchange.
    """

    def __init__(self, connection: http.client.HTTPConnection, seconds: float) -> None:
        self._connection = connection
        # Set before the shutdown, so whoever sees the resulting error knows it was the deadline.
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def _fire(self) -> None:
        import socket  # noqa: PLC0415 - loaded by http.client before any connection exists

        self.fired = True
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class CreditsClient:
    """Signs, sends and validates the two edge calls of the credits API."""

    def __init__(
        self,
        *,
        transport: CreditsTransport,
        url_for: Callable[[str], str],
        region: str,
        service: str,
        clock: Clock = time.monotonic,
        credentials_loader: Callable[[], ReadOnlyCredentials] = load_credentials,
    ) -> None:
        self._transport = transport
        self._url_for = url_for
        self._region = region
        self._service = service
        self._clock = clock
        self._credentials_loader = credentials_loader
        self._credentials: ReadOnlyCredentials | None = None

    def authorize(self, authorization: Authorization, deadline: float) -> AuthorizeDecision:
        payload: dict[str, Any] = {
            authorization.credential.field: authorization.credential.digest,
            "request_id": authorization.request_id,
            "method": authorization.method,
            "path": authorization.path,
            "bytes": authorization.upload_bytes,
            # Wall-clock form of our deadline: the service will not leave a charge standing
            # for a request we have already answered 503 (it refunds a late commit itself).
            "deadline_ms": int((time.time() + max(deadline - self._clock(), 0.0)) * 1000),
        }
        if authorization.range_header is not None:
            payload["range"] = authorization.range_header
        if authorization.retry_of_region is not None:
            payload["retry_of_region"] = authorization.retry_of_region
        reply = self._post(AUTHORIZE_PATH, payload, deadline)
        if reply.status != 200:
            raise UnexpectedStatusError(reply.status)
        return _parse_decision(_json_object(reply.body))

    def refund(self, request_id: str, reason: str, deadline: float) -> RefundOutcome:
        reply = self._post(REFUNDS_PATH, {"request_id": request_id, "reason": reason}, deadline)
        if reply.status == 404:
            return RefundOutcome(refunded=0, found=False, replayed=False)
        if reply.status != 200:
            raise UnexpectedStatusError(reply.status)
        document = _json_object(reply.body)
        refunded = document.get("refunded")
        replayed = document.get("replayed", False)
        if not _is_int(refunded) or not isinstance(replayed, bool):
            raise BadReplyError("bad_reply")
        restore_retry_after = document.get("restore_retry_after")
        if not _is_int(restore_retry_after) or restore_retry_after < 1:
            restore_retry_after = None
        return RefundOutcome(
            refunded=refunded, found=True, replayed=replayed, restore_retry_after=restore_retry_after
        )

    def _post(self, path: str, payload: dict[str, Any], deadline: float) -> TransportResponse:
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        try:
            credentials = self._current_credentials()
            headers = sign_request(
                "POST",
                self._url_for(path),
                {"content-type": "application/json"},
                body,
                credentials,
                self._region,
                self._service,
            )
        except Exception:  # noqa: BLE001 - any signing failure is an unavailable credits API, never an allow
            raise SigningError("signing_failed") from None
        reply = self._transport.send("POST", path, headers, body, deadline)
        if reply.status == 403:
            # Possibly expired role credentials: load them afresh on the next call.
            self._credentials = None
        return reply

    def _current_credentials(self) -> ReadOnlyCredentials:
        if self._credentials is None:
            self._credentials = self._credentials_loader()
        return self._credentials


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadReplyError("bad_reply") from None
    if not isinstance(document, dict):
        raise BadReplyError("bad_reply")
    return document


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_str(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _parse_decision(document: dict[str, Any]) -> AuthorizeDecision:
    """Strict validation: an answer we do not fully understand is a failure, never an allow."""
    decision = document.get("decision")
    reason = document.get("reason")
    account_id = document.get("account_id")
    price = document.get("price", 0)
    charged = document.get("charged", 0)
    balance = document.get("balance")
    entry_id = document.get("entry_id")
    retry_after = document.get("retry_after")
    replayed = document.get("replayed", False)
    well_typed = (
        decision in DECISIONS
        and _optional_str(reason)
        and _optional_str(account_id)
        and _is_int(price)
        and _is_int(charged)
        and (balance is None or _is_int(balance))
        and _optional_str(entry_id)
        and (retry_after is None or (_is_int(retry_after) and retry_after >= 0))
        and isinstance(replayed, bool)
    )
    if not well_typed or not isinstance(decision, str):
        raise BadReplyError("bad_reply")
    if decision == "allow" and (
        not isinstance(account_id, str) or not _ACCOUNT_ID_PATTERN.fullmatch(account_id) or charged < 0
    ):
        # The account id goes into a request header: nothing but plain printable characters.
        raise BadReplyError("bad_reply")
    if decision == "deny" and reason not in DENY_REASONS:
        # A reason this edge does not know (version skew): fail closed and retryable.
        raise BadReplyError("unknown_deny_reason")
    return AuthorizeDecision(
        decision=decision,
        reason=reason,
        account_id=account_id,
        price=price,
        charged=charged,
        balance=balance,
        entry_id=entry_id,
        retry_after=retry_after,
        replayed=replayed,
        object_size=_optional_size(document.get("object_size")),
    )


def _optional_size(value: Any) -> int | None:
    """An optional field: a size we cannot use is left out rather than failing the decision."""
    return value if _is_int(value) and value >= 0 else None
