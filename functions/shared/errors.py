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
    FORBIDDEN = "forbidden"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    ACCOUNT_SUSPENDED = "account_suspended"
    ACCOUNT_CLOSED = "account_closed"
    KEY_SCOPE_DENIED = "key_scope_denied"
    KEY_SPEND_LIMIT_REACHED = "key_spend_limit_reached"
    LINK_INVALID = "link_invalid"
    LINK_EXPIRED = "link_expired"
    LINK_PATH_DENIED = "link_path_denied"
    LINK_EXHAUSTED = "link_exhausted"
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable"
    URI_TOO_LONG = "uri_too_long"
    INTERNAL_ERROR = "internal_error"


class DenialReason(StrEnum):
    """Why the credits service refused an authorization: the one list of them.

    The credits API answers these inside a 200 decision; the edge maps each to the
    viewer's status with ``DENIAL_STATUS``. A reason the edge does not know is a failure
    (503), never an allow, so a new reason is added here first, with its status.
    """

    INVALID_API_KEY = ErrorCode.INVALID_API_KEY.value
    REVOKED_API_KEY = ErrorCode.REVOKED_API_KEY.value
    EXPIRED_API_KEY = ErrorCode.EXPIRED_API_KEY.value
    INSUFFICIENT_CREDITS = ErrorCode.INSUFFICIENT_CREDITS.value
    RATE_LIMITED = ErrorCode.RATE_LIMITED.value
    ACCOUNT_SUSPENDED = ErrorCode.ACCOUNT_SUSPENDED.value
    ACCOUNT_CLOSED = ErrorCode.ACCOUNT_CLOSED.value
    KEY_SCOPE_DENIED = ErrorCode.KEY_SCOPE_DENIED.value
    KEY_SPEND_LIMIT_REACHED = ErrorCode.KEY_SPEND_LIMIT_REACHED.value
    LINK_INVALID = ErrorCode.LINK_INVALID.value
    LINK_EXPIRED = ErrorCode.LINK_EXPIRED.value
    LINK_PATH_DENIED = ErrorCode.LINK_PATH_DENIED.value
    LINK_EXHAUSTED = ErrorCode.LINK_EXHAUSTED.value
    # The objects catalog's verdicts (functions/catalog/).
    OBJECT_NOT_FOUND = ErrorCode.OBJECT_NOT_FOUND.value
    RESTORE_IN_PROGRESS = ErrorCode.RESTORE_IN_PROGRESS.value
    RANGE_NOT_SATISFIABLE = ErrorCode.RANGE_NOT_SATISFIABLE.value


# The viewer's HTTP status for each denial.
DENIAL_STATUS: dict[DenialReason, int] = {
    DenialReason.INVALID_API_KEY: 403,
    DenialReason.REVOKED_API_KEY: 403,
    DenialReason.EXPIRED_API_KEY: 403,
    DenialReason.INSUFFICIENT_CREDITS: 402,
    DenialReason.RATE_LIMITED: 429,
    DenialReason.ACCOUNT_SUSPENDED: 403,
    DenialReason.ACCOUNT_CLOSED: 403,
    DenialReason.KEY_SCOPE_DENIED: 403,
    DenialReason.KEY_SPEND_LIMIT_REACHED: 403,
    DenialReason.LINK_INVALID: 403,
    DenialReason.LINK_EXPIRED: 403,
    DenialReason.LINK_PATH_DENIED: 403,
    DenialReason.LINK_EXHAUSTED: 403,
    DenialReason.OBJECT_NOT_FOUND: 404,
    DenialReason.RESTORE_IN_PROGRESS: 503,
    DenialReason.RANGE_NOT_SATISFIABLE: 416,
}

# Denials that stand for the credential itself (key or link, and the account behind it), not for
# this one request: the edge may cache them per credential digest for a short while.
CREDENTIAL_DENIALS: frozenset[DenialReason] = frozenset(
    {
        DenialReason.INVALID_API_KEY,
        DenialReason.REVOKED_API_KEY,
        DenialReason.EXPIRED_API_KEY,
        DenialReason.ACCOUNT_SUSPENDED,
        DenialReason.ACCOUNT_CLOSED,
        DenialReason.LINK_INVALID,
        DenialReason.LINK_EXPIRED,
        DenialReason.LINK_EXHAUSTED,
    }
)


def error_document(code: ErrorCode | str, message: str, **details: Any) -> dict[str, Any]:
    """Build the error document; ``details`` are added inside ``error``."""
    error: dict[str, Any] = {"code": str(code), "message": message}
    error.update({name: value for name, value in details.items() if value is not None})
    return {"error": error}


def error_json(code: ErrorCode | str, message: str, **details: Any) -> str:
    """The error document serialised compactly (what goes on the wire)."""
    return json.dumps(error_document(code, message, **details), separators=(",", ":"), sort_keys=True)
