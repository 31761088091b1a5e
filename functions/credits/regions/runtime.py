"""Regional credits wired together (issue 15): one runtime per credits Lambda container.

Every region's store, transfer book, lease and account registry are opened *per instance* (a
``RegionOpener`` makes them: DynamoDB in AWS and locally, the in-memory twins in tests), so home's
function holds every region's store at once and a credits region holds home's and its peers'.

- A **credits region** authorizes through ``RegionalAuthorizer``: its lease is checked, it charges
  from its own shards, and when they are short it gathers by transfer from home, then from the
  other regions (the far round trip, paid only then), noting the account in its registry so home
  refills it ahead of need from then on.
- **Home** runs ``upkeep`` on a schedule: the transfer retrier (``settle``) over every region's
  book, the lease keeper's renewals (missed standing changes first), then per region and account a
  refill sized by the observed rate, or the whole regional balance home when the region was idle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from functions.credits.data.binding import TableBinding
from functions.credits.regions.leases import LeaseBook
from functions.credits.regions.low_balance import LowBalanceRound, RegionalLowBalanceJudge
from functions.credits.regions.refills import IDLE_AFTER, RATE_WINDOW, RefillDecision, plan_refill
from functions.credits.regions.regional_authorize import RegionalAuthorizer
from functions.credits.regions.regional_items import NotedAccount, RegionalAccounts
from functions.credits.regions.regional_standing import (
    InMemoryPendingChanges,
    PendingChanges,
    StandingKeeper,
    StandingTarget,
)
from functions.credits.regions.transfers import (
    RegionLedgers,
    TransferBook,
    TransferCoordinator,
    TransferRecord,
    TransferState,
)
from functions.credits.schemas import AuthorizeRequest, Decision
from functions.credits.service import Clock, CreditsService, ObjectsCatalog, Telemetry
from functions.credits.settings import Settings
from functions.credits.store.errors import StoreUnavailable
from functions.credits.store.protocol import CreditsStore

# A transfer still ``sent`` this long after it started is reversed, unless its target claimed it.
REVERSE_AFTER = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class RegionHandles:
    """What one region gives the runtime; home has no lease and no registry (it holds the pool)."""

    store: CreditsStore
    book: TransferBook
    lease: LeaseBook | None = None
    accounts: RegionalAccounts | None = None
    # What applies a revocation or status change in this region (regional_standing.py).
    standing: StandingTarget | None = None


class RegionOpener(Protocol):
    def open(self, region: str) -> RegionHandles: ...


@dataclass(frozen=True, slots=True)
class UpkeepReport:
    settled: list[TransferRecord] = field(default_factory=list)
    renewed: list[str] = field(default_factory=list)
    moves: list[TransferRecord] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    # balance.low across regions: what the run's judge did (low_balance.py); empty off DynamoDB.
    low_balance: LowBalanceRound = field(default_factory=LowBalanceRound)


class RegionDry(StoreUnavailable):
    """This region holds too little of the account's credit: the edge asks the next region (home
    holds the pool), and home's upkeep refills this region from the asks it noted."""


class NotingAuthorizer(RegionalAuthorizer):
    """``RegionalAuthorizer`` whose dry region does not gather inline: it notes what it was asked
    for and answers 503 (``RegionDry``), so the edge fails over at once.

    Why not the inline gather: a transfer is about eight sequential DynamoDB calls on two tables,
    each a far round trip from a credits region to home (200 ms from ap-northeast-1 to eu-west-1),
    well past the edge's per-attempt budget (about 1.1 s): the attempt would time out, be voided
    and fail over anyway, after paying the wait. Failing over at once pays one far round trip, the
    design's "only then"; the next upkeep round refills the region from the noted asks.
    """

    def __init__(
        self,
        runtime: RegionalRuntime,
        region: str,
        service: CreditsService,
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(
            services={region: service},
            stores=runtime.stores,
            coordinator=runtime.coordinator,
            home=runtime.home,
            leases=runtime.leases,
            clock=clock,
        )
        self._registries = {r: h.accounts for r, h in runtime.handles.items() if h.accounts is not None}
        self._clock_now = clock

    def gather(self, region: str, account_id: str, price: int) -> bool:
        registry = self._registries.get(region)
        if registry is None:
            return super().gather(region, account_id, price)
        registry.note(account_id, self._clock_now(), asked=price)
        raise RegionDry(f"{region} holds too little of {account_id}'s credit; asked home for a refill")


class RegionalRuntime:
    """Every region's handles, the coordinator over them, and what home and a region run."""

    def __init__(
        self,
        *,
        home: str,
        handles: Mapping[str, RegionHandles],
        pending: PendingChanges | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``pending``: where home records standing changes a region missed (durable in AWS)."""
        if home not in handles:
            raise ValueError("the runtime needs home's handles")
        self.home = home
        self.handles = dict(handles)
        self.stores: dict[str, CreditsStore] = {region: h.store for region, h in self.handles.items()}
        self._clock = clock
        self.coordinator = TransferCoordinator(
            {region: RegionLedgers(store=h.store, book=h.book) for region, h in self.handles.items()},
            clock=clock,
        )
        self.leases: dict[str, LeaseBook] = {
            region: h.lease for region, h in self.handles.items() if h.lease is not None and region != home
        }
        self.keeper = StandingKeeper(
            {region: h.standing for region, h in self.handles.items() if h.standing is not None},
            self.leases,
            pending or InMemoryPendingChanges(),
        )

    @property
    def credits_regions(self) -> tuple[str, ...]:
        return tuple(region for region in self.handles if region != self.home)

    def authorizer(self, region: str, service: CreditsService) -> RegionalAuthorizer:
        """The authorizer of ``region``'s API: its own service, every region's store as a donor."""
        return NotingAuthorizer(self, region, service, self._clock)

    def upkeep(self) -> UpkeepReport:
        """Home's scheduled round: settle, renew leases, refill or return per region and account."""
        now = self._clock()
        renewed = self.keeper.renew(now)
        # A region whose lease home could not renew is cut off: its lease lapses unless home is back.
        report = UpkeepReport(renewed=renewed, unreachable=[r for r in self.leases if r not in renewed])
        for region in self.handles:
            try:
                report.settled.extend(self.coordinator.settle(region, reverse_after=REVERSE_AFTER))
            except StoreUnavailable:
                report.unreachable.append(region)
        judge = self._low_balance_judge()
        noted_before = self._noted_accounts(report.unreachable) if judge is not None else None
        if judge is not None and noted_before is not None:
            # Before the refills: a refill's debit of home must already carry the account's mark.
            judge.judge(noted_before, now, report.low_balance)
        for region in self.credits_regions:
            if region in report.unreachable:
                continue
            try:
                report.moves.extend(self._refill_region(region, now))
            except StoreUnavailable:
                report.unreachable.append(region)
        if judge is not None and noted_before is not None and not report.unreachable:
            noted_after = self._noted_accounts(report.unreachable)
            if noted_after is not None and not report.unreachable:
                judge.unmark(noted_before - noted_after, report.low_balance)
        return report

    def _low_balance_judge(self) -> RegionalLowBalanceJudge | None:
        """The judge of totals when home's store is on DynamoDB (the in-memory twin has no stream,
        so no events to judge for)."""
        binding = getattr(self.stores[self.home], "table_binding", None)
        if not isinstance(binding, TableBinding):
            return None
        return RegionalLowBalanceJudge(
            home=self.home, stores=self.stores, coordinator=self.coordinator, home_binding=binding
        )

    def _noted_accounts(self, unreachable: list[str]) -> set[str] | None:
        """Every account a reachable region notes (a region failing to list is added to
        ``unreachable``); None when no region has a registry."""
        registries = {r: h.accounts for r, h in self.handles.items() if h.accounts is not None}
        if not registries:
            return None
        noted: set[str] = set()
        for region, registry in registries.items():
            if region in unreachable:
                continue
            try:
                noted.update(registry.noted())
            except StoreUnavailable:
                unreachable.append(region)
        return noted

    def _refill_region(self, region: str, now: datetime) -> list[TransferRecord]:
        registry = self.handles[region].accounts
        if registry is None:
            return []
        moves = []
        for account_id, noted in registry.noted().items():
            decision = self.plan(region, account_id, noted, now)
            if noted.asked:
                # Asks are one round's demand: counted once (a later dry request asks again), so
                # an account short everywhere does not pile up asks for one oversized refill later.
                registry.refilled(account_id)
            if decision.amount <= 0:
                continue
            record = self.coordinator.start(account_id, decision.source, decision.target, decision.amount)
            moves.append(record)
            if decision.target == self.home and record.state is TransferState.DONE:
                registry.forget(account_id)
        return moves

    def plan(self, region: str, account_id: str, noted: NotedAccount, now: datetime) -> RefillDecision:
        """One account's next move in ``region``: its balances, the region's recent ledger and the
        credits the region asked for (requests it sent elsewhere while dry) count as its rate."""
        store = self.stores[region]
        recent = store.usage(account_id, start=now - RATE_WINDOW, end=now)
        spent = max(0, recent.credits_spent - recent.credits_refunded) + noted.asked
        quiet_since = max(noted.noted_at, now - IDLE_AFTER)
        window = store.usage(account_id, start=quiet_since, end=now)
        requests = window.downloads + window.uploads + window.other_requests
        idle = requests == 0 and noted.asked == 0 and now - noted.noted_at >= IDLE_AFTER
        return plan_refill(
            home=self.home,
            region=region,
            region_balance=store.get_balance(account_id) or 0,
            home_balance=self.stores[self.home].get_balance(account_id) or 0,
            rate_per_second=spent / RATE_WINDOW.total_seconds(),
            idle_for=now - quiet_since if idle else None,
        )


class RegionalEdgeService(CreditsService):
    """A credits region's service as its API sees it: authorize goes through the regional authorizer.

    Everything else (refunds; the routes a region's API does not expose) is the plain service over
    the region's own store. The authorizer charges through a second ``CreditsService`` on the same
    store: ``RegionalAuthorizer`` calls a service's ``authorize``, which here is this override.
    ``runtime`` is called on the first authorize, not at cold start: opening the other regions may
    fail (home unreachable), and that must be this request's 503, not a broken container.
    """

    def __init__(
        self,
        store: CreditsStore,
        settings: Settings,
        *,
        runtime: Callable[[], RegionalRuntime],
        telemetry: Telemetry | None = None,
        catalog: ObjectsCatalog | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(store, settings, telemetry=telemetry, catalog=catalog, clock=clock)
        self._plain = CreditsService(store, settings, telemetry=telemetry, catalog=catalog, clock=clock)
        self._region = settings.region
        self._runtime = runtime
        self._authorizer: RegionalAuthorizer | None = None

    def authorize(self, request: AuthorizeRequest) -> Decision:
        if self._authorizer is None:
            self._authorizer = self._runtime().authorizer(self._region, self._plain)
        return self._authorizer.authorize(self._region, request)
