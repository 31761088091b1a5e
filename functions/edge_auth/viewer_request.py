"""Lambda@Edge viewer-request handler: check the API key and charge the request.

Outcomes follow the CDN table of the brief:

| credits answer                         | viewer gets                                      |
|----------------------------------------|--------------------------------------------------|
| allow                                  | request forwarded, key removed, account attached |
| no key presented                       | 401, ``WWW-Authenticate: ApiKey``                |
| invalid/revoked/expired key, suspended | 403                                              |
| insufficient_credits                   | 402 with balance and price                       |
| rate_limited                           | 429, ``Retry-After``                             |
| object_not_found                       | 404                                              |
| restore_in_progress                    | 503, ``Retry-After``, ``restore_in_progress``    |
| failure, timeout, refused, non-200     | 503, ``Retry-After`` (never an allow)            |

The handler never raises: anything unexpected becomes a 503, never an allow.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any, NamedTuple
from urllib.parse import unquote_plus

from functions.edge_auth.credits_client import AuthorizeDecision, CreditsUnavailableError
from functions.edge_auth.runtime import (
    EdgeRuntime,
    EmptyAccount,
    KeyDenial,
    exception_location,
    get_runtime,
    log_event,
)
from functions.edge_auth.settings import EdgeSettings, SettingsError
from functions.shared.api_keys import MAX_PRESENTED_KEY_LENGTH, hash_api_key, looks_like_api_key
from functions.shared.cloudfront import (
    cloudfront_record,
    first_header_value,
    generated_response,
    header_entry,
    header_values,
    restore_in_progress_response,
    retry_later_response,
)
from functions.shared.errors import ErrorCode, error_json

# The methods CloudFront forwards (and the credits API prices); anything else is refused here.
ALLOWED_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"})
# Methods that send a body; they are priced by their Content-Length.
UPLOAD_METHODS = frozenset({"PUT", "POST", "PATCH"})
# S3's own single-request upload limit; anything larger is not a real upload.
MAX_UPLOAD_BYTES = 5 * 1024**4
# The credits API's limits (functions/credits/schemas.py): a request outside them would come
# back as a 400 from the API, which the edge must not turn into a retryable 503.
MAX_URI_LENGTH = 4096
_REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9_=+/.:-]{1,128}$")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
KEY_DENIAL_REASONS = frozenset({"invalid_api_key", "revoked_api_key", "expired_api_key", "account_suspended"})
_BEARER_PREFIX = "bearer "
# Failures that happen before the authorization leaves the edge: nothing can have been charged.
_CAUSES_BEFORE_SENDING = frozenset({"refused", "connect_failed", "signing_failed"})
_VOID_REASON = "edge_gave_up"
_VOID_BUDGET_S = 1.0
# Retry-After of the 503 when the settings themselves are unusable.
_RETRY_AFTER_WITHOUT_SETTINGS_SECONDS = 5
# Retry-After for a rate-limited key when the credits API gave none.
_DEFAULT_RATE_LIMIT_RETRY_AFTER_SECONDS = 1

_DENY_MESSAGES = {
    "invalid_api_key": "The API key is not valid.",
    "revoked_api_key": "The API key has been revoked.",
    "expired_api_key": "The API key has expired.",
    "account_suspended": "The account is suspended.",
}


class _ViewerRequest(NamedTuple):
    """The parts of a viewer request the edge decides on."""

    request_id: str
    method: str
    uri: str


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda entry point: return the (modified) request to forward it, or a generated response."""
    try:
        runtime = get_runtime()
    except SettingsError as exc:
        log_event(logging.CRITICAL, "edge_settings_invalid", error=str(exc))
        return _unavailable_response(_RETRY_AFTER_WITHOUT_SETTINGS_SECONDS)
    try:
        return _handle(event, runtime)
    except Exception as exc:  # noqa: BLE001 - a viewer must get an answer, and never an allow
        log_event(logging.ERROR, "viewer_request_failed", error=exception_location(exc))
        return _unavailable_response(runtime.settings.unavailable_retry_after_seconds)


def _handle(event: Any, runtime: EdgeRuntime) -> dict[str, Any]:
    settings = runtime.settings
    record = cloudfront_record(event)
    request = record.get("request") if record is not None else None
    config = record.get("config") if record is not None else None
    if not isinstance(request, dict) or not isinstance(config, dict):
        return _bad_request("The request could not be read.")
    viewer_request = _read_viewer_request(request, config)
    if not isinstance(viewer_request, _ViewerRequest):
        return viewer_request
    if not isinstance(request.get("headers"), dict):
        request["headers"] = {}
    headers: dict[str, Any] = request["headers"]
    # Our origin-bound headers are only ever set by us; a viewer's copies are dropped.
    for internal_header in (settings.headers.account, settings.headers.charged, settings.headers.request_id):
        headers.pop(internal_header, None)

    presented_key = _presented_key(request, settings)
    if presented_key is None:
        return generated_response(
            401,
            error_json(ErrorCode.MISSING_API_KEY, "An API key is required."),
            {"www-authenticate": "ApiKey"},
        )
    if len(presented_key) > MAX_PRESENTED_KEY_LENGTH or not looks_like_api_key(presented_key):
        # Not something we ever issued: refuse without spending a credits API call.
        return _key_denied("invalid_api_key")
    key_digest = hash_api_key(presented_key)
    del presented_key

    upload_bytes = 0
    if viewer_request.method in UPLOAD_METHODS:
        content_length = first_header_value(headers, "content-length")
        if content_length is None:
            return generated_response(
                411, error_json(ErrorCode.BAD_REQUEST, "Uploads need a Content-Length header.")
            )
        parsed_length = _parse_content_length(content_length)
        if parsed_length is None:
            return _bad_request("The Content-Length header is not valid.")
        upload_bytes = parsed_length

    cached_denial = runtime.key_denials.get(key_digest)
    if cached_denial is not None:
        log_event(
            logging.INFO,
            "viewer_request_denied",
            request_id=viewer_request.request_id,
            reason=cached_denial.reason,
            cached=True,
        )
        return _key_denied(cached_denial.reason)
    empty_account_cache_key = _empty_account_cache_key(key_digest, viewer_request, upload_bytes)
    cached_empty = runtime.empty_accounts.get(empty_account_cache_key)
    if cached_empty is not None:
        log_event(
            logging.INFO,
            "viewer_request_denied",
            request_id=viewer_request.request_id,
            account_id=cached_empty.account_id,
            reason="insufficient_credits",
            cached=True,
        )
        return _insufficient_credits(cached_empty.balance, cached_empty.price)

    deadline = runtime.clock() + settings.authorize_budget_ms / 1000
    try:
        decision = runtime.credits.authorize(
            key_digest=key_digest,
            request_id=viewer_request.request_id,
            method=viewer_request.method,
            path=viewer_request.uri,
            upload_bytes=upload_bytes,
            deadline=deadline,
        )
    except CreditsUnavailableError as exc:
        log_event(
            logging.WARNING, "credits_unavailable", request_id=viewer_request.request_id, cause=exc.cause
        )
        if exc.cause not in _CAUSES_BEFORE_SENDING:
            _void_possible_charge(runtime, viewer_request.request_id)
        return _unavailable_response(settings.unavailable_retry_after_seconds)

    log_event(
        logging.INFO,
        "viewer_request_allowed" if decision.allowed else "viewer_request_denied",
        request_id=viewer_request.request_id,
        account_id=decision.account_id,
        reason=decision.reason,
        charged=decision.charged,
        replayed=decision.replayed,
    )
    if decision.allowed:
        _forward_allowed(request, headers, decision, viewer_request.request_id, settings)
        return request
    return _denied_response(decision, key_digest, empty_account_cache_key, runtime)


def _void_possible_charge(runtime: EdgeRuntime, request_id: str) -> None:
    """Refund whatever the unanswered authorization may have charged: the viewer gets a 503.

    The request may have reached the credits service and committed a charge whose reply came
    too late. The service refunds charges that commit past our deadline itself; this covers a
    reply lost or delayed on the way back. Refunds are idempotent per request id, and a 404
    (nothing was charged) is the common answer. One attempt, within what is left of the
    viewer-request limit (authorize budget at most 3 s + this 1 s, inside 5 s).
    """
    try:
        outcome = runtime.credits.refund(request_id, _VOID_REASON, runtime.clock() + _VOID_BUDGET_S)
    except CreditsUnavailableError as exc:
        # The ledger keeps the charge; this line is what reconciliation looks for.
        log_event(logging.ERROR, "void_failed", request_id=request_id, cause=exc.cause)
        return
    if outcome.found:
        log_event(logging.WARNING, "void_refunded", request_id=request_id, refunded=outcome.refunded)


def _read_viewer_request(request: dict[str, Any], config: dict[str, Any]) -> _ViewerRequest | dict[str, Any]:
    """The request's id, method and URI, or the generated error response that refuses it."""
    request_id = config.get("requestId")
    method = request.get("method")
    uri = request.get("uri")
    if not isinstance(request_id, str) or not _REQUEST_ID_PATTERN.fullmatch(request_id):
        return _bad_request("The request could not be read.")
    if not isinstance(method, str) or method.upper() not in ALLOWED_METHODS:
        return generated_response(
            405,
            error_json(ErrorCode.METHOD_NOT_ALLOWED, "This method is not supported."),
            {"allow": ", ".join(sorted(ALLOWED_METHODS))},
        )
    if not isinstance(uri, str) or not uri.startswith("/") or _CONTROL_CHARACTERS.search(uri):
        return _bad_request("The request could not be read.")
    if len(uri) > MAX_URI_LENGTH:
        return generated_response(414, error_json(ErrorCode.BAD_REQUEST, "The URI is too long."))
    return _ViewerRequest(request_id=request_id, method=method.upper(), uri=uri)


def _presented_key(request: dict[str, Any], settings: EdgeSettings) -> str | None:
    """The key from the configured header, else ``Authorization: Bearer``, else (if enabled) the query."""
    headers = request.get("headers")
    for value in header_values(headers, settings.headers.api_key):
        if value.strip():
            return value.strip()
    for value in header_values(headers, "authorization"):
        if value[: len(_BEARER_PREFIX)].lower() == _BEARER_PREFIX and value[len(_BEARER_PREFIX) :].strip():
            return value[len(_BEARER_PREFIX) :].strip()
    if settings.query_key.enabled:
        querystring = request.get("querystring")
        if isinstance(querystring, str):
            for name, value in _query_pairs(querystring):
                if name == settings.query_key.parameter and value:
                    return value
    return None


def _query_pairs(querystring: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for raw_pair in querystring.split("&"):
        raw_name, _, raw_value = raw_pair.partition("=")
        pairs.append((unquote_plus(raw_name), unquote_plus(raw_value)))
    return pairs


def _without_query_parameter(querystring: str, parameter: str) -> str:
    """``querystring`` minus every ``parameter=...`` pair, other pairs byte-for-byte unchanged."""
    kept = [
        raw_pair
        for raw_pair in querystring.split("&")
        if raw_pair and unquote_plus(raw_pair.partition("=")[0]) != parameter
    ]
    return "&".join(kept)


def _parse_content_length(value: str) -> int | None:
    stripped = value.strip()
    if not stripped.isascii() or not stripped.isdigit() or len(stripped) > 16:
        return None
    length = int(stripped)
    return length if length <= MAX_UPLOAD_BYTES else None


def _forward_allowed(
    request: dict[str, Any],
    headers: dict[str, Any],
    decision: AuthorizeDecision,
    request_id: str,
    settings: EdgeSettings,
) -> None:
    """Strip every key carrier so neither the origin nor the cache key sees it, then attach ours."""
    headers.pop(settings.headers.api_key, None)
    # The origin never needs the viewer's Authorization (S3 OAC and the origin signer set their own).
    headers.pop("authorization", None)
    querystring = request.get("querystring")
    if isinstance(querystring, str) and querystring:
        # Stripped even when query keys are disabled: a key put there by mistake must not leak.
        request["querystring"] = _without_query_parameter(querystring, settings.query_key.parameter)
    headers[settings.headers.account] = header_entry(settings.headers.account, str(decision.account_id))
    headers[settings.headers.charged] = header_entry(settings.headers.charged, str(decision.charged))
    headers[settings.headers.request_id] = header_entry(settings.headers.request_id, request_id)


def _empty_account_cache_key(key_digest: str, viewer_request: _ViewerRequest, upload_bytes: int) -> str:
    """The key digest plus a digest of what prices the request (method, path, size).

    A 402 states the price of the refused request, and prices differ by method, path
    prefix and size, so a cached 402 only answers the same kind of request again.
    """
    shape = f"{viewer_request.method} {upload_bytes} {viewer_request.uri}".encode()
    return f"{key_digest}:{hashlib.sha256(shape).hexdigest()[:32]}"


def _denied_response(
    decision: AuthorizeDecision, key_digest: str, empty_account_cache_key: str, runtime: EdgeRuntime
) -> dict[str, Any]:
    reason = decision.reason or ""
    if reason in KEY_DENIAL_REASONS:
        runtime.key_denials.put(key_digest, KeyDenial(reason=reason))
        return _key_denied(reason)
    if reason == "insufficient_credits":
        balance = decision.balance if decision.balance is not None else 0
        # Only a truly empty account is cached: with some credits left, a cheaper request may pass.
        if balance <= 0:
            runtime.empty_accounts.put(
                empty_account_cache_key,
                EmptyAccount(account_id=decision.account_id, balance=balance, price=decision.price),
            )
        return _insufficient_credits(balance, decision.price)
    if reason == "rate_limited":
        retry_after = decision.retry_after or _DEFAULT_RATE_LIMIT_RETRY_AFTER_SECONDS
        return retry_later_response(
            429, ErrorCode.RATE_LIMITED, "Too many requests for this API key.", retry_after
        )
    if reason == "object_not_found":
        return generated_response(404, error_json(ErrorCode.OBJECT_NOT_FOUND, "The object does not exist."))
    if reason == "restore_in_progress":
        return restore_in_progress_response(
            decision.retry_after or runtime.settings.restore_retry_after_seconds
        )
    # _parse_decision only lets known reasons through; this is a programming error, fail closed.
    return _unavailable_response(runtime.settings.unavailable_retry_after_seconds)


def _key_denied(reason: str) -> dict[str, Any]:
    return generated_response(403, error_json(reason, _DENY_MESSAGES.get(reason, "Access denied.")))


def _insufficient_credits(balance: int, price: int) -> dict[str, Any]:
    return generated_response(
        402,
        error_json(
            ErrorCode.INSUFFICIENT_CREDITS,
            "Not enough credits for this request.",
            balance=balance,
            price=price,
        ),
    )


def _bad_request(message: str) -> dict[str, Any]:
    return generated_response(400, error_json(ErrorCode.BAD_REQUEST, message))


def _unavailable_response(retry_after_seconds: int) -> dict[str, Any]:
    return retry_later_response(
        503,
        ErrorCode.SERVICE_UNAVAILABLE,
        "Authorization is temporarily unavailable; retry later.",
        retry_after_seconds,
    )
