"""API Gateway proxy events: the one home for building them locally.

The local credits server turns each HTTP request into the event document API
Gateway (Lambda proxy integration, IAM authorization) would send the credits
Lambda, and turns the Lambda's proxy response back into HTTP. Kept free of any
web framework so it is easy to test and to reuse.

Deployed, the billing routes come through the REST API and the edge's two routes
through an HTTP API with payload format 1.0 on its ``$default`` stage
(stacks/constructs/edge_http_api.py): the same proxy event, plus ``version``,
the route's own path as its resource, and no stage in the path. Both are built
here, each for the routes AWS sends it for.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from functions.edge_auth.credits_client import AUTHORIZE_PATH, REFUNDS_PATH

LOCAL_API_ID = "local"
LOCAL_STAGE = "local"
LOCAL_AWS_ACCOUNT_ID = "000000000000"
# The routes the edge's HTTP API serves deployed, and the stage it serves them on.
EDGE_HTTP_API_ROUTES = frozenset({("POST", AUTHORIZE_PATH), ("POST", REFUNDS_PATH)})
HTTP_API_DEFAULT_STAGE = "$default"
# API Gateway passes text bodies as strings; anything else is base64 with isBase64Encoded.
_TEXT_CONTENT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")


@dataclass(frozen=True)
class CallerIdentity:
    """What IAM authorization puts in requestContext.identity for a verified SigV4 caller."""

    access_key_id: str
    account_id: str = LOCAL_AWS_ACCOUNT_ID

    @property
    def user_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:user/{self.access_key_id}"


@dataclass(frozen=True)
class IncomingRequest:
    """An HTTP request as the local server received it (framework-independent)."""

    method: str
    path: str
    query: Sequence[tuple[str, str]]
    headers: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str
    host: str
    caller: CallerIdentity | None = None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class ProxyResponse:
    """A Lambda proxy response mapped back to HTTP."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _single_and_multi(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """API Gateway's two views of repeated names: last value wins in the single-value map."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def _is_text(content_type: str | None) -> bool:
    if not content_type:
        return True
    lowered = content_type.lower()
    return any(lowered.startswith(prefix) for prefix in _TEXT_CONTENT_TYPES)


def build_proxy_event(request: IncomingRequest, *, now: datetime | None = None) -> dict[str, Any]:
    """The event API Gateway sends for ``request``: the edge routes' HTTP API event, else REST's."""
    event = build_rest_proxy_event(request, now=now)
    if (request.method, request.path) in EDGE_HTTP_API_ROUTES:
        return as_http_api_v1_event(event)
    return event


def as_http_api_v1_event(rest_event: dict[str, Any]) -> dict[str, Any]:
    """The HTTP API payload 1.0 event of a route with a fixed path, on the ``$default`` stage."""
    path = rest_event["path"]
    context = rest_event["requestContext"]
    return {
        "version": "1.0",
        **rest_event,
        "resource": path,
        "pathParameters": None,
        "requestContext": {
            **context,
            "resourcePath": path,
            "path": path,
            "stage": HTTP_API_DEFAULT_STAGE,
        },
    }


def build_rest_proxy_event(request: IncomingRequest, *, now: datetime | None = None) -> dict[str, Any]:
    """The REST API (v1) proxy event for ``request``, resource ``/{proxy+}``."""
    moment = now or datetime.now(UTC)
    headers, multi_headers = _single_and_multi(request.headers)
    query, multi_query = _single_and_multi(request.query)
    content_type = next((value for name, value in request.headers if name.lower() == "content-type"), None)
    body: str | None
    is_base64 = False
    if not request.body:
        body = None
    elif _is_text(content_type):
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            body, is_base64 = base64.b64encode(request.body).decode("ascii"), True
    else:
        body, is_base64 = base64.b64encode(request.body).decode("ascii"), True
    user_agent = headers.get("User-Agent") or headers.get("user-agent")
    caller = request.caller
    identity: dict[str, Any] = {
        "cognitoIdentityPoolId": None,
        "cognitoIdentityId": None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "principalOrgId": None,
        "apiKey": None,
        "apiKeyId": None,
        "clientCert": None,
        "sourceIp": request.source_ip,
        "userAgent": user_agent,
        "accountId": caller.account_id if caller else None,
        "caller": caller.access_key_id if caller else None,
        "accessKey": caller.access_key_id if caller else None,
        "user": caller.access_key_id if caller else None,
        "userArn": caller.user_arn if caller else None,
    }
    proxy_path = request.path.lstrip("/")
    return {
        "resource": "/{proxy+}",
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {"proxy": proxy_path} if proxy_path else None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": "/{proxy+}",
            "httpMethod": request.method,
            "extendedRequestId": request.request_id,
            "requestTime": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(moment.timestamp() * 1000),
            "path": f"/{LOCAL_STAGE}{request.path}",
            "accountId": LOCAL_AWS_ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": LOCAL_STAGE,
            "domainPrefix": request.host.split(":")[0],
            "domainName": request.host,
            "requestId": request.request_id,
            "apiId": LOCAL_API_ID,
            "identity": identity,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


class InvalidProxyResponse(ValueError):
    """The Lambda returned something API Gateway would answer 502 for."""


def parse_proxy_response(result: Any) -> ProxyResponse:
    """Map a Lambda proxy result to HTTP, validating it as API Gateway does."""
    if not isinstance(result, dict):
        raise InvalidProxyResponse(f"proxy result is {type(result).__name__}, not an object")
    status = result.get("statusCode")
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise InvalidProxyResponse(f"invalid statusCode {status!r}")
    headers: list[tuple[str, str]] = []
    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise InvalidProxyResponse("headers must be objects")
    for name, values in multi.items():
        headers.extend((str(name), str(value)) for value in values)
    # A name in both maps: API Gateway merges them; the single value is added when not already there.
    lowered_multi = {name.lower() for name in multi}
    headers.extend(
        (str(name), str(value)) for name, value in single.items() if name.lower() not in lowered_multi
    )
    raw_body = result.get("body")
    if raw_body is None:
        body = b""
    elif not isinstance(raw_body, str):
        raise InvalidProxyResponse("body must be a string")
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(raw_body)
    else:
        body = raw_body.encode("utf-8")
    return ProxyResponse(status=status, headers=headers, body=body)


@dataclass
class LocalLambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str = "edgemeter-credits-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/edgemeter-credits-local"
    log_stream_name: str = "local"
    timeout_seconds: float = 29.0
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:{LOCAL_AWS_ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))
