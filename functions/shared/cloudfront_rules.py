"""CloudFront's documented rules for what a Lambda@Edge trigger may return: the one table of them.

CloudFront validates every trigger result and answers 502 (LambdaValidationError) when one
breaks a rule; when viewer-request has already charged, no origin-response runs to refund it.
The edge functions' tests and the local CDN (local/cdn) both check results against this
table, so the local system fails where AWS would. Sources (docs/decisions.md, "Edge"):

- Restrictions on edge functions (disallowed and read-only headers, URI and query string size):
  https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/edge-functions-restrictions.html
- Lambda@Edge event structure (lowercase keys, ``{key, value}`` lists, status as a string):
  https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/lambda-event-structure.html
- Generated responses (status 200-599, body encodings, size per event type):
  https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/lambda-generating-http-responses.html
- Quotas (40 KB viewer, 1 MB origin generated responses):
  https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cloudfront-limits.html

Standard library only: the edge package imports it.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final


class TriggerEvent(StrEnum):
    """The four Lambda@Edge event types (``config.eventType``)."""

    VIEWER_REQUEST = "viewer-request"
    ORIGIN_REQUEST = "origin-request"
    ORIGIN_RESPONSE = "origin-response"
    VIEWER_RESPONSE = "viewer-response"


# Headers a function may neither see nor add, in every event type.
DISALLOWED_HEADERS: Final[frozenset[str]] = frozenset(
    {
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "trailer",
        "upgrade",
        "x-accel-buffering",
        "x-accel-charset",
        "x-accel-limit-rate",
        "x-accel-redirect",
        "x-cache",
        "x-forwarded-proto",
        "x-real-ip",
    }
)
DISALLOWED_HEADER_PREFIXES: Final[tuple[str, ...]] = ("x-amz-cf-", "x-amzn-", "x-edge-")

# Headers a function sees but may not add, change or remove, per event type.
READ_ONLY_HEADERS: Final[Mapping[TriggerEvent, frozenset[str]]] = {
    TriggerEvent.VIEWER_REQUEST: frozenset({"content-length", "host", "transfer-encoding", "via"}),
    TriggerEvent.ORIGIN_REQUEST: frozenset(
        {
            "accept-encoding",
            "content-length",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
            "transfer-encoding",
            "via",
        }
    ),
    TriggerEvent.ORIGIN_RESPONSE: frozenset({"transfer-encoding", "via"}),
    TriggerEvent.VIEWER_RESPONSE: frozenset(
        {"content-encoding", "content-length", "transfer-encoding", "warning", "via"}
    ),
}

# Size of a generated (or, in response triggers, replaced) response: headers plus body.
GENERATED_RESPONSE_LIMIT_BYTES: Final[Mapping[TriggerEvent, int]] = {
    TriggerEvent.VIEWER_REQUEST: 40 * 1024,
    TriggerEvent.ORIGIN_REQUEST: 1024 * 1024,
    TriggerEvent.ORIGIN_RESPONSE: 1024 * 1024,
    TriggerEvent.VIEWER_RESPONSE: 40 * 1024,
}
# ``uri`` plus ``querystring`` must stay under this many characters after every trigger.
URI_AND_QUERY_LIMIT_CHARS: Final = 8192
LOWEST_STATUS: Final = 200
HIGHEST_STATUS: Final = 599
BODY_ENCODINGS: Final[frozenset[str]] = frozenset({"text", "base64"})
REQUEST_EVENTS: Final[frozenset[TriggerEvent]] = frozenset(
    {TriggerEvent.VIEWER_REQUEST, TriggerEvent.ORIGIN_REQUEST}
)


def is_disallowed_header(name: str) -> bool:
    """True for a header no trigger may add (CloudFront hides it from functions too)."""
    return name in DISALLOWED_HEADERS or name.startswith(DISALLOWED_HEADER_PREFIXES)


def uri_fits(uri: str, querystring: str) -> bool:
    """True when ``uri`` plus ``querystring`` is under CloudFront's limit."""
    return len(uri) + len(querystring) < URI_AND_QUERY_LIMIT_CHARS


def result_violations(event_type: TriggerEvent, event: Mapping[str, Any], result: Any) -> list[str]:
    """Every rule ``result`` breaks for a trigger of ``event_type`` that was given ``event``.

    ``event`` is the ``Records[0].cf`` object the function received: its request (and, for
    response triggers, response) headers are what the read-only rule compares against.
    An empty list means CloudFront would accept the result.
    """
    if not isinstance(result, dict):
        return [f"the result is {type(result).__name__}, not an object"]
    if event_type in REQUEST_EVENTS and "status" not in result:
        return _request_violations(event_type, event.get("request"), result)
    problems = _response_shape_violations(event_type, result)
    if event_type in REQUEST_EVENTS:
        # A generated response: a new response, so only the disallowed headers apply.
        problems.extend(_header_violations(result.get("headers", {}), shown=None, read_only=frozenset()))
        return problems
    shown = event.get("response", {}).get("headers") if isinstance(event.get("response"), dict) else None
    problems.extend(
        _header_violations(
            result.get("headers", shown or {}), shown=shown or {}, read_only=READ_ONLY_HEADERS[event_type]
        )
    )
    return problems


def _request_violations(event_type: TriggerEvent, original: Any, result: dict[str, Any]) -> list[str]:
    original_request = original if isinstance(original, dict) else {}
    problems: list[str] = []
    uri = result.get("uri")
    querystring = result.get("querystring", "")
    if not isinstance(uri, str) or not uri.startswith("/"):
        problems.append("uri must be a string starting with /")
    elif not isinstance(querystring, str):
        problems.append("querystring must be a string")
    elif not uri_fits(uri, querystring):
        problems.append(f"uri plus querystring is {len(uri) + len(querystring)} characters, limit 8192")
    elif any(character in querystring for character in " #") or _has_control_characters(querystring):
        problems.append("querystring contains a space, # or a control character")
    if result.get("method", original_request.get("method")) != original_request.get("method"):
        problems.append("method is read-only")
    shown = original_request.get("headers") if isinstance(original_request.get("headers"), dict) else {}
    problems.extend(
        _header_violations(result.get("headers", {}), shown=shown, read_only=READ_ONLY_HEADERS[event_type])
    )
    return problems


def _response_shape_violations(event_type: TriggerEvent, result: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    status = result.get("status")
    if not isinstance(status, str):
        problems.append(f"status must be a string, got {type(status).__name__}")
    elif not status.isdigit() or not LOWEST_STATUS <= int(status) <= HIGHEST_STATUS:
        problems.append(f"status {status!r} is not from 200 to 599")
    if "body" not in result:
        return problems
    body = result["body"]
    encoding = result.get("bodyEncoding", "text")
    if not isinstance(body, str):
        return [*problems, "body must be a string"]
    if encoding not in BODY_ENCODINGS:
        return [*problems, f"bodyEncoding {encoding!r} is neither text nor base64"]
    if encoding == "base64" and not _is_base64(body):
        problems.append("bodyEncoding is base64 but the body is not")
    if status == "204" and body:
        problems.append("a 204 response must not have a body")
    size = len(body.encode("utf-8")) + _headers_size(result.get("headers"))
    limit = GENERATED_RESPONSE_LIMIT_BYTES[event_type]
    if size > limit:
        problems.append(f"the generated response is {size} bytes, limit {limit}")
    return problems


def _header_violations(headers: Any, *, shown: Any, read_only: frozenset[str]) -> list[str]:
    if not isinstance(headers, dict):
        return ["headers must be an object keyed by lowercase header name"]
    problems = [problem for name, entries in headers.items() for problem in _entry_violations(name, entries)]
    shown_headers = shown if isinstance(shown, dict) else {}
    for name in headers:
        if isinstance(name, str) and is_disallowed_header(name) and name not in shown_headers:
            problems.append(f"header {name!r} is disallowed")
    for name in sorted(read_only):
        if _values(headers.get(name)) != _values(shown_headers.get(name)):
            problems.append(f"header {name!r} is read-only in this event")
    return problems


def _entry_violations(name: Any, entries: Any) -> list[str]:
    if not isinstance(name, str) or name != name.lower():
        return [f"header key {name!r} is not lowercase"]
    if not isinstance(entries, list):
        return [f"header {name!r} must be a list of {{key, value}} objects"]
    problems: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
            problems.append(f"header {name!r} has an entry without a string value")
            continue
        key = entry.get("key", name)
        if not isinstance(key, str) or key.lower() != name:
            problems.append(f"header {name!r} has the key {key!r}")
    return problems


def _values(entries: Any) -> list[Any]:
    if not isinstance(entries, list):
        return []
    return [entry.get("value") for entry in entries if isinstance(entry, dict)]


def _headers_size(headers: Any) -> int:
    if not isinstance(headers, dict):
        return 0
    return sum(
        len(str(entry.get("key", name))) + len(str(entry.get("value", ""))) + 4
        for name, entries in headers.items()
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    )


def _has_control_characters(text: str) -> bool:
    return any(ord(character) < 0x20 or ord(character) == 0x7F for character in text)


def _is_base64(text: str) -> bool:
    try:
        binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        return False
    return True
