"""API Gateway REST proxy events and a Lambda context, as the credits Lambda receives them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class FakeLambdaContext:
    function_name: str = "edgemeter-credits"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:edgemeter-credits"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST API (v1) proxy event; ``path`` may carry a query string."""
    split = urlsplit(path)
    params = dict(query or {})
    if split.query:
        for pair in split.query.split("&"):
            name, _, value = pair.partition("=")
            params[name] = value
    if raw_body is None and body is not None:
        raw_body = json.dumps(body)
    request_headers = {"Content-Type": "application/json", **(headers or {})}
    request_id = str(uuid.uuid4())
    return {
        "resource": "/{proxy+}",
        "path": split.path,
        "httpMethod": method,
        "headers": request_headers,
        "multiValueHeaders": {name: [value] for name, value in request_headers.items()},
        "queryStringParameters": params or None,
        "multiValueQueryStringParameters": {name: [value] for name, value in params.items()} or None,
        "pathParameters": {"proxy": split.path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/prod{split.path}",
            "stage": "prod",
            "requestId": request_id,
            "identity": {"sourceIp": "127.0.0.1", "userArn": "arn:aws:iam::123456789012:user/billing"},
            "accountId": "123456789012",
            "apiId": "abcdef1234",
        },
        "body": raw_body,
        "isBase64Encoded": False,
    }


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def error_code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            code = self.body["error"].get("code")
            return code if isinstance(code, str) else None
        return None


def parse_reply(response: dict[str, Any]) -> Reply:
    raw = response.get("body") or ""
    try:
        body = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        body = raw
    headers = {str(name).lower(): str(value) for name, value in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers.setdefault(str(name).lower(), str(values[0]))
    return Reply(status=int(response["statusCode"]), headers=headers, body=body)


def assert_error_shape(reply: Reply) -> None:
    """4xx with ``{"error": {"code": str, "message": str}}`` and a JSON content type."""
    assert 400 <= reply.status < 500, reply
    assert reply.headers.get("content-type", "").startswith("application/json"), reply
    assert isinstance(reply.body, dict), reply
    assert set(reply.body) == {"error"}, reply
    assert isinstance(reply.body["error"].get("code"), str), reply
    assert isinstance(reply.body["error"].get("message"), str), reply
