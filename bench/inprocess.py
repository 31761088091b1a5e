"""The credits handler called in-process, as the benchmarks and the reliability tests use it.

``InProcessCredits`` turns HTTP-shaped calls into API Gateway REST proxy events (built by the
local runtime's ``local.apigateway``, so the shape is the one the local credits server sends)
and hands them to a handler: the deployed ``lambda_handler`` (benchmarks) or the API object a
test built for its own tables. ``HandlerTransport`` is the edge's ``CreditsTransport`` answered
by that handler, so an edge decision runs the real credits code against DynamoDB Local with no
HTTP server in between.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from functions.edge_auth.credits_client import CreditsUnavailableError, TransportResponse
from local.apigateway import CallerIdentity, IncomingRequest, LocalLambdaContext, build_proxy_event

ProxyHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
# The IAM principal the local credits API reports for signed callers.
BILLING_CALLER = CallerIdentity(access_key_id="LOCALBILLING")


class CreditsCallError(RuntimeError):
    def __init__(self, status: int, document: Any) -> None:
        super().__init__(f"credits API answered {status}: {document}")
        self.status = status
        self.document = document


@dataclass
class InProcessCredits:
    handler: ProxyHandler

    def call(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> tuple[int, Any]:
        body = json.dumps(payload).encode() if payload is not None else b""
        event = build_proxy_event(
            IncomingRequest(
                method=method,
                path=path,
                query=(),
                headers=(("content-type", "application/json"), ("host", "127.0.0.1")),
                body=body,
                source_ip="127.0.0.1",
                host="127.0.0.1",
                caller=BILLING_CALLER,
            )
        )
        result = self.handler(event, LocalLambdaContext())
        raw_body = result.get("body") or ""
        return int(result["statusCode"]), json.loads(raw_body) if raw_body else None

    def _ok(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> Any:
        status, document = self.call(method, path, payload)
        if status >= 300:
            raise CreditsCallError(status, document)
        return document

    def create_account(self, name: str) -> str:
        return str(self._ok("POST", "/v1/accounts", {"name": name})["account_id"])

    def issue_key(self, account_id: str) -> str:
        return str(self._ok("POST", f"/v1/accounts/{account_id}/keys", {})["api_key"])

    def grant(self, account_id: str, amount: int, idempotency_key: str) -> int:
        document = self._ok(
            "POST",
            f"/v1/accounts/{account_id}/grants",
            {"amount": amount, "reason": "benchmark", "idempotency_key": idempotency_key},
        )
        return int(document["balance"])

    def balance(self, account_id: str) -> int:
        return int(self._ok("GET", f"/v1/accounts/{account_id}")["balance"])

    def funded_key(self, name: str, credits: int) -> tuple[str, str]:
        """A new account with ``credits`` and one key: (account_id, api_key)."""
        account_id = self.create_account(name)
        if credits:
            self.grant(account_id, credits, f"fund-{account_id}")
        return account_id, self.issue_key(account_id)


@dataclass
class HandlerTransport:
    """The edge's credits transport, answered by the credits handler in this process."""

    credits: InProcessCredits
    calls: int = 0

    def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, deadline: float
    ) -> TransportResponse:
        self.calls += 1
        try:
            payload = json.loads(body) if body else None
        except json.JSONDecodeError as error:
            raise CreditsUnavailableError("bad_request_body") from error
        status, document = self.credits.call(method, path, payload)
        return TransportResponse(status=status, body=json.dumps(document).encode() if document else b"")
