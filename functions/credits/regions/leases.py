"""The standing lease (issue 15 §4): a region home cannot reach stops charging on its own.

Home applies a revocation, suspension or close in every region before the call returns
(``standing.apply_everywhere``); a region it cannot reach is named in the reply. To make that
bounded, a region charges only under a lease home renews: every ``RENEW_EVERY`` home extends each
region's lease to now + ``LEASE``, *after* giving that region every standing change it missed. A
region home cannot reach keeps its old lease, which lapses within ``LEASE``; from then on it
refuses to charge (``LeaseLapsed``: the API answers 503, so the edge fails over to a region that
can), and resumes only once home has reached it, told it the new standing and renewed the lease.

The lease is per region, not per account: what cuts a region off from home cuts it off for every
account, and one item per region keeps renewals cheap. The change's reply states the moment the
change holds everywhere: now if every region took it, else now + ``LEASE``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from functions.credits.regions.standing import StandingChange, apply_everywhere
from functions.credits.store.errors import StoreUnavailable
from functions.credits.store.protocol import CreditsStore

# Home renews on an EventBridge schedule, whose finest rate is one minute and whose runs may come
# late or, rarely, not at all: a lease of two and a half renewals keeps a healthy region leased
# through one missed run. It is also how long a region cut off from home may still charge a key
# revoked meanwhile, and how long regions keep charging while home is down.
RENEW_EVERY = timedelta(minutes=1)
LEASE = timedelta(seconds=150)

StandingUpdate = Callable[[CreditsStore], None]


class LeaseLapsed(StoreUnavailable):
    """This region's lease from home has lapsed: it may not know the latest standing of keys."""


class LeaseBook(Protocol):
    """A region's lease item (in AWS: one item in the region's credits table)."""

    def lease_until(self) -> datetime | None: ...

    def extend(self, until: datetime) -> None: ...


class InMemoryLeaseBook:
    def __init__(self) -> None:
        self._until: datetime | None = None
        self._lock = threading.Lock()
        self.unavailable = False

    def lease_until(self) -> datetime | None:
        with self._lock:
            return self._until

    def extend(self, until: datetime) -> None:
        if self.unavailable:
            raise StoreUnavailable("the in-memory lease book is switched to unavailable")
        with self._lock:
            self._until = until if self._until is None else max(self._until, until)


def require_lease(book: LeaseBook, now: datetime) -> None:
    """What a region checks before it charges."""
    until = book.lease_until()
    if until is None or until <= now:
        raise LeaseLapsed("this region's standing lease has lapsed; home has not reached it")


@dataclass(frozen=True, slots=True)
class LeasedChange:
    change: StandingChange
    # When every region refuses under the new standing: now, or when the unreached ones' leases lapse.
    holds_everywhere_by: datetime


class LeaseKeeper:
    """Home's side: standing changes everywhere, and renewals that carry the missed ones first."""

    def __init__(self, stores: Mapping[str, CreditsStore], leases: Mapping[str, LeaseBook]) -> None:
        self._stores = dict(stores)
        self._leases = dict(leases)
        self._missed: dict[str, list[StandingUpdate]] = {region: [] for region in stores}
        self._lock = threading.Lock()

    def change_standing(self, update: StandingUpdate, now: datetime) -> LeasedChange:
        """Apply ``update`` in every region at once; remember it for the regions not reached."""
        change = apply_everywhere(self._stores, update)
        with self._lock:
            for region in change.pending_regions:
                self._missed[region].append(update)
        holds_by = now if not change.pending_regions else now + LEASE
        return LeasedChange(change=change, holds_everywhere_by=holds_by)

    def renew(self, now: datetime) -> list[str]:
        """Renew every reachable region's lease, after replaying what it missed; returns the renewed."""
        renewed = []
        for region, book in self._leases.items():
            with self._lock:
                missed = list(self._missed[region])
            try:
                for update in missed:
                    update(self._stores[region])
                book.extend(now + LEASE)
            except StoreUnavailable:
                continue
            with self._lock:
                del self._missed[region][: len(missed)]
            renewed.append(region)
        return renewed
