"""CloudFront Lambda@Edge event documents, in the documented shape.

Headers are keyed by lowercase name, each a list of ``{"key", "value"}``;
``config`` carries ``eventType`` and ``requestId``; the request has
``clientIp``, ``method``, ``uri``, ``querystring`` and, for uploads with body
inclusion on, ``body`` (base64 ``data``, ``inputTruncated``).
"""

from __future__ import annotations

import base64
import copy
import itertools
from collections.abc import Mapping
from typing import Any

from functions.shared.cloudfront import canonical_header_key

DISTRIBUTION_DOMAIN = "d111111abcdef8.cloudfront.net"
_request_ids = itertools.count(1)


def new_request_id() -> str:
    # CloudFront request ids are opaque base64-ish strings of about 56 characters.
    return f"4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUS{next(_request_ids):04d}=="


def cloudfront_headers(headers: Mapping[str, str | list[str]]) -> dict[str, list[dict[str, str]]]:
    shaped: dict[str, list[dict[str, str]]] = {}
    for name, value in headers.items():
        values = value if isinstance(value, list) else [value]
        shaped[name.lower()] = [{"key": canonical_header_key(name.lower()), "value": item} for item in values]
    return shaped


def cloudfront_event(event_type: str, request_id: str | None, **cloudfront: Any) -> dict[str, Any]:
    """``{"Records": [{"cf": {"config": ..., **cloudfront}}]}`` for this distribution."""
    config = {
        "distributionDomainName": DISTRIBUTION_DOMAIN,
        "distributionId": "EDFDVBD6EXAMPLE",
        "eventType": event_type,
        "requestId": request_id or new_request_id(),
    }
    return {"Records": [{"cf": {"config": config, **cloudfront}}]}


def viewer_request_event(
    method: str = "GET",
    uri: str = "/bucket/object.bin",
    *,
    headers: Mapping[str, str | list[str]] | None = None,
    querystring: str = "",
    request_id: str | None = None,
    body: bytes | None = None,
) -> dict[str, Any]:
    all_headers: dict[str, str | list[str]] = {"host": DISTRIBUTION_DOMAIN, "user-agent": "curl/8.5.0"}
    all_headers.update(headers or {})
    request: dict[str, Any] = {
        "clientIp": "203.0.113.178",
        "headers": cloudfront_headers(all_headers),
        "method": method,
        "querystring": querystring,
        "uri": uri,
    }
    if body is not None:
        request["body"] = {
            "action": "read-only",
            "data": base64.b64encode(body).decode("ascii"),
            "encoding": "base64",
            "inputTruncated": False,
        }
    return cloudfront_event("viewer-request", request_id, request=request)


def origin_response_event(
    forwarded_request: dict[str, Any],
    status: int,
    response_headers: dict[str, str] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The origin-response event for a request the viewer-request handler forwarded."""
    request = copy.deepcopy(forwarded_request)
    request.pop("body", None)
    request["origin"] = {
        "s3": {
            "authMethod": "none",
            "customHeaders": {},
            "domainName": "edgemeter-objects.s3.amazonaws.com",
            "path": "",
            "region": "us-east-1",
        }
    }
    response = {
        "headers": cloudfront_headers(
            {"content-type": "application/xml", "server": "AmazonS3", **(response_headers or {})}
        ),
        "status": str(status),
        "statusDescription": "Origin Status",
    }
    return cloudfront_event("origin-response", request_id, request=request, response=response)


def response_header(response: dict[str, Any], name: str) -> str | None:
    entries = response.get("headers", {}).get(name)
    return entries[0]["value"] if entries else None
