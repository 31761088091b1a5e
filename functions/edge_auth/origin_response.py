"""Lambda@Edge origin-response handler: refund charges the origin did not deliver.

- origin 5xx on a charged request -> ``POST /v1/refunds`` (reason ``origin_5xx``);
- origin 404 on a charged download (GET/HEAD) -> refund (reason ``origin_404``); the same for
  403 (``origin_403``), which is how S3 reports a missing key to a reader that may not list
  the bucket, and an archived object.

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
from functions.edge_auth.settings import SettingsError
from functions.shared.cloudfront import (
    cloudfront_record,
    first_header_value,
    generated_response,
    header_entry,
    restore_in_progress_response,
)
from functions.shared.errors import ErrorCode, error_json

DOWNLOAD_METHODS = frozenset({"GET", "HEAD"})
# S3 answers 403, not 404, for a missing key when the reader may not list the bucket (the
# usual OAC policy), and 403 for an archived object: the viewer got nothing either way.
_MISSING_OBJECT_STATUSES = frozenset({403, 404})
# Tells the viewer (and tests) how many credits came back for this failed request.
REFUNDED_HEADER = "x-edgemeter-refunded"
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
        refund_reason = _refund_reason(record, response)
        if refund_reason is None:
            return response
        _mark_uncacheable(response)
        _refund(record, response, refund_reason)
    except Exception as exc:  # noqa: BLE001 - the viewer must still get the origin's answer
        log_event(logging.ERROR, "origin_response_failed", error=exception_location(exc))
    return response


def _refund_reason(record: dict[str, Any], response: dict[str, Any]) -> str | None:
    status = _status_code(response.get("status"))
    if status is None:
        return None
    if 500 <= status <= 599:
        return "origin_5xx"
    request = record.get("request")
    method = request.get("method") if isinstance(request, dict) else None
    if status in _MISSING_OBJECT_STATUSES and isinstance(method, str) and method.upper() in DOWNLOAD_METHODS:
        return f"origin_{status}"
    return None


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
        retry_after = outcome.restore_retry_after
        response.clear()
        response.update(restore_in_progress_response(retry_after))
    if outcome is not None and outcome.refunded > 0:
        headers = response["headers"]
        headers[REFUNDED_HEADER] = header_entry(REFUNDED_HEADER, str(outcome.refunded))


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
