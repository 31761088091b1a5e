"""The JSON error shape every edgemeter surface returns, and its codes.

Standard library only (imported by the edge function too). The public
contract is ``{"error": {"code": "...", "message": "..."}}``; some errors
carry extra fields inside ``error`` (for example ``balance`` and ``price``
for ``insufficient_credits``, ``retry_after`` for throttling).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Machine-readable error codes, shared by the CDN and the credits API."""

    MISSING_API_KEY = "missing_api_key"
    INVALID_API_KEY = "invalid_api_key"
    REVOKED_API_KEY = "revoked_api_key"
    EXPIRED_API_KEY = "expired_api_key"
    INSUFFICIENT_CREDITS = "insufficient_credits"
    RATE_LIMITED = "rate_limited"
    RESTORE_IN_PROGRESS = "restore_in_progress"
    OBJECT_NOT_FOUND = "object_not_found"
    SERVICE_UNAVAILABLE = "service_unavailable"
    BAD_REQUEST = "bad_request"
    VALIDATION_ERROR = "validation_error"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    ACCOUNT_SUSPENDED = "account_suspended"
    INTERNAL_ERROR = "internal_error"


def error_document(code: ErrorCode | str, message: str, **details: Any) -> dict[str, Any]:
    """Build the error document; ``details`` are added inside ``error``."""
    error: dict[str, Any] = {"code": str(code), "message": message}
    error.update({name: value for name, value in details.items() if value is not None})
    return {"error": error}


def error_json(code: ErrorCode | str, message: str, **details: Any) -> str:
    """The error document serialised compactly (what goes on the wire)."""
    return json.dumps(error_document(code, message, **details), separators=(",", ":"), sort_keys=True)
