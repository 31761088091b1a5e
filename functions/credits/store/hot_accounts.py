"""Which accounts the deployed shard-rate scheduler follows, found without a scan (issue 14).

The scheduler (``follow_shard_rates``, run by the credits Lambda on an EventBridge schedule) must
not scan the credits table for hot accounts. Instead, a small watch list names them: items
``hotaccounts#<bucket>`` / ``<account_id>`` in the credits table, each with a TTL, spread over
``WATCH_BUCKETS`` partition keys so marking never makes a hot partition of its own.

An account gets on the list when a credits container sees it busy:
* a charge of it failed as ``StoreUnavailable`` (throttled, or conflicts outlasting the retries):
  the clearest sign that its one balance partition is over its share;
* the container itself charged it ``MARK_CHARGES`` times within ``MARK_WINDOW`` (10/s from one
  container: a Lambda container serves one request at a time, so an account that busy in one
  container is busier across the fleet).
A container writes a mark at most once per ``MARK_INTERVAL`` per account (remembered in a bounded
TTL cache), so marking costs at most one write a minute per container per busy account, and
nothing for a quiet one. The scheduler re-marks every account it leaves with more than one shard,
so a split account stays followed (its merge when it cools down needs the scheduler too) until it
is back on one shard and its mark expires (``MARK_TTL``).
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from cachetools import TTLCache
from pynamodb.attributes import NumberAttribute, TTLAttribute
from pynamodb.exceptions import PynamoDBException

from functions.credits.data.binding import TableBinding, bound_to
from functions.credits.data.models import CreditsTableModel
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.errors import StoreUnavailable
from functions.credits.store.records import ChargeIntent, ChargeOutcome
from functions.tables.schema import TTL_ATTRIBUTE

logger = logging.getLogger(__name__)

WATCH_BUCKETS = 8
MARK_WINDOW = 10.0  # seconds
MARK_CHARGES = 100  # in MARK_WINDOW, from one container
MARK_INTERVAL = 60.0  # seconds between two marks of one account by one container
MARK_TTL = timedelta(minutes=15)
_REMEMBERED_ACCOUNTS = 10_000


def watch_bucket(account_id: str) -> int:
    return hashlib.sha256(account_id.encode()).digest()[0] % WATCH_BUCKETS


def watch_pk(bucket: int) -> str:
    return f"hotaccounts#{bucket}"


class HotAccountItem(CreditsTableModel):
    """pk=``hotaccounts#<bucket>`` sk=``<account_id>``: the scheduler follows this account's rate."""

    marked_at = NumberAttribute()  # epoch seconds
    ttl = TTLAttribute(attr_name=TTL_ATTRIBUTE)


class HotAccountList:
    """The watch list on one store's tables (its ``TableBinding``)."""

    def __init__(self, binding: TableBinding) -> None:
        self._binding = binding

    def mark(self, account_id: str, now: datetime) -> None:
        item = HotAccountItem(
            watch_pk(watch_bucket(account_id)),
            account_id,
            marked_at=int(now.timestamp()),
            ttl=now + MARK_TTL,
        )
        with bound_to(self._binding):
            item.save()

    def due(self, now: datetime, limit: int) -> list[str]:
        """Up to ``limit`` marked accounts whose mark has not expired (DynamoDB deletes expired
        items lazily, so they are skipped here). The buckets are read from a random one on, so a
        run cut short by ``limit`` does not always leave the same buckets out."""
        first = random.randrange(WATCH_BUCKETS)
        found: list[str] = []
        with bound_to(self._binding):
            for step in range(WATCH_BUCKETS):
                bucket = (first + step) % WATCH_BUCKETS
                for item in HotAccountItem.query(watch_pk(bucket), limit=limit - len(found)):
                    if item.ttl is not None and item.ttl > now:
                        found.append(item.sk)
                if len(found) >= limit:
                    break
        return found[:limit]


class MarksHotAccounts(Protocol):
    def mark(self, account_id: str, now: datetime) -> None: ...


@dataclass
class ChargeWatch:
    """A container's view of how busy each account is: marks busy accounts on the watch list."""

    watch_list: MarksHotAccounts
    clock: Callable[[], float] = time.monotonic
    mark_charges: int = MARK_CHARGES
    _windows: TTLCache[str, list[int]] = field(init=False)
    _marked: TTLCache[str, bool] = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._windows = TTLCache(maxsize=_REMEMBERED_ACCOUNTS, ttl=MARK_WINDOW, timer=self.clock)
        self._marked = TTLCache(maxsize=_REMEMBERED_ACCOUNTS, ttl=MARK_INTERVAL, timer=self.clock)

    def charged(self, account_id: str) -> None:
        """One charge of ``account_id`` by this container; marks it at ``mark_charges`` in a window."""
        with self._lock:
            # [charges in the window]: mutated in place, so the entry (the window) still expires
            # MARK_WINDOW after the first charge in it, and the next charge starts a new one.
            window = self._windows.get(account_id)
            if window is None:
                window = self._windows[account_id] = [0]
            window[0] += 1
            busy = window[0] >= self.mark_charges
        if busy:
            self._mark(account_id)

    def unavailable(self, account_id: str) -> None:
        """A charge of ``account_id`` found the store busy (throttled): mark it at once."""
        self._mark(account_id)

    def _mark(self, account_id: str) -> None:
        with self._lock:
            if account_id in self._marked:
                return
            self._marked[account_id] = True
        try:
            self.watch_list.mark(account_id, datetime.now(UTC))
        except PynamoDBException:
            # Best effort: a lost mark only delays the split to this container's next mark.
            logger.warning("hot account mark not written", exc_info=True)
            with self._lock:
                self._marked.pop(account_id, None)


class WatchedCreditsStore(DynamoDBCreditsStore):
    """The DynamoDB store of the credits Lambda: every charge also tells the container's
    ``ChargeWatch`` (no DynamoDB call unless the account is busy)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.charge_watch = ChargeWatch(HotAccountList(self.table_binding))

    def charge(self, intent: ChargeIntent) -> ChargeOutcome:
        try:
            outcome = super().charge(intent)
        except StoreUnavailable:
            self.charge_watch.unavailable(intent.account_id)
            raise
        self.charge_watch.charged(intent.account_id)
        return outcome
