"""Lambda@Edge origin-response handler: refund charges the origin did not deliver.

- origin 5xx on a charged request -> ``POST /v1/refunds`` (reason ``origin_5xx``);
- origin 404 on a charged download (GET/HEAD) -> refund (reason ``origin_404``); the same for
  403 (``origin_403``), which is how S3 reports a missing key to a reader that may not list
  the bucket, and an archived object.

- with ``refund_not_modified`` on, an origin 304 on a charged GET/HEAD -> refund (reason
  ``not_modified``); off by default (docs/decisions.md: a 304 CloudFront answers from its cache
  runs no origin-facing trigger, so it could never be refunded the same way).

Under an origin group (``failover`` settings) CloudFront runs this trigger for the primary's
answer too and then retries a GET/HEAD/OPTIONS answered with a failover status on the
secondary: that first answer never reaches the viewer, so it is passed through untouched (no
refund, no tombstone for a "missing" object the secondary may hold); the secondary's answer is
what counts.

In every case the response is marked ``Cache-Control: no-store``: origin-response
runs only on cache misses, so a cached error would be served to later (charged)
viewers without ever reaching this refund. Refunds are idempotent by request id,
so a retried origin fetch cannot refund twice.

The viewer-request handler tells this one what happened through request headers
(the distribution's origin request policy must forward them): the charged
amount and the CloudFront request id of the charge (``config.requestId`` is
documented for viewer events only, so it is the fallback here, not the source).

The handler never raises and always returns the origin's response.
"""

from __future__ import annotations

import logging
from typing import Any

from functions.edge_auth.credits_client import CreditsUnavailableError, RefundOutcome
from functions.edge_auth.runtime import EdgeRuntime, exception_location, get_runtime, log_event
from functions.edge_auth.settings import FailoverSettings, SettingsError
from functions.shared.cloudfront import (
    cloudfront_record,
    first_header_value,
    generated_response,
    header_entry,
    restore_in_progress_response,
)
from functions.shared.cloudfront_rules import READ_ONLY_HEADERS, TriggerEvent
from functions.shared.errors import ErrorCode, error_json
from functions.shared.http_methods import DOWNLOAD_METHODS

# The methods CloudFront fails over for; others go to the primary only.
_FAILOVER_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# S3 answers 403, not 404, for a missing key when the reader may not list the bucket (the
# usual OAC policy), and 403 for an archived object: the viewer got nothing either way.
_MISSING_OBJECT_STATUSES = frozenset({403, 404})
# Tells the viewer (and tests) how many credits came back for this failed request.
REFUNDED_HEADER = "x-edgemeter-refunded"
_NOT_MODIFIED = 304
# A refund is tried again only when the first attempt failed fast and budget remains.
_MAX_REFUND_ATTEMPTS = 2


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda entry point: the origin's response, marked uncacheable and refunded when it failed."""
    record = cloudfront_record(event)
    response = record.get("response") if record is not None else None
    if record is None or not isinstance(response, dict):
        log_event(logging.ERROR, "origin_response_unreadable")
        return generated_response(
            502, error_json(ErrorCode.INTERNAL_ERROR, "The origin response was unreadable.")
        )
    try:
        if _primary_will_be_retried(record, response):
            return response
        refund_reason = _refund_reason(record, response)
        if refund_reason is None:
            return response
        _mark_uncacheable(response)
        _refund(record, response, refund_reason)
    except Exception as exc:  # noqa: BLE001 - the viewer must still get the origin's answer
        log_event(logging.ERROR, "origin_response_failed", error=exception_location(exc))
    return response


def _primary_will_be_retried(record: dict[str, Any], response: dict[str, Any]) -> bool:
    """True for the primary's answer under an origin group when CloudFront will try the secondary.

    The origin a response came from is ``request.origin`` (S3 or custom ``domainName``); the
    secondary's domain is in the settings. Without settings or an origin to compare, the answer
    is taken as final: refunding a failure the viewer may not see is the customer-safe error.
    """
    try:
        failover: FailoverSettings = get_runtime().settings.failover
    except SettingsError:
        return False
    status = _status_code(response.get("status"))
    request = record.get("request")
    if failover.secondary_domain_name is None or status not in failover.status_codes:
        return False
    if not isinstance(request, dict) or str(request.get("method", "")).upper() not in _FAILOVER_METHODS:
        return False
    domain_name = _origin_domain_name(request.get("origin"))
    if domain_name is None:
        log_event(logging.WARNING, "failover_origin_unknown", status=status)
        return False
    return domain_name != failover.secondary_domain_name


def _origin_domain_name(origin: Any) -> str | None:
    if not isinstance(origin, dict):
        return None
    for kind in ("s3", "custom"):
        description = origin.get(kind)
        if isinstance(description, dict) and isinstance(description.get("domainName"), str):
            return str(description["domainName"]).lower()
    return None


def _refund_reason(record: dict[str, Any], response: dict[str, Any]) -> str | None:
    status = _status_code(response.get("status"))
    if status is None:
        return None
    if 500 <= status <= 599:
        return "origin_5xx"
    request = record.get("request")
    method = request.get("method") if isinstance(request, dict) else None
    is_download = isinstance(method, str) and method.upper() in DOWNLOAD_METHODS
    if status in _MISSING_OBJECT_STATUSES and is_download:
        return f"origin_{status}"
    if status == _NOT_MODIFIED and is_download and _refunds_not_modified():
        return "not_modified"
    return None


def _refunds_not_modified() -> bool:
    try:
        return bool(get_runtime().settings.refund_not_modified)
    except SettingsError:
        return False


def _status_code(status: Any) -> int | None:
    if isinstance(status, int) and not isinstance(status, bool):
        return status
    if isinstance(status, str) and status.isascii() and status.isdigit() and len(status) == 3:
        return int(status)
    return None


def _mark_uncacheable(response: dict[str, Any]) -> None:
    headers = response.get("headers")
    if not isinstance(headers, dict):
        headers = {}
        response["headers"] = headers
    headers["cache-control"] = header_entry("cache-control", "no-store")
    # An Expires header would otherwise give shared caches a lifetime of its own.
    headers.pop("expires", None)


def _refund(record: dict[str, Any], response: dict[str, Any], reason: str) -> None:
    try:
        runtime = get_runtime()
    except SettingsError as exc:
        log_event(logging.CRITICAL, "edge_settings_invalid", error=str(exc))
        return
    request = record.get("request")
    request_headers = request.get("headers") if isinstance(request, dict) else None
    charged = _charged_amount(first_header_value(request_headers, runtime.settings.headers.charged))
    if charged <= 0:
        return
    request_id = first_header_value(request_headers, runtime.settings.headers.request_id)
    if not request_id:
        config = record.get("config")
        config_request_id = config.get("requestId") if isinstance(config, dict) else None
        request_id = config_request_id if isinstance(config_request_id, str) else None
    if not request_id:
        log_event(logging.ERROR, "refund_impossible", reason=reason, cause="no_request_id", charged=charged)
        return
    outcome = _refund_within_budget(runtime, request_id, reason)
    if outcome is not None and outcome.restore_retry_after is not None:
        # The 403 was an archived object and the credits service started its restore: answer
        # like viewer-request does for a known archived object (503 + Retry-After).
        _replace_response(response, restore_in_progress_response(outcome.restore_retry_after))
    if outcome is not None and outcome.refunded > 0:
        headers = response["headers"]
        headers[REFUNDED_HEADER] = header_entry(REFUNDED_HEADER, str(outcome.refunded))


def _replace_response(response: dict[str, Any], replacement: dict[str, Any]) -> None:
    """Replace the origin's response, keeping the headers CloudFront makes read-only here.

    Dropping or changing Transfer-Encoding or Via in an origin-response result fails
    CloudFront's validation (502), and the charge would then never be refunded.
    """
    original_headers = response.get("headers")
    kept = {
        name: entries
        for name, entries in (original_headers.items() if isinstance(original_headers, dict) else ())
        if name in READ_ONLY_HEADERS[TriggerEvent.ORIGIN_RESPONSE]
    }
    response.clear()
    response.update(replacement)
    response["headers"] = {**replacement["headers"], **kept}


def _refund_within_budget(runtime: EdgeRuntime, request_id: str, reason: str) -> RefundOutcome | None:
    deadline = runtime.clock() + runtime.settings.refund_budget_ms / 1000
    cause = "not_attempted"
    for _attempt in range(_MAX_REFUND_ATTEMPTS):
        if runtime.clock() >= deadline:
            break
        try:
            outcome = runtime.credits.refund(request_id, reason, deadline)
        except CreditsUnavailableError as exc:
            cause = exc.cause
            if cause == "timeout":
                break
            continue
        log_event(
            logging.INFO if outcome.found else logging.WARNING,
            "refund_done" if outcome.found else "refund_no_charge",
            request_id=request_id,
            reason=reason,
            refunded=outcome.refunded,
            replayed=outcome.replayed,
        )
        return outcome
    # The ledger keeps the charge; this line is what reconciliation looks for.
    log_event(logging.ERROR, "refund_failed", request_id=request_id, reason=reason, cause=cause)
    return None


def _charged_amount(value: str | None) -> int:
    if value is None:
        return 0
    stripped = value.strip()
    if not stripped.isascii() or not stripped.isdigit() or len(stripped) > 18:
        return 0
    return int(stripped)
