"""The sellers' store records: what the store's sellers methods take and give back.

Frozen dataclasses, never pynamodb items, like ``functions/credits/store/records.py``; the
charge outcomes added by issue 16 are here too and join ``ChargeOutcome`` there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from functions.credits.sellers.lifecycle import AccountStatus


@dataclass(frozen=True, slots=True)
class ListedAccountRecord:
    account_id: str
    name: str
    status: AccountStatus
    created_at: datetime
    list_sort_key: str


@dataclass(frozen=True, slots=True)
class AccountListSlice:
    """Accounts in list order after a cursor; ``more`` when the index holds more beyond them."""

    accounts: list[ListedAccountRecord]
    more: bool


@dataclass(frozen=True, slots=True)
class BalanceFacts:
    """What the balance item holds besides the balance's movements' history."""

    balance: int
    account_status: AccountStatus
    alert_thresholds: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """The status moved as asked, from ``previous``."""

    previous: AccountStatus


@dataclass(frozen=True, slots=True)
class StatusRaced:
    """The account's status was not the expected one any more (another change got in first)."""


StatusChangeOutcome = StatusChanged | StatusRaced


# --- charge outcomes of issue 16 ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountNotActive:
    """The account is suspended or closed: nothing was charged."""

    status: AccountStatus


@dataclass(frozen=True, slots=True)
class SpendLimitReached:
    """The key's spend limit leaves no room for this charge: nothing was charged."""


@dataclass(frozen=True, slots=True)
class LinkExhausted:
    """The link's uses are spent: nothing was charged."""


@dataclass(frozen=True, slots=True)
class AccountClosedToGrants:
    """A grant to a closed account: nothing was granted."""
