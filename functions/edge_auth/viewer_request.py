"""Lambda@Edge viewer-request handler: check the credential and charge the request.

Outcomes follow the CDN table of the brief; the status of every credits denial is
``functions.shared.errors.DENIAL_STATUS`` (the one table of them):

| situation                                  | viewer gets                                       |
|--------------------------------------------|---------------------------------------------------|
| allow                                      | request forwarded, credential removed, account on |
| no key and no link                         | 401, ``WWW-Authenticate: ApiKey``                 |
| key or link of the wrong shape             | 403 ``invalid_api_key`` / ``link_invalid``, no call |
| URI too long once signed for the origin    | 414 ``uri_too_long``, no call, nothing charged    |
| a denial                                   | ``DENIAL_STATUS[reason]``, with extras below      |
| failure, timeout, refused, non-200         | 503, ``Retry-After`` (never an allow)             |

Extras: 402 carries balance and price, 429 and 503 ``Retry-After``, 416
``Content-Range: bytes */<size>`` when the service states the size.

The handler never raises: anything unexpected becomes a 503, never an allow.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any, NamedTuple
from urllib.parse import unquote_plus

from functions.edge_auth.credits_client import (
    Authorization,
    AuthorizeDecision,
    Credential,
    CreditsUnavailableError,
    RequestNotSentError,
)
from functions.edge_auth.runtime import (
    EdgeRuntime,
    EmptyAccount,
    KeyDenial,
    exception_location,
    get_runtime,
    log_event,
)
from functions.edge_auth.settings import EdgeSettings, SettingsError
from functions.shared.api_keys import (
    LINK_TOKEN_PARAMETER,
    MAX_PRESENTED_KEY_LENGTH,
    hash_api_key,
    looks_like_api_key,
    looks_like_link_token,
)
from functions.shared.cloudfront import (
    cloudfront_record,
    first_header_value,
    generated_response,
    header_entry,
    header_values,
    restore_in_progress_response,
    retry_later_response,
)
from functions.shared.cloudfront_rules import uri_fits
from functions.shared.errors import CREDENTIAL_DENIALS, DENIAL_STATUS, DenialReason, ErrorCode, error_json
from functions.shared.http_methods import HTTP_METHODS, UPLOAD_METHODS
from functions.shared.sigv4 import canonical_path, canonical_querystring

# S3's own single-request upload limit; anything larger is not a real upload.
MAX_UPLOAD_BYTES = 5 * 1024**4
# The credits API's limits (functions/credits/schemas.py): a request outside them would come
# back as a 400 from the API, which the edge must not turn into a retryable 503.
MAX_URI_LENGTH = 4096
MAX_RANGE_HEADER_LENGTH = 1024
_REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9_=+/.:-]{1,128}$")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_BEARER_PREFIX = "bearer "
_VOID_REASON = "edge_gave_up"
_VOID_BUDGET_S = 1.0
# Retry-After of the 503 when the settings themselves are unusable.
_RETRY_AFTER_WITHOUT_SETTINGS_SECONDS = 5
# Retry-After for a rate-limited key when the credits API gave none.
_DEFAULT_RATE_LIMIT_RETRY_AFTER_SECONDS = 1
# Cache keys of link denials never meet a key's (different digests anyway; the prefix says so).
_LINK_CACHE_PREFIX = "link:"

_DENIAL_MESSAGES: dict[str, str] = {
    DenialReason.INVALID_API_KEY: "The API key is not valid.",
    DenialReason.REVOKED_API_KEY: "The API key has been revoked.",
    DenialReason.EXPIRED_API_KEY: "The API key has expired.",
    DenialReason.ACCOUNT_SUSPENDED: "The account is suspended.",
    DenialReason.ACCOUNT_CLOSED: "The account is closed.",
    DenialReason.KEY_SCOPE_DENIED: "The API key may not be used for this request.",
    DenialReason.KEY_SPEND_LIMIT_REACHED: "The API key has reached its spending limit.",
    DenialReason.LINK_INVALID: "The link is not valid.",
    DenialReason.LINK_EXPIRED: "The link has expired.",
    DenialReason.LINK_PATH_DENIED: "The link does not cover this path.",
    DenialReason.LINK_EXHAUSTED: "The link has been used as often as it may be.",
    DenialReason.OBJECT_NOT_FOUND: "The object does not exist.",
    DenialReason.RANGE_NOT_SATISFIABLE: "The requested range is not satisfiable.",
}


class _ViewerRequest(NamedTuple):
    """The parts of a viewer request the edge decides on."""

    request_id: str
    method: str
    uri: str


class _PricedRequest(NamedTuple):
    """What the credits API is asked to price, and the query string the origin will get."""

    upload_bytes: int
    range_header: str | None
    forwarded_querystring: str | None


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
    """The steps in order; each returns the response that ends the request, or what comes next."""
    settings = runtime.settings
    record = cloudfront_record(event)
    request = record.get("request") if record is not None else None
    config = record.get("config") if record is not None else None
    if not isinstance(request, dict) or not isinstance(config, dict):
        return _bad_request("The request could not be read.")
    viewer_request = _read_viewer_request(request, config)
    if not isinstance(viewer_request, _ViewerRequest):
        return viewer_request
    headers = _own_headers(request, settings)
    credential = _presented_credential(request, settings)
    if not isinstance(credential, Credential):
        return credential
    priced = _priced_request(request, viewer_request, settings)
    if not isinstance(priced, _PricedRequest):
        return priced
    authorization = Authorization(
        credential=credential,
        request_id=viewer_request.request_id,
        method=viewer_request.method,
        path=viewer_request.uri,
        upload_bytes=priced.upload_bytes,
        range_header=priced.range_header,
    )
    cached = _cached_refusal(runtime, authorization)
    if cached is not None:
        return cached
    decision = _authorize(runtime, authorization)
    if decision is None:
        return _unavailable_response(settings.unavailable_retry_after_seconds)
    if decision.allowed:
        _forward_allowed(
            request, headers, decision, priced, request_id=viewer_request.request_id, settings=settings
        )
        return request
    return _denied_response(
        decision, credential, _empty_account_cache_key(credential, authorization), runtime
    )


def _own_headers(request: dict[str, Any], settings: EdgeSettings) -> dict[str, Any]:
    """The request's headers, without viewer-supplied copies of the ones only we set."""
    if not isinstance(request.get("headers"), dict):
        request["headers"] = {}
    headers: dict[str, Any] = request["headers"]
    for internal_header in (settings.headers.account, settings.headers.charged, settings.headers.request_id):
        headers.pop(internal_header, None)
    return headers


def _authorize(runtime: EdgeRuntime, authorization: Authorization) -> AuthorizeDecision | None:
    """The credits API's decision, or None after a failure (a possible charge voided)."""
    deadline = runtime.clock() + runtime.settings.authorize_budget_ms / 1000
    try:
        decision = runtime.credits.authorize(authorization, deadline)
    except CreditsUnavailableError as exc:
        log_event(
            logging.WARNING, "credits_unavailable", request_id=authorization.request_id, cause=exc.cause
        )
        if not isinstance(exc, RequestNotSentError):
            _void_possible_charge(runtime, authorization.request_id)
        return None
    log_event(
        logging.INFO,
        "viewer_request_allowed" if decision.allowed else "viewer_request_denied",
        request_id=authorization.request_id,
        account_id=decision.account_id,
        reason=decision.reason,
        charged=decision.charged,
        replayed=decision.replayed,
    )
    return decision


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
    if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
        return generated_response(
            405,
            error_json(ErrorCode.METHOD_NOT_ALLOWED, "This method is not supported."),
            {"allow": ", ".join(sorted(HTTP_METHODS))},
        )
    if not isinstance(uri, str) or not uri.startswith("/") or _CONTROL_CHARACTERS.search(uri):
        return _bad_request("The request could not be read.")
    if len(uri) > MAX_URI_LENGTH:
        return _uri_too_long()
    return _ViewerRequest(request_id=request_id, method=method.upper(), uri=uri)


def _presented_credential(request: dict[str, Any], settings: EdgeSettings) -> Credential | dict[str, Any]:
    """The digest of the key (header, Bearer, query if enabled) or else of the link token.

    A credential of the wrong shape is refused here, without spending a credits API call.
    """
    presented_key = _presented_key(request, settings)
    if presented_key is not None:
        if len(presented_key) > MAX_PRESENTED_KEY_LENGTH or not looks_like_api_key(presented_key):
            return _denial_response(DenialReason.INVALID_API_KEY)
        return Credential(field="key_digest", digest=hash_api_key(presented_key))
    link_token = _query_value(request.get("querystring"), LINK_TOKEN_PARAMETER)
    if link_token is None:
        return generated_response(
            401,
            error_json(ErrorCode.MISSING_API_KEY, "An API key is required."),
            {"www-authenticate": "ApiKey"},
        )
    if len(link_token) > MAX_PRESENTED_KEY_LENGTH or not looks_like_link_token(link_token):
        return _denial_response(DenialReason.LINK_INVALID)
    return Credential(field="link_token_digest", digest=hash_api_key(link_token))


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
        return _query_value(request.get("querystring"), settings.query_key.parameter)
    return None


def _query_value(querystring: Any, parameter: str) -> str | None:
    """The first non-empty value of ``parameter`` in the query string."""
    if not isinstance(querystring, str) or not querystring:
        return None
    for raw_pair in querystring.split("&"):
        raw_name, _, raw_value = raw_pair.partition("=")
        if unquote_plus(raw_name) == parameter and raw_value:
            return unquote_plus(raw_value)
    return None


def _without_query_parameters(querystring: str, parameters: frozenset[str]) -> str:
    """``querystring`` minus every pair named in ``parameters``, other pairs byte-for-byte unchanged."""
    kept = [
        raw_pair
        for raw_pair in querystring.split("&")
        if raw_pair and unquote_plus(raw_pair.partition("=")[0]) not in parameters
    ]
    return "&".join(kept)


def _priced_request(
    request: dict[str, Any], viewer_request: _ViewerRequest, settings: EdgeSettings
) -> _PricedRequest | dict[str, Any]:
    """Upload size, Range and the forwarded query string, or the response refusing the request.

    Refuses, before any charge, a URI that would outgrow CloudFront's limit once the origin
    signer rewrote it into SigV4's canonical form (CloudFront would answer 502 after the charge).
    """
    upload_bytes = 0
    if viewer_request.method in UPLOAD_METHODS:
        content_length = first_header_value(request.get("headers"), "content-length")
        if content_length is None:
            return generated_response(
                411, error_json(ErrorCode.BAD_REQUEST, "Uploads need a Content-Length header.")
            )
        parsed_length = _parse_content_length(content_length)
        if parsed_length is None:
            return _bad_request("The Content-Length header is not valid.")
        upload_bytes = parsed_length
    range_header = None
    if viewer_request.method == "GET":
        range_header = first_header_value(request.get("headers"), "range")
        if range_header is not None and len(range_header) > MAX_RANGE_HEADER_LENGTH:
            return _bad_request("The Range header is too long.")
    querystring = request.get("querystring")
    forwarded = None
    if isinstance(querystring, str) and querystring:
        # Stripped even when query keys are disabled: a key put there by mistake must not leak.
        forwarded = _without_query_parameters(
            querystring, frozenset({settings.query_key.parameter, LINK_TOKEN_PARAMETER})
        )
    if not _fits_once_signed(viewer_request.uri, forwarded or ""):
        return _uri_too_long()
    return _PricedRequest(
        upload_bytes=upload_bytes, range_header=range_header, forwarded_querystring=forwarded
    )


def _fits_once_signed(uri: str, querystring: str) -> bool:
    """True when the URI fits CloudFront's limit both as sent and as the origin signer sends it.

    The edge package does not know the origin kind; an S3 key is at most 1,024 bytes (3,073
    characters percent-encoded), so the check only ever refuses what no origin could serve.
    """
    return uri_fits(uri, querystring) and uri_fits(canonical_path(uri), canonical_querystring(querystring))


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
    priced: _PricedRequest,
    *,
    request_id: str,
    settings: EdgeSettings,
) -> None:
    """Strip every credential carrier so neither the origin nor the cache key sees it, then attach ours."""
    headers.pop(settings.headers.api_key, None)
    # The origin never needs the viewer's Authorization (S3 OAC and the origin signer set their own).
    headers.pop("authorization", None)
    if priced.forwarded_querystring is not None:
        request["querystring"] = priced.forwarded_querystring
    headers[settings.headers.account] = header_entry(settings.headers.account, str(decision.account_id))
    headers[settings.headers.charged] = header_entry(settings.headers.charged, str(decision.charged))
    headers[settings.headers.request_id] = header_entry(settings.headers.request_id, request_id)


def _denial_cache_key(credential: Credential) -> str:
    if credential.field == "link_token_digest":
        return _LINK_CACHE_PREFIX + credential.digest
    return credential.digest


def _empty_account_cache_key(credential: Credential, authorization: Authorization) -> str:
    """The credential's digest plus a digest of what prices the request (method, size, range, path).

    A 402 states the price of the refused request, and prices differ by method, path
    prefix, size and range, so a cached 402 only answers the same kind of request again.
    """
    shape = (
        f"{authorization.method} {authorization.upload_bytes} {authorization.range_header or ''} "
        f"{authorization.path}"
    ).encode()
    return f"{_denial_cache_key(credential)}:{hashlib.sha256(shape).hexdigest()[:32]}"


def _cached_refusal(runtime: EdgeRuntime, authorization: Authorization) -> dict[str, Any] | None:
    """A denial this container remembers for the credential (or the empty account), or None."""
    credential = authorization.credential
    cached_denial = runtime.key_denials.get(_denial_cache_key(credential))
    if cached_denial is not None:
        log_event(
            logging.INFO,
            "viewer_request_denied",
            request_id=authorization.request_id,
            reason=cached_denial.reason,
            cached=True,
        )
        return _denial_response(cached_denial.reason)
    cached_empty = runtime.empty_accounts.get(_empty_account_cache_key(credential, authorization))
    if cached_empty is None:
        return None
    log_event(
        logging.INFO,
        "viewer_request_denied",
        request_id=authorization.request_id,
        account_id=cached_empty.account_id,
        reason=DenialReason.INSUFFICIENT_CREDITS,
        cached=True,
    )
    return _insufficient_credits(cached_empty.balance, cached_empty.price)


def _denied_response(
    decision: AuthorizeDecision, credential: Credential, empty_account_cache_key: str, runtime: EdgeRuntime
) -> dict[str, Any]:
    """The viewer's answer to a denial: ``DENIAL_STATUS`` with the extras some reasons carry."""
    reason = DenialReason(decision.reason or "")  # _parse_decision lets only known reasons through
    if reason in CREDENTIAL_DENIALS:
        runtime.key_denials.put(_denial_cache_key(credential), KeyDenial(reason=reason))
    if reason is DenialReason.INSUFFICIENT_CREDITS:
        balance = decision.balance if decision.balance is not None else 0
        # Only a truly empty account is cached: with some credits left, a cheaper request may pass.
        if balance <= 0:
            runtime.empty_accounts.put(
                empty_account_cache_key,
                EmptyAccount(account_id=decision.account_id, balance=balance, price=decision.price),
            )
        return _insufficient_credits(balance, decision.price)
    if reason is DenialReason.RATE_LIMITED:
        retry_after = decision.retry_after or _DEFAULT_RATE_LIMIT_RETRY_AFTER_SECONDS
        return retry_later_response(
            DENIAL_STATUS[reason], ErrorCode.RATE_LIMITED, "Too many requests for this API key.", retry_after
        )
    if reason is DenialReason.RESTORE_IN_PROGRESS:
        return restore_in_progress_response(
            decision.retry_after or runtime.settings.restore_retry_after_seconds
        )
    if reason is DenialReason.RANGE_NOT_SATISFIABLE and decision.object_size is not None:
        return _denial_response(reason, {"content-range": f"bytes */{decision.object_size}"})
    return _denial_response(reason)


def _denial_response(reason: str, extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A generated response with the status ``DENIAL_STATUS`` gives ``reason``."""
    status = DENIAL_STATUS[DenialReason(reason)]
    message = _DENIAL_MESSAGES.get(reason, "The request was refused.")
    return generated_response(status, error_json(reason, message), extra_headers)


def _insufficient_credits(balance: int, price: int) -> dict[str, Any]:
    return generated_response(
        DENIAL_STATUS[DenialReason.INSUFFICIENT_CREDITS],
        error_json(
            ErrorCode.INSUFFICIENT_CREDITS,
            "Not enough credits for this request.",
            balance=balance,
            price=price,
        ),
    )


def _uri_too_long() -> dict[str, Any]:
    return generated_response(414, error_json(ErrorCode.URI_TOO_LONG, "The URI is too long to forward."))


def _bad_request(message: str) -> dict[str, Any]:
    return generated_response(400, error_json(ErrorCode.BAD_REQUEST, message))


def _unavailable_response(retry_after_seconds: int) -> dict[str, Any]:
    return retry_later_response(
        503,
        ErrorCode.SERVICE_UNAVAILABLE,
        "Authorization is temporarily unavailable; retry later.",
        retry_after_seconds,
    )
