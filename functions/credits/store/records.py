"""The credits store's domain types: what goes into the store and what comes back out.

Frozen dataclasses, never pynamodb items: the service and its tests see only these, so
the storage layout (one balance item today, balance shards tomorrow; issue 14) can change
behind ``CreditsStore`` without touching the logic. Refusals of a money movement are
outcomes (``InsufficientCredits``, ``GrantOverLimit``, ...), not exceptions: callers match
them by meaning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Generic, NamedTuple, TypeVar

from functions.credits.sellers.records import (
    AccountClosedToGrants,
    AccountNotActive,
    LinkExhausted,
    SpendLimitReached,
)
from functions.credits.sellers.scopes import KeyScope
from functions.shared.http_methods import DOWNLOAD_METHODS, UPLOAD_METHODS


class KeyState(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class LedgerKind(StrEnum):
    CHARGE = "charge"
    REFUND = "refund"
    GRANT = "grant"


@dataclass(frozen=True, slots=True)
class AccountRecord:
    account_id: str
    name: str
    status: str
    created_at: datetime
    # sellers (issue 16): the last status change.
    status_reason: str | None = None
    status_changed_by: str | None = None
    status_changed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class KeyRateLimit:
    """At most ``per_second`` requests a second on average, ``burst`` at once (GCRA)."""

    per_second: int
    burst: int


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One API key; the key itself is never stored, only its SHA-256 digest."""

    account_id: str
    key_id: str
    key_digest: str
    status: KeyState
    created_at: datetime
    name: str | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    rate_limit: KeyRateLimit | None = None
    # sellers (issue 16): what the key may do, and the credits it may be charged over its life.
    scope: KeyScope | None = None
    spend_limit: int | None = None

    @property
    def active(self) -> bool:
        return self.status is KeyState.ACTIVE


@dataclass(frozen=True, slots=True)
class KeyStanding:
    """A key and its account's key revocation count, read in one atomic snapshot."""

    key: KeyRecord
    key_revocations: int


@dataclass(frozen=True, slots=True)
class ChargeIntent:
    """Take ``amount`` credits from ``account_id`` for the request ``request_id``, once.

    ``bytes``: what the request moves (an upload's Content-Length, a download's bytes
    served; None when a download's size is unknown). ``range_header``: a GET's raw Range,
    kept so a retry of the request id is recognised as the same request.
    ``key_revocations_seen``: when the key's facts came from a container's cache, the
    account's revocation count they were read with; the charge then also requires it
    unchanged, so a key revoked since is never charged.
    """

    account_id: str
    key_id: str
    request_id: str
    amount: int
    method: str
    path: str
    bytes: int | None
    now: datetime
    range_header: str | None = None
    key_revocations_seen: int | None = None
    # sellers (issue 16): the key's spend limit, and the link the request came through with its
    # use limit; each adds its counter to the charge (only when there is a limit).
    spend_limit: int | None = None
    link_digest: str | None = None
    link_max_uses: int | None = None


@dataclass(frozen=True, slots=True)
class ChargeRecord:
    """The outcome of a charge, keyed by its request id: idempotency and refunds."""

    request_id: str
    account_id: str
    key_id: str
    entry_id: str
    amount: int
    method: str
    path: str
    bytes: int | None
    created_at: datetime
    range_header: str | None = None
    # sellers (issue 16): counted on the key's spend counter; a refund gives it back.
    spend_counted: bool = False
    # sharding (issue 14): the balance shard the charge was taken from; its refund returns there.
    shard: int = 0


@dataclass(frozen=True, slots=True)
class RefundRecord:
    """The one refund a charge may have."""

    request_id: str
    account_id: str
    entry_id: str
    amount: int
    reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class GrantIntent:
    """Give ``amount`` credits once per ``idempotency_key``, if the balance stays ≤ ``max_balance``."""

    account_id: str
    amount: int
    reason: str
    idempotency_key: str
    max_balance: int
    now: datetime

    @property
    def request_id(self) -> str:
        return f"grant:{self.idempotency_key}"


@dataclass(frozen=True, slots=True)
class GrantRecord:
    account_id: str
    idempotency_key: str
    entry_id: str
    amount: int
    reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """One balance change; ``amount`` is signed (charges negative)."""

    account_id: str
    entry_id: str
    request_id: str
    kind: LedgerKind
    amount: int
    created_at: datetime
    method: str | None = None
    path: str | None = None
    bytes: int | None = None
    reason: str | None = None
    key_id: str | None = None


# --- outcomes of the money movements --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Charged:
    entry_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AlreadyCharged:
    """The request id was charged before: its first outcome, whatever the balance is now."""

    record: ChargeRecord


@dataclass(frozen=True, slots=True)
class InsufficientCredits:
    balance: int


@dataclass(frozen=True, slots=True)
class KeyRevocationsChanged:
    """A key of the account was revoked since the caller read the count it charged under."""


ChargeOutcome = (
    Charged
    | AlreadyCharged
    | InsufficientCredits
    | KeyRevocationsChanged
    # sellers (issue 16): a suspended or closed account, a key's spend limit, a link's uses.
    | AccountNotActive
    | SpendLimitReached
    | LinkExhausted
)


@dataclass(frozen=True, slots=True)
class Refunded:
    record: RefundRecord
    replayed: bool


@dataclass(frozen=True, slots=True)
class Granted:
    record: GrantRecord
    replayed: bool


@dataclass(frozen=True, slots=True)
class GrantOverLimit:
    """The grant would take the balance over its limit: nothing was granted."""


@dataclass(frozen=True, slots=True)
class NoSuchAccount:
    pass


GrantOutcome = Granted | GrantOverLimit | NoSuchAccount | AccountClosedToGrants


# --- reads ----------------------------------------------------------------------------------

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; ``next_cursor`` only when more may follow."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class UsageTotals:
    downloads: int = 0
    uploads: int = 0
    other_requests: int = 0
    bytes: int = 0
    credits_spent: int = 0
    refunds: int = 0
    credits_refunded: int = 0
    grants: int = 0
    credits_granted: int = 0


class UsageLine(NamedTuple):
    """The parts of a ledger entry that usage adds up."""

    kind: str
    amount: int
    method: str | None
    bytes: int | None


def usage_totals(lines: Iterable[UsageLine]) -> UsageTotals:
    """Add up ledger entries: requests by kind, bytes moved, credits spent, refunded and granted."""
    totals = dict.fromkeys((field.name for field in fields(UsageTotals)), 0)
    for line in lines:
        if line.kind == LedgerKind.CHARGE:
            method = line.method or ""
            if method in DOWNLOAD_METHODS:
                totals["downloads"] += 1
            elif method in UPLOAD_METHODS:
                totals["uploads"] += 1
            else:
                totals["other_requests"] += 1
            totals["bytes"] += line.bytes or 0
            totals["credits_spent"] += -line.amount
        elif line.kind == LedgerKind.REFUND:
            totals["refunds"] += 1
            totals["credits_refunded"] += line.amount
        elif line.kind == LedgerKind.GRANT:
            totals["grants"] += 1
            totals["credits_granted"] += line.amount
    return UsageTotals(**totals)
