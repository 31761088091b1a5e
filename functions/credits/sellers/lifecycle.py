"""The account lifecycle: active <-> suspended, and closed, which is terminal.

Every change is recorded with its reason, who made it (the IAM principal of the API call) and
when. Setting the status an account already has changes nothing (the caller may retry freely).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from functions.credits.errors import Conflict
from functions.shared.errors import ErrorCode

# Who changed a status when the request context names no principal (a local call without SigV4).
UNKNOWN_PRINCIPAL = "unknown"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class AccountClosed(Conflict):
    """The account is closed: it takes no grants, keys, links or status changes any more."""

    code = ErrorCode.ACCOUNT_CLOSED

    def __init__(self, account_id: str, action: str) -> None:
        super().__init__(f"account {account_id} is closed: {action} refused", account_id=account_id)


class AccountSuspended(Conflict):
    """A suspended account takes no new keys or links until it is resumed."""

    code = ErrorCode.ACCOUNT_SUSPENDED

    def __init__(self, account_id: str, action: str) -> None:
        super().__init__(f"account {account_id} is suspended: {action} refused", account_id=account_id)


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One recorded change of an account's status."""

    status: AccountStatus
    reason: str
    changed_by: str
    changed_at: datetime


def is_status_change(account_id: str, current: AccountStatus, requested: AccountStatus) -> bool:
    """True when ``requested`` moves the account; False when it already has that status.

    Raises ``AccountClosed`` for any move away from ``closed``.
    """
    if current == requested:
        return False
    if current == AccountStatus.CLOSED:
        raise AccountClosed(account_id, f"changing the status to {requested.value}")
    return True


def require_usable(account_id: str, status: AccountStatus, action: str) -> None:
    """Refuse ``action`` (issuing a key, making a link) on an account that is not active."""
    if status == AccountStatus.CLOSED:
        raise AccountClosed(account_id, action)
    if status == AccountStatus.SUSPENDED:
        raise AccountSuspended(account_id, action)


def status_from_stored(value: str | None) -> AccountStatus:
    """The status as stored; items written before statuses existed count as active."""
    return AccountStatus.ACTIVE if value is None else AccountStatus(value)


def principal_from_request_context(request_context: object) -> str:
    """The IAM principal API Gateway verified for this call (``identity.userArn``), if any."""
    if isinstance(request_context, dict):
        identity = request_context.get("identity")
        if isinstance(identity, dict):
            user_arn = identity.get("userArn")
            if isinstance(user_arn, str) and user_arn:
                return user_arn
    return UNKNOWN_PRINCIPAL
