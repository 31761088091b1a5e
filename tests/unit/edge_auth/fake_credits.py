"""An in-process fake of the credits API's two edge endpoints, faithful to the contract.

Contract: docs/decisions.md, "Edge <-> credits contract". ``POST /v1/authorize``
answers 200 for every decision with the full reply document; a request id
already charged replays its first outcome (``replayed: true``) without charging
again. ``POST /v1/refunds`` refunds a charge at most once (200, replayed on
repeats) and answers 404 with the JSON error shape when there is no charge.

The fake also checks what the edge sends: a SigV4 ``Authorization`` header
scoped to ``execute-api``, a JSON body with exactly the contract's fields, and a
key digest (64 lowercase hex), never a key.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from functions.edge_auth.credits_client import TransportResponse
from functions.shared.api_keys import generate_api_key, generate_link_token, hash_api_key, is_key_digest
from functions.shared.errors import error_json

MEBIBYTE = 1024 * 1024
AUTHORIZE_FIELDS = frozenset({"request_id", "method", "path", "bytes", "deadline_ms"})
# Exactly one credential field, and the optional Range of a GET (contract: CONTRIBUTING.md).
CREDENTIAL_FIELDS = frozenset({"key_digest", "link_token_digest"})
OPTIONAL_AUTHORIZE_FIELDS = frozenset({"range", "retry_of_region"})
REFUND_FIELDS = frozenset({"request_id", "reason"})


@dataclass
class FakeAccount:
    account_id: str
    balance: int
    suspended: bool = False


@dataclass
class FakeKey:
    account_id: str
    revoked: bool = False
    expired: bool = False


@dataclass
class FakeLink:
    """A signed link: the key it was made from, and the denial the service would give it."""

    key_digest: str
    denial: str | None = None


@dataclass
class RecordedCall:
    path: str
    payload: dict[str, Any]
    headers: dict[str, str]
    raw_body: bytes


@dataclass
class FakeCreditsApi:
    accounts: dict[str, FakeAccount] = field(default_factory=dict)
    keys: dict[str, FakeKey] = field(default_factory=dict)
    # path -> deny reason the objects catalog would give (object_not_found, restore_in_progress)
    object_reasons: dict[str, str] = field(default_factory=dict)
    restore_retry_after: int = 120
    rate_limited_digests: dict[str, int] = field(default_factory=dict)
    links: dict[str, FakeLink] = field(default_factory=dict)
    # path -> object size: a GET with a Range is priced 1 + 1 per started MiB of the range.
    object_sizes: dict[str, int] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[RecordedCall] = field(default_factory=list)
    # When set, every call answers this status with the JSON error shape.
    failure_status: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_account(self, account_id: str, balance: int) -> FakeAccount:
        account = FakeAccount(account_id=account_id, balance=balance)
        self.accounts[account_id] = account
        return account

    def issue_key(self, account_id: str) -> str:
        """A fresh key for ``account_id``; only its digest is stored, as in the real service."""
        api_key = generate_api_key()
        self.keys[hash_api_key(api_key)] = FakeKey(account_id=account_id)
        return api_key

    def issue_link(self, api_key: str, denial: str | None = None) -> str:
        """A link token made from ``api_key``; only its digest is stored."""
        token = generate_link_token()
        self.links[hash_api_key(token)] = FakeLink(key_digest=hash_api_key(api_key), denial=denial)
        return token

    def calls_to(self, path: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.path == path]

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> TransportResponse:
        with self._lock:
            lowered = {name.lower(): value for name, value in headers.items()}
            try:
                payload = json.loads(body)
            except ValueError:
                return _error(400, "bad_request", "body is not JSON")
            if not isinstance(payload, dict):
                return _error(400, "bad_request", "body is not an object")
            self.calls.append(RecordedCall(path=path, payload=payload, headers=lowered, raw_body=body))
            authorization = lowered.get("authorization", "")
            if (
                not authorization.startswith("AWS4-HMAC-SHA256 ")
                or "/execute-api/aws4_request" not in authorization
            ):
                return _error(403, "forbidden", "missing or malformed SigV4 signature")
            if "x-amz-date" not in lowered:
                return _error(403, "forbidden", "missing X-Amz-Date")
            if method != "POST":
                return _error(405, "method_not_allowed", "POST only")
            if self.failure_status is not None:
                return _error(self.failure_status, "internal_error", "injected failure")
            if path.endswith("/v1/authorize"):
                return self._authorize(payload)
            if path.endswith("/v1/refunds"):
                return self._refund(payload)
            return _error(404, "not_found", "no such route")

    def _authorize(self, payload: dict[str, Any]) -> TransportResponse:
        credential_fields = set(payload) & CREDENTIAL_FIELDS
        if (
            not set(payload) >= AUTHORIZE_FIELDS
            or set(payload) - AUTHORIZE_FIELDS - CREDENTIAL_FIELDS - OPTIONAL_AUTHORIZE_FIELDS
            or len(credential_fields) != 1
        ):
            return _error(400, "validation_error", "fields do not follow the authorize contract")
        credential_field = credential_fields.pop()
        request_id = payload["request_id"]
        upload_bytes = payload["bytes"]
        deadline_ms = payload["deadline_ms"]
        if not isinstance(deadline_ms, int) or deadline_ms <= 0:
            return _error(400, "validation_error", "deadline_ms must be a positive integer")
        if not isinstance(payload[credential_field], str) or not is_key_digest(payload[credential_field]):
            return _error(400, "validation_error", f"{credential_field} must be a SHA-256 hex digest")
        if not isinstance(request_id, str) or not request_id:
            return _error(400, "validation_error", "request_id is required")
        if not isinstance(upload_bytes, int) or upload_bytes < 0:
            return _error(400, "validation_error", "bytes must be a non-negative integer")
        key_digest = str(payload.get("key_digest", ""))
        if credential_field == "link_token_digest":
            link = self.links.get(payload["link_token_digest"])
            if link is None:
                return _ok(_deny("link_invalid", None, 1))
            if link.denial is not None:
                return _ok(_deny(link.denial, None, 1))
            key_digest = link.key_digest
        if request_id in self.charges:
            return _ok({**self.charges[request_id], "replayed": True})
        method = payload["method"]
        price = 1 + -(-upload_bytes // MEBIBYTE) if method in ("PUT", "POST", "PATCH") else 1
        size = self.object_sizes.get(payload["path"])
        if "range" in payload and size is not None:
            served = _range_bytes(payload["range"], size)
            if served is None:
                return _ok({**_deny("range_not_satisfiable", None, 0), "object_size": size})
            price = 1 + -(-served // MEBIBYTE)
        key = self.keys.get(key_digest)
        if key is None:
            return _ok(_deny("invalid_api_key", None, price))
        account = self.accounts[key.account_id]
        if key.revoked:
            return _ok(_deny("revoked_api_key", account.account_id, price))
        if key.expired:
            return _ok(_deny("expired_api_key", account.account_id, price))
        if account.suspended:
            return _ok(_deny("account_suspended", account.account_id, price))
        if key_digest in self.rate_limited_digests:
            return _ok(
                _deny(
                    "rate_limited",
                    account.account_id,
                    price,
                    retry_after=self.rate_limited_digests[key_digest],
                )
            )
        object_reason = self.object_reasons.get(payload["path"])
        if object_reason is not None:
            retry_after = self.restore_retry_after if object_reason == "restore_in_progress" else None
            return _ok(_deny(object_reason, account.account_id, price, retry_after=retry_after))
        if account.balance < price:
            return _ok(_deny("insufficient_credits", account.account_id, price, balance=account.balance))
        account.balance -= price
        decision = {
            "decision": "allow",
            "reason": None,
            "account_id": account.account_id,
            "price": price,
            "charged": price,
            "balance": account.balance,
            "entry_id": _entry_id(),
            "retry_after": None,
            "replayed": False,
        }
        self.charges[request_id] = decision
        return _ok(decision)

    def _refund(self, payload: dict[str, Any]) -> TransportResponse:
        if set(payload) != REFUND_FIELDS:
            return _error(400, "validation_error", f"fields must be exactly {sorted(REFUND_FIELDS)}")
        request_id = payload["request_id"]
        if request_id in self.refunds:
            return _ok({**self.refunds[request_id], "replayed": True})
        charge = self.charges.get(request_id)
        if charge is None or charge["decision"] != "allow":
            return _error(404, "not_found", "no charge for this request id")
        account = self.accounts[charge["account_id"]]
        account.balance += charge["charged"]
        refund = {
            "request_id": request_id,
            "account_id": account.account_id,
            "refunded": charge["charged"],
            "balance": account.balance,
            "entry_id": _entry_id(),
            "replayed": False,
        }
        self.refunds[request_id] = refund
        return _ok(refund)


class FakeCreditsTransport:
    """The ``CreditsTransport`` seam wired straight to a ``FakeCreditsApi`` (no sockets)."""

    def __init__(self, api: FakeCreditsApi) -> None:
        self.api = api
        self.deadlines: list[float] = []

    def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, deadline: float
    ) -> TransportResponse:
        self.deadlines.append(deadline)
        return self.api.handle(method, path, headers, body)


def _range_bytes(range_header: str, size: int) -> int | None:
    """Bytes one ``bytes=a-b``, ``bytes=a-`` or ``bytes=-n`` range serves, None if unsatisfiable."""
    start_text, _, end_text = range_header.removeprefix("bytes=").partition("-")
    if not start_text:
        suffix = int(end_text or 0)
        return min(suffix, size) if suffix > 0 and size > 0 else None
    start = int(start_text)
    end = min(int(end_text), size - 1) if end_text else size - 1
    return end - start + 1 if start <= end and start < size else None


def _entry_id() -> str:
    return "le_" + secrets.token_hex(12)


def _deny(
    reason: str,
    account_id: str | None,
    price: int,
    *,
    balance: int | None = None,
    retry_after: int | None = None,
) -> dict[str, Any]:
    return {
        "decision": "deny",
        "reason": reason,
        "account_id": account_id,
        "price": price,
        "charged": 0,
        "balance": balance,
        "entry_id": None,
        "retry_after": retry_after,
        "replayed": False,
    }


def _ok(document: dict[str, Any]) -> TransportResponse:
    return TransportResponse(status=200, body=json.dumps(document).encode("utf-8"))


def _error(status: int, code: str, message: str) -> TransportResponse:
    return TransportResponse(status=status, body=error_json(code, message).encode("utf-8"))
