"""Refills ahead of need, idle returns, and the dry region's immediate transfer (issue 15).

A region's credit should last: when it holds less than ``LOW_WATER`` of its observed spend, home
sends it ``REFILL`` of spend (bounded by what home holds); a region idle for ``IDLE_AFTER`` sends
everything home. A charge in a region whose shards are dry asks home for an immediate transfer of
at least its price (the far round trip, paid only then). The rate is observed per region and
account by ``SpendRateMeter`` (in AWS the region's stream consumer feeds it every charge).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from functions.credits.regions.transfers import TransferCoordinator, TransferRecord, TransferState

LOW_WATER = timedelta(seconds=60)
REFILL = timedelta(seconds=120)
IDLE_AFTER = timedelta(minutes=15)
RATE_WINDOW = timedelta(seconds=60)


class SpendRateMeter:
    """Credits spent per second over the last ``RATE_WINDOW``, per (region, account)."""

    def __init__(self) -> None:
        self._spends: dict[tuple[str, str], deque[tuple[datetime, int]]] = {}
        self._lock = threading.Lock()

    def record(self, region: str, account_id: str, amount: int, at: datetime) -> None:
        with self._lock:
            self._spends.setdefault((region, account_id), deque()).append((at, amount))

    def rate(self, region: str, account_id: str, now: datetime) -> float:
        with self._lock:
            spends = self._spends.get((region, account_id), deque())
            while spends and now - spends[0][0] > RATE_WINDOW:
                spends.popleft()
            return sum(amount for _, amount in spends) / RATE_WINDOW.total_seconds()

    def last_spend(self, region: str, account_id: str) -> datetime | None:
        with self._lock:
            spends = self._spends.get((region, account_id))
            return spends[-1][0] if spends else None


@dataclass(frozen=True, slots=True)
class RefillDecision:
    """Move ``amount`` from ``source`` to ``target`` (0: nothing to do)."""

    source: str
    target: str
    amount: int


def plan_refill(
    *,
    home: str,
    region: str,
    region_balance: int,
    home_balance: int,
    rate_per_second: float,
    idle_for: timedelta | None,
) -> RefillDecision:
    """One region's next move for one account: a refill, a return home, or nothing."""
    if idle_for is not None and idle_for >= IDLE_AFTER and region_balance > 0:
        return RefillDecision(source=region, target=home, amount=region_balance)
    if rate_per_second <= 0:
        return RefillDecision(source=home, target=region, amount=0)
    if region_balance >= rate_per_second * LOW_WATER.total_seconds():
        return RefillDecision(source=home, target=region, amount=0)
    wanted = int(rate_per_second * REFILL.total_seconds()) + 1
    return RefillDecision(source=home, target=region, amount=min(wanted, home_balance))


def immediate_transfer(
    coordinator: TransferCoordinator,
    *,
    account_id: str,
    home: str,
    region: str,
    price: int,
    home_balance: int,
    rate_per_second: float,
) -> TransferRecord | None:
    """A dry region's request: at least ``price`` from home now (a refill's worth when home has it).

    None when home cannot cover the price: only then is the request denied for credits.
    """
    if home_balance < price:
        return None
    amount = min(max(price, int(rate_per_second * REFILL.total_seconds())), home_balance)
    record = coordinator.start(account_id, home, region, amount)
    return record if record.state is TransferState.DONE else None
