"""A small, typed client of the credits API, signing every request with SigV4 (service execute-api).

Used by the `edgemeter` CLI and by the local runtime to seed its demo account.
Signing is functions/shared/sigv4.py (botocore); transport is httpx.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
from botocore.credentials import ReadOnlyCredentials

from functions.shared.sigv4 import sign_request

DEFAULT_TIMEOUT_SECONDS = 15.0


class CreditsApiError(Exception):
    """The API answered with an error status; ``code`` and ``message`` come from its error document."""

    def __init__(
        self, status: int, code: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})


class CreditsApiUnreachable(Exception):
    """No HTTP answer at all: refused connection, DNS failure, timeout."""


@dataclass(frozen=True)
class CreditsApiClient:
    base_url: str
    credentials: ReadOnlyCredentials
    region: str
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    service: str = "execute-api"
    # None: real HTTP; tests pass httpx.MockTransport.
    transport: httpx.BaseTransport | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, str | int | None] | None = None,
    ) -> dict[str, Any]:
        """Send one signed request; return the JSON reply or raise CreditsApiError/CreditsApiUnreachable."""
        pairs = sorted((name, str(value)) for name, value in (query or {}).items() if value is not None)
        # Canonical query string (RFC 3986 encoding, sorted) so the signed URL is the sent URL.
        query_string = urlencode(pairs, quote_via=quote, safe="-_.~")
        url = self.base_url.rstrip("/") + path + (f"?{query_string}" if query_string else "")
        payload = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        headers = {"accept": "application/json"}
        if body is not None:
            headers["content-type"] = "application/json"
        signed = sign_request(method, url, headers, payload, self.credentials, self.region, self.service)
        try:
            with httpx.Client(
                timeout=self.timeout_seconds, trust_env=False, transport=self.transport
            ) as http:
                response = http.request(method, url, headers=signed, content=payload or None)
        except httpx.TransportError as error:
            host = urlsplit(self.base_url).netloc
            raise CreditsApiUnreachable(f"cannot reach the credits API at {host}: {error}") from error
        document = _json_or_none(response)
        if response.is_success:
            return document if isinstance(document, dict) else {}
        error_body = document.get("error") if isinstance(document, dict) else None
        if isinstance(error_body, dict):
            details = {name: value for name, value in error_body.items() if name not in {"code", "message"}}
            raise CreditsApiError(
                response.status_code,
                str(error_body.get("code", "error")),
                str(error_body.get("message", "")),
                details,
            )
        # API Gateway's own errors are {"message": "..."}.
        message = document.get("message") if isinstance(document, dict) else None
        raise CreditsApiError(response.status_code, "http_error", str(message or response.text[:200]))

    # ----------------------------------------------------------- the public contract

    def create_account(self, name: str) -> dict[str, Any]:
        return self.request("POST", "/v1/accounts", body={"name": name})

    def get_account(self, account_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/accounts/{quote(account_id, safe='')}")

    def issue_key(
        self,
        account_id: str,
        *,
        name: str | None = None,
        expires_at: str | None = None,
        scope: Mapping[str, list[str]] | None = None,
        spend_limit: int | None = None,
    ) -> dict[str, Any]:
        optional = {"name": name, "expires_at": expires_at, "scope": scope, "spend_limit": spend_limit}
        body = {field: value for field, value in optional.items() if value is not None}
        return self.request("POST", f"/v1/accounts/{quote(account_id, safe='')}/keys", body=body)

    def list_keys(
        self, account_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        return self.request(
            "GET", f"/v1/accounts/{quote(account_id, safe='')}/keys", query={"limit": limit, "cursor": cursor}
        )

    def revoke_key(self, account_id: str, key_id: str) -> dict[str, Any]:
        return self.request(
            "DELETE", f"/v1/accounts/{quote(account_id, safe='')}/keys/{quote(key_id, safe='')}"
        )

    def grant(self, account_id: str, *, amount: int, reason: str, idempotency_key: str) -> dict[str, Any]:
        return self.request(
            "POST",
            f"/v1/accounts/{quote(account_id, safe='')}/grants",
            body={"amount": amount, "reason": reason, "idempotency_key": idempotency_key},
        )

    def ledger(
        self,
        account_id: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> dict[str, Any]:
        return self.request(
            "GET",
            f"/v1/accounts/{quote(account_id, safe='')}/ledger",
            query={"limit": limit, "cursor": cursor, "from": since, "to": until},
        )

    def usage(self, account_id: str, *, since: str | None = None, until: str | None = None) -> dict[str, Any]:
        return self.request(
            "GET", f"/v1/accounts/{quote(account_id, safe='')}/usage", query={"from": since, "to": until}
        )

    # ------------------------------------------------- sellers' features (issue 16)

    def list_accounts(
        self,
        *,
        name_prefix: str | None = None,
        status: str | None = None,
        balance_below: int | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        query: dict[str, str | int | None] = {
            "name_prefix": name_prefix,
            "status": status,
            "balance_below": balance_below,
            "limit": limit,
            "cursor": cursor,
        }
        return self.request("GET", "/v1/accounts", query=query)

    def change_status(self, account_id: str, *, status: str, reason: str) -> dict[str, Any]:
        return self.request(
            "PATCH", f"/v1/accounts/{quote(account_id, safe='')}", body={"status": status, "reason": reason}
        )

    def create_link(
        self,
        account_id: str,
        *,
        key_id: str,
        path: str | None,
        prefix: str | None,
        expires_in: int,
        max_uses: int | None = None,
    ) -> dict[str, Any]:
        fields = {
            "key_id": key_id,
            "path": path,
            "prefix": prefix,
            "expires_in": expires_in,
            "max_uses": max_uses,
        }
        body = {field: value for field, value in fields.items() if value is not None}
        return self.request("POST", f"/v1/accounts/{quote(account_id, safe='')}/links", body=body)

    def set_alerts(self, account_id: str, thresholds: list[int]) -> dict[str, Any]:
        return self.request(
            "PUT", f"/v1/accounts/{quote(account_id, safe='')}/alerts", body={"thresholds": thresholds}
        )

    def get_alerts(self, account_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/accounts/{quote(account_id, safe='')}/alerts")


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
