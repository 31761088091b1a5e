"""Authorize in a credits region, and never deny while the account has credit anywhere (issue 15).

A region charges from its own shards. When they are short the request pays the far round trip
once: credit is gathered into this region by transfers (from home first, then from the other
regions) and the charge is tried again with the same request id. ``insufficient_credits`` is the
answer only when home and every region together are short.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from functions.credits.regions.leases import LeaseBook, require_lease
from functions.credits.regions.transfers import TransferCoordinator, TransferState
from functions.credits.schemas import AuthorizeRequest, Decision, DenialReason
from functions.credits.service import CreditsService
from functions.credits.store.errors import StoreUnavailable
from functions.credits.store.protocol import CreditsStore


class RegionalAuthorizer:
    """Each region's ``CreditsService`` plus the transfers that refill a short region on demand."""

    def __init__(
        self,
        *,
        services: Mapping[str, CreditsService],
        stores: Mapping[str, CreditsStore],
        coordinator: TransferCoordinator,
        home: str,
        leases: Mapping[str, LeaseBook] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``leases``: each credits region's standing lease (leases.py); home needs none."""
        self._services = dict(services)
        self._stores = dict(stores)
        self._coordinator = coordinator
        self._home = home
        self._leases = dict(leases or {})
        self._clock = clock

    def authorize(self, region: str, request: AuthorizeRequest) -> Decision:
        """Raises ``LeaseLapsed`` (a 503: the edge tries the next region) in a region cut off from home."""
        if region != self._home and region in self._leases:
            require_lease(self._leases[region], self._clock())
        decision = self._services[region].authorize(request)
        if decision.reason != DenialReason.INSUFFICIENT_CREDITS or decision.account_id is None:
            return decision
        if not self.gather(region, decision.account_id, decision.price):
            return decision
        return self._services[region].authorize(request)

    def gather(self, region: str, account_id: str, price: int) -> bool:
        """Bring ``region``'s balance up to ``price`` by transfers; False when every region is short.

        A donor that cannot be reached (home down, a region cut off) is skipped: the others may
        still cover the price. If they do not, the answer is not "short" (the unreachable donor may
        hold credit) but ``StoreUnavailable``: a 503 with Retry-After, and the edge's failover.
        """
        donors = [self._home, *sorted(r for r in self._stores if r not in (self._home, region))]
        unreachable: list[str] = []
        for donor in donors:
            if (self._stores[region].get_balance(account_id) or 0) >= price:
                return True
            if donor == region:
                continue
            try:
                self._take_from(donor, region, account_id, price)
            except StoreUnavailable:
                unreachable.append(donor)
        if (self._stores[region].get_balance(account_id) or 0) >= price:
            return True
        if unreachable:
            raise StoreUnavailable(
                f"credit of {account_id} may be in {', '.join(unreachable)}, unreachable now"
            )
        return False

    def _take_from(self, donor: str, region: str, account_id: str, price: int) -> None:
        held = self._stores[region].get_balance(account_id) or 0
        available = self._stores[donor].get_balance(account_id) or 0
        amount = min(price - held, available)
        if amount > 0:
            record = self._coordinator.start(account_id, donor, region, amount)
            if record.state is TransferState.OPEN:
                # The donor's debit could not be made (its store unreachable): not "short".
                raise StoreUnavailable(f"{donor} did not answer the transfer")
