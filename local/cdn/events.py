"""CloudFront Lambda@Edge event documents: building them and reading what functions return.

The shapes follow the CloudFront Developer Guide, "Lambda@Edge event
structure": ``{"Records": [{"cf": {"config": {...}, "request": {...}}}]}`` for
request events, plus ``"response"`` for response events. Header maps are keyed
by lowercase name, each a list of ``{"key": <original case>, "value": ...}``.
A request trigger returns either the (possibly modified) request or a
generated response; response triggers return the (possibly modified) response.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from functions.shared.cloudfront_rules import (
    GENERATED_RESPONSE_LIMIT_BYTES,
    TriggerEvent,
    is_disallowed_header,
)

CloudFrontHeaders = dict[str, list[dict[str, str]]]

# The event types are CloudFront's, named once in functions/shared/cloudfront_rules.py.
EventType = TriggerEvent
# The quota on the size (headers plus body) of a response a function generates.
VIEWER_GENERATED_RESPONSE_LIMIT = GENERATED_RESPONSE_LIMIT_BYTES[TriggerEvent.VIEWER_REQUEST]
ORIGIN_GENERATED_RESPONSE_LIMIT = GENERATED_RESPONSE_LIMIT_BYTES[TriggerEvent.ORIGIN_REQUEST]
# "Via" as CloudFront adds it to every request it sends an origin (origin events show it).
CLOUDFRONT_VIA = "1.1 local.cloudfront.net (CloudFront)"


def is_hidden_header(name: str) -> bool:
    """Never shown to a function: CloudFront's disallowed headers, and TE (hop-by-hop).

    Transfer-Encoding and Via are shown (read-only): CloudFront shows them too.
    """
    lowered = name.lower()
    return lowered == "te" or is_disallowed_header(lowered)


class EdgeResultError(ValueError):
    """A function returned something CloudFront would reject (502 LambdaValidationError)."""


def new_request_id() -> str:
    """A CloudFront-style request id (``config.requestId``, also sent as X-Amz-Cf-Id)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(42)).decode("ascii")


def to_cloudfront_headers(pairs: Iterable[tuple[str, str]]) -> CloudFrontHeaders:
    headers: CloudFrontHeaders = {}
    for name, value in pairs:
        lowered = name.lower()
        if is_hidden_header(lowered):
            continue
        headers.setdefault(lowered, []).append({"key": name, "value": value})
    return headers


def from_cloudfront_headers(headers: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Header pairs from a function's header map, validating its shape."""
    pairs: list[tuple[str, str]] = []
    for lowered, entries in headers.items():
        if not isinstance(entries, list):
            raise EdgeResultError(f"header {lowered!r} must be a list of {{key, value}} objects")
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
                raise EdgeResultError(f"header {lowered!r} has an entry without a string value")
            key = entry.get("key", lowered)
            if not isinstance(key, str) or key.lower() != lowered:
                raise EdgeResultError(f"header key {key!r} does not match its lowercase name {lowered!r}")
            if is_hidden_header(lowered):
                continue
            pairs.append((key, entry["value"]))
    return pairs


@dataclass
class EdgeRequest:
    """The request as the lifecycle carries it between triggers."""

    method: str
    uri: str
    querystring: str
    client_ip: str
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)

    def to_event_request(self) -> dict[str, Any]:
        return {
            "clientIp": self.client_ip,
            "headers": to_cloudfront_headers(self.headers),
            "method": self.method,
            "querystring": self.querystring,
            "uri": self.uri,
        }


@dataclass
class EdgeResponse:
    """A response between triggers; ``body`` is set only for a generated response."""

    status: int
    status_description: str
    headers: list[tuple[str, str]]
    body: bytes | None = None

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)

    def to_event_response(self) -> dict[str, Any]:
        return {
            "headers": to_cloudfront_headers(self.headers),
            "status": str(self.status),
            "statusDescription": self.status_description,
        }


@dataclass(frozen=True)
class S3OriginDescription:
    """The ``origin.s3`` object CloudFront puts in origin-request events."""

    domain_name: str
    region: str
    path: str = ""
    custom_headers: Mapping[str, str] = field(default_factory=dict)

    def to_event_origin(self) -> dict[str, Any]:
        return {
            "s3": {
                # With origin access control CloudFront signs after the function runs: "none" here.
                "authMethod": "none",
                "customHeaders": to_cloudfront_headers(self.custom_headers.items()),
                "domainName": self.domain_name,
                "path": self.path,
                "region": self.region,
            }
        }


@dataclass(frozen=True)
class CustomOriginDescription:
    """The ``origin.custom`` object CloudFront puts in origin-request events (an S3-compatible store)."""

    domain_name: str
    port: int
    protocol: str
    path: str = ""
    custom_headers: Mapping[str, str] = field(default_factory=dict)
    keepalive_timeout: int = 5
    read_timeout: int = 30

    def to_event_origin(self) -> dict[str, Any]:
        return {
            "custom": {
                "customHeaders": to_cloudfront_headers(self.custom_headers.items()),
                "domainName": self.domain_name,
                "keepaliveTimeout": self.keepalive_timeout,
                "path": self.path,
                "port": self.port,
                "protocol": self.protocol,
                "readTimeout": self.read_timeout,
                "sslProtocols": ["TLSv1.2"],
            }
        }


OriginDescription = S3OriginDescription | CustomOriginDescription


@dataclass(frozen=True)
class DistributionConfig:
    distribution_domain_name: str
    distribution_id: str = "EDGEMETERLOCAL"


def build_request_event(
    event_type: EventType,
    distribution: DistributionConfig,
    request_id: str,
    request: EdgeRequest,
    origin: OriginDescription | None = None,
) -> dict[str, Any]:
    event_request = request.to_event_request()
    if event_type is EventType.ORIGIN_REQUEST:
        if origin is None:
            raise ValueError("origin-request events carry the origin")
        event_request["origin"] = origin.to_event_origin()
    return {
        "Records": [
            {"cf": {"config": _config(event_type, distribution, request_id), "request": event_request}}
        ]
    }


def build_response_event(
    event_type: EventType,
    distribution: DistributionConfig,
    request_id: str,
    *,
    request: EdgeRequest,
    response: EdgeResponse,
    origin: OriginDescription | None = None,
) -> dict[str, Any]:
    event_request = request.to_event_request()
    if event_type is EventType.ORIGIN_RESPONSE and origin is not None:
        event_request["origin"] = origin.to_event_origin()
    return {
        "Records": [
            {
                "cf": {
                    "config": _config(event_type, distribution, request_id),
                    "request": event_request,
                    "response": response.to_event_response(),
                }
            }
        ]
    }


def _config(event_type: EventType, distribution: DistributionConfig, request_id: str) -> dict[str, str]:
    return {
        "distributionDomainName": distribution.distribution_domain_name,
        "distributionId": distribution.distribution_id,
        "eventType": str(event_type),
        "requestId": request_id,
    }


def _status_of(raw: Any) -> int:
    try:
        status = int(raw)
    except (TypeError, ValueError) as error:
        raise EdgeResultError(f"status {raw!r} is not an HTTP status code") from error
    if not 200 <= status <= 599:
        raise EdgeResultError(f"status {status} is outside 200-599")
    return status


def _generated_body(result: Mapping[str, Any]) -> bytes:
    body = result.get("body", "")
    if not isinstance(body, str):
        raise EdgeResultError("body must be a string")
    encoding = result.get("bodyEncoding", "text")
    if encoding == "text":
        return body.encode("utf-8")
    if encoding == "base64":
        try:
            return base64.b64decode(body, validate=True)
        except ValueError as error:
            raise EdgeResultError("bodyEncoding is base64 but body is not") from error
    raise EdgeResultError(f"bodyEncoding {encoding!r} is neither text nor base64")


def _generated_size(headers: list[tuple[str, str]], body: bytes) -> int:
    return len(body) + sum(len(name) + len(value) + 4 for name, value in headers)


def parse_request_trigger_result(
    result: Any, original: EdgeRequest, *, generated_limit: int
) -> EdgeRequest | EdgeResponse:
    """What a viewer-/origin-request function returned: the request to go on with, or a response."""
    if not isinstance(result, dict):
        raise EdgeResultError(f"function returned {type(result).__name__}, not an object")
    if "status" in result:
        status = _status_of(result["status"])
        headers = from_cloudfront_headers(result.get("headers") or {})
        body = _generated_body(result)
        if _generated_size(headers, body) > generated_limit:
            raise EdgeResultError(f"generated response is larger than the {generated_limit}-byte limit")
        return EdgeResponse(status, str(result.get("statusDescription", "")), headers, body)
    uri = result.get("uri", original.uri)
    querystring = result.get("querystring", original.querystring)
    method = result.get("method", original.method)
    if not isinstance(uri, str) or not uri.startswith("/"):
        raise EdgeResultError("uri must be a string starting with /")
    if not isinstance(querystring, str) or method != original.method:
        raise EdgeResultError("querystring must be a string and method is read-only")
    headers = from_cloudfront_headers(result.get("headers") or {})
    return EdgeRequest(method, uri, querystring, original.client_ip, headers)


def parse_response_trigger_result(
    result: Any, original: EdgeResponse, *, generated_limit: int
) -> EdgeResponse:
    """What an origin-/viewer-response function returned; a ``body`` key replaces the origin's body."""
    if not isinstance(result, dict):
        raise EdgeResultError(f"function returned {type(result).__name__}, not an object")
    status = _status_of(result.get("status", original.status))
    headers = from_cloudfront_headers(result["headers"]) if "headers" in result else original.headers
    description = result.get("statusDescription", original.status_description)
    body: bytes | None = None
    if "body" in result:
        body = _generated_body(result)
        if _generated_size(headers, body) > generated_limit:
            raise EdgeResultError(f"generated response is larger than the {generated_limit}-byte limit")
    return EdgeResponse(status, str(description), headers, body)
