"""Reading and writing CloudFront Lambda@Edge event documents.

CloudFront's shape: headers are a dict keyed by the lowercase header name, each
value a list of ``{"key": "<Original-Case>", "value": "..."}`` (one item per
occurrence). These helpers never trust the shape: a malformed entry is skipped,
not raised on, so a hostile or broken event still gets a well-formed answer.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from functions.shared.errors import ErrorCode, error_json

# A generated viewer-request response must stay under CloudFront's 40 KB limit;
# ours are tiny JSON documents, and this cap keeps them so whatever the input.
MAX_GENERATED_BODY_BYTES = 8 * 1024

CloudFrontHeaders = dict[str, list[dict[str, str]]]


def header_values(headers: Any, name: str) -> list[str]:
    """Every well-formed value of header ``name`` (lowercase) in a CloudFront headers object."""
    if not isinstance(headers, dict):
        return []
    entries = headers.get(name)
    if not isinstance(entries, list):
        return []
    return [
        entry["value"] for entry in entries if isinstance(entry, dict) and isinstance(entry.get("value"), str)
    ]


def first_header_value(headers: Any, name: str) -> str | None:
    values = header_values(headers, name)
    return values[0] if values else None


# Names whose conventional spelling is not plain title case.
_CONVENTIONAL_HEADER_KEYS = {"www-authenticate": "WWW-Authenticate"}


def canonical_header_key(name: str) -> str:
    """``x-edgemeter-account`` -> ``X-Edgemeter-Account`` (the case CloudFront shows)."""
    conventional = _CONVENTIONAL_HEADER_KEYS.get(name)
    if conventional is not None:
        return conventional
    return "-".join(part.capitalize() for part in name.split("-"))


def header_entry(name: str, value: str) -> list[dict[str, str]]:
    return [{"key": canonical_header_key(name), "value": value}]


def generated_response(status: int, body: str, extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A CloudFront generated response: JSON body, never cached by anyone."""
    encoded = body.encode("utf-8")
    if len(encoded) > MAX_GENERATED_BODY_BYTES:
        body = encoded[:MAX_GENERATED_BODY_BYTES].decode("utf-8", errors="ignore")
    headers: CloudFrontHeaders = {
        "content-type": header_entry("content-type", "application/json"),
        "cache-control": header_entry("cache-control", "no-store"),
    }
    for name, value in (extra_headers or {}).items():
        headers[name] = header_entry(name, value)
    return {
        "status": str(status),
        "statusDescription": status_description(status),
        "headers": headers,
        "body": body,
        "bodyEncoding": "text",
    }


def retry_later_response(status: int, code: ErrorCode, message: str, retry_after: int) -> dict[str, Any]:
    """An error that tells the viewer when to retry, in the body and as ``Retry-After``."""
    return generated_response(
        status, error_json(code, message, retry_after=retry_after), {"retry-after": str(retry_after)}
    )


def restore_in_progress_response(retry_after: int) -> dict[str, Any]:
    """503 for an archived object whose restore is running: come back after ``retry_after`` s."""
    return retry_later_response(
        503, ErrorCode.RESTORE_IN_PROGRESS, "The object is archived; its restore is in progress.", retry_after
    )


def status_description(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def cloudfront_record(event: Any) -> dict[str, Any] | None:
    """``event.Records[0].cf`` when the event has that shape, else None."""
    if not isinstance(event, dict):
        return None
    records = event.get("Records")
    if not isinstance(records, list) or not records or not isinstance(records[0], dict):
        return None
    record = records[0].get("cf")
    return record if isinstance(record, dict) else None
