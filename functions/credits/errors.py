"""Domain errors of the credits service.

The logic raises these; the API layer (``functions/credits/app.py``) maps every one of them
to HTTP in one place, from the ``status`` and ``code`` each class carries. Denials of an
authorization are not errors: they are decisions (``functions.credits.schemas.Decision``).
Failures of the data itself are the credits store's (``functions/credits/store/errors.py``:
``StoreUnavailable`` is answered 503, ``DataIntegrityError`` a logged 500).
"""

from __future__ import annotations

from typing import Any, ClassVar

from functions.shared.errors import ErrorCode


class CreditsError(Exception):
    """Base of every error the credits API answers with a 4xx or 5xx of its own."""

    status: ClassVar[int] = 400
    code: ClassVar[ErrorCode] = ErrorCode.BAD_REQUEST

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(CreditsError):
    """Well-formed input that the rules refuse (a period that ends before it starts, a past expiry)."""

    status = 422
    code = ErrorCode.VALIDATION_ERROR


class NotFound(CreditsError):
    status = 404
    code = ErrorCode.NOT_FOUND


class AccountNotFound(NotFound):
    def __init__(self, account_id: str) -> None:
        super().__init__(f"account {account_id} does not exist")


class KeyNotFound(NotFound):
    def __init__(self, account_id: str, key_id: str) -> None:
        super().__init__(f"account {account_id} has no key {key_id}")


class ChargeNotFound(NotFound):
    def __init__(self, request_id: str) -> None:
        super().__init__("no charge exists for this request id", request_id=request_id)


class Conflict(CreditsError):
    status = 409
    code = ErrorCode.CONFLICT


class IdempotencyConflict(Conflict):
    """An idempotency key (or request id) was reused for a different operation."""


class BalanceLimitExceeded(Conflict):
    def __init__(self, account_id: str, limit: int) -> None:
        super().__init__(f"the grant would take account {account_id} over the balance limit", limit=limit)


class ServiceBusy(CreditsError):
    """DynamoDB throttled us, or conflicting transactions outlasted our retries: try again shortly."""

    status = 503
    code = ErrorCode.SERVICE_UNAVAILABLE

    def __init__(self, message: str = "the credits service is busy; retry shortly", retry_after: int = 1):
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class DeadlineExceeded(ServiceBusy):
    """The edge's time budget for this request had run out: it has answered 503 already.

    Nothing stays charged for it: either no charge was made, or the late charge was
    refunded at once (reason ``deadline_exceeded``).
    """

    def __init__(self) -> None:
        super().__init__("the time budget of this request ran out; nothing was charged", retry_after=1)
