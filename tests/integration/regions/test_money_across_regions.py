"""Money across three regions (issue 15, Must show): 3 regions x 8 threads charge one account while
refills and returns race grants, refunds and a revocation; then the audit is clean everywhere.

Each region is a ``CreditsService`` over its own in-memory store (the store contract's twin of the
DynamoDB store); transfers move credit through the stores' intent methods. The DynamoDB side of the
transfer protocol is covered by tests/contract/regions on DynamoDB Local.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from functions.credits.regions.billing import (
    is_transfer,
    ledger_total,
    regional_audit,
    regional_balance,
    regional_usage,
)
from functions.credits.regions.refills import SpendRateMeter, plan_refill
from functions.credits.regions.regional_authorize import RegionalAuthorizer
from functions.credits.regions.standing import apply_everywhere
from functions.credits.regions.transfers import (
    SETTLE_AFTER,
    InMemoryTransferBook,
    RegionLedgers,
    TransferCoordinator,
)
from functions.credits.regions.void_notices import (
    APPLY_AFTER,
    InMemoryVoidNoticeBook,
    apply_void_notices,
    post_void_notice,
)
from functions.credits.schemas import Decision, GrantRequest, IssueKeyRequest, RefundRequest
from functions.credits.service import CreditsService
from functions.credits.store.errors import StoreUnavailable
from functions.credits.store.memory import InMemoryCreditsStore
from functions.credits.store.records import KeyState, LedgerKind, LedgerRecord
from functions.shared.api_keys import hash_api_key
from tests.unit.credits.service_fakes import Harness, authorize_request

HOME = "eu-west-1"
REGIONS = (HOME, "us-east-1", "ap-northeast-1")
THREADS_PER_REGION = 8
REQUESTS_PER_THREAD = 30
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


class World:
    def __init__(self) -> None:
        self.harnesses = {region: Harness() for region in REGIONS}
        self.stores: dict[str, InMemoryCreditsStore] = {r: h.store for r, h in self.harnesses.items()}
        self.coordinator = TransferCoordinator(
            {
                region: RegionLedgers(store=store, book=InMemoryTransferBook())
                for region, store in self.stores.items()
            }
        )
        self.services: dict[str, CreditsService] = {r: h.service() for r, h in self.harnesses.items()}
        self.authorizer = RegionalAuthorizer(
            services=self.services, stores=self.stores, coordinator=self.coordinator, home=HOME
        )
        home = self.harnesses[HOME]
        self.account_id, self.digest = home.funded_key(self.services[HOME], 0)
        _, self.doomed_digest = self._second_key()
        self._replicate_users()

    def _second_key(self) -> tuple[str, str]:
        issued = self.services[HOME].issue_key(self.account_id, IssueKeyRequest())
        return issued.key_id, hash_api_key(issued.api_key)

    def _replicate_users(self) -> None:
        """What the users global table gives every credits region: the account and its keys."""
        home_store = self.stores[HOME]
        account = home_store.get_account(self.account_id)
        assert account is not None
        for region in REGIONS[1:]:
            self.stores[region].create_account(account)
            for key in home_store.list_keys(self.account_id, 100, None).items:
                self.stores[region].put_key(key)

    def grant(self, amount: int, key: str) -> None:
        request = GrantRequest(amount=amount, reason="top-up", idempotency_key=key)
        self.services[HOME].grant(self.account_id, request)

    def authorize(self, region: str, request_id: str, digest: str | None = None) -> Decision:
        return self.authorizer.authorize(region, authorize_request(digest or self.digest, request_id))

    def entries(self) -> list[LedgerRecord]:
        start, end = ALL_TIME
        return [
            entry
            for store in self.stores.values()
            for entry in store.ledger_page(
                self.account_id, start=start, end=end, limit=10_000, cursor=None
            ).items
        ]


def _audit(world: World) -> None:
    for region, store in world.stores.items():
        balance = store.get_balance(world.account_id)
        assert balance is not None
        assert balance >= 0, region
        assert ledger_total({region: store}, world.account_id, *ALL_TIME) == balance, region
    start, end = ALL_TIME
    audit = regional_audit(world.stores, world.coordinator, world.account_id, start=start, end=end)
    assert audit.problems == []


def test_three_regions_eight_threads_refills_returns_grants_refunds_and_a_revocation() -> None:
    world = World()
    world.grant(3000, "initial")
    meter = SpendRateMeter()
    ids = itertools.count()
    allowed: Counter[str] = Counter()
    allowed_in: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()
    revoked_at: list[datetime] = []

    def viewer(region: str) -> None:
        for _ in range(REQUESTS_PER_THREAD):
            request_id = f"{region}-{next(ids)}"
            digest = world.doomed_digest if next(ids) % 5 == 0 else world.digest
            decision = world.authorize(region, request_id, digest)
            if decision.decision == "allow":
                meter.record(region, world.account_id, decision.charged, datetime.now(UTC))
                with lock:
                    allowed[request_id] += 1
                    allowed_in[region] += 1
                if next(ids) % 7 == 0:  # an origin failure: refunded in the region that charged
                    world.services[region].refund(RefundRequest(request_id=request_id))

    def refiller() -> None:
        while not stop.is_set():
            now = datetime.now(UTC)
            for region in REGIONS[1:]:
                balances = regional_balance(world.stores, world.coordinator, world.account_id).by_region
                last = meter.last_spend(region, world.account_id)
                decision = plan_refill(
                    home=HOME,
                    region=region,
                    region_balance=balances[region],
                    home_balance=balances[HOME],
                    rate_per_second=meter.rate(region, world.account_id, now),
                    idle_for=(now - last) if last is not None else timedelta(hours=1),
                )
                if decision.amount > 0:
                    world.coordinator.start(
                        world.account_id, decision.source, decision.target, decision.amount
                    )

    def granter() -> None:
        for index in range(10):
            world.grant(50, f"racing-{index}")

    def revoker() -> None:
        doomed = world.stores[HOME].get_key_by_digest(world.doomed_digest)
        assert doomed is not None
        change = apply_everywhere(world.stores, lambda store: store.revoke_key(doomed, datetime.now(UTC)))
        assert change.pending_regions == ()
        revoked_at.append(datetime.now(UTC))

    viewers = [
        threading.Thread(target=viewer, args=(region,))
        for region in REGIONS
        for _ in range(THREADS_PER_REGION)
    ]
    others = [threading.Thread(target=granter), threading.Thread(target=revoker)]
    refill_thread = threading.Thread(target=refiller)
    refill_thread.start()
    for thread in [*viewers, *others]:
        thread.start()
    for thread in [*viewers, *others]:
        thread.join()
    stop.set()
    refill_thread.join()

    _audit(world)
    balance = regional_balance(world.stores, world.coordinator, world.account_id)
    assert balance.in_flight == 0
    spent = sum(regional_usage(world.stores, world.account_id, start=ALL_TIME[0], end=ALL_TIME[1]).values())
    assert balance.total == 3000 + 500 - spent
    assert all(count == 1 for count in allowed.values())
    # Every region charged; the credits regions started empty, so transfers fed them.
    assert all(allowed_in[region] > 0 for region in REGIONS)
    # Each request id was charged at most once across every region (net of refunds).
    net_by_request: Counter[str] = Counter()
    for entry in world.entries():
        if entry.kind in (LedgerKind.CHARGE, LedgerKind.REFUND) and not is_transfer(entry):
            net_by_request[entry.request_id] -= entry.amount
    assert all(0 <= net <= 1 for net in net_by_request.values())
    # The revoked key is refused in every region from then on.
    for region in REGIONS:
        key = world.stores[region].get_key_by_digest(world.doomed_digest)
        assert key is not None
        assert key.status is KeyState.REVOKED
        late = world.authorize(region, f"late-{region}", world.doomed_digest)
        assert late.decision == "deny"


def test_a_retry_in_another_region_after_a_timeout_is_charged_once() -> None:
    world = World()
    world.grant(10, "fund")
    first, second = "ap-northeast-1", "us-east-1"
    # The first region charges; the reply is lost and the edge's void there fails.
    assert world.authorize(first, "req-retried").decision == "allow"
    book = InMemoryVoidNoticeBook()
    post_void_notice(book, "req-retried", first, second)
    assert world.authorize(second, "req-retried").decision == "allow"
    (notice,) = book.pending(first)
    apply_void_notices(book, first, world.stores[first], notice.posted_at + APPLY_AFTER)
    assert -sum(entry.amount for entry in world.entries() if entry.request_id == "req-retried") == 1
    _audit(world)
    assert regional_balance(world.stores, world.coordinator, world.account_id).total == 9


def test_the_last_credit_can_be_spent_from_any_region() -> None:
    for spender in REGIONS:
        world = World()
        world.grant(3, "fund")
        # One credit in each region, none left in home.
        world.coordinator.start(world.account_id, HOME, "us-east-1", 1)
        world.coordinator.start(world.account_id, HOME, "ap-northeast-1", 1)
        decisions = [world.authorize(spender, f"last-{index}") for index in range(4)]
        assert [d.decision for d in decisions] == ["allow", "allow", "allow", "deny"]
        assert decisions[-1].reason == "insufficient_credits"
        assert regional_balance(world.stores, world.coordinator, world.account_id).total == 0
        _audit(world)


def test_home_down_regions_keep_charging_and_grants_wait() -> None:
    world = World()
    world.grant(10, "fund")
    world.coordinator.start(world.account_id, HOME, "us-east-1", 5)
    world.stores[HOME].unavailable = True
    decision = world.authorize("us-east-1", "while-home-down")
    assert decision.decision == "allow"
    with pytest.raises(StoreUnavailable):
        world.grant(5, "waits")
    world.stores[HOME].unavailable = False
    world.grant(5, "waits")
    _audit(world)
    assert regional_balance(world.stores, world.coordinator, world.account_id).total == 14


def test_a_target_region_down_mid_transfer_is_in_flight_then_settles() -> None:
    world = World()
    world.grant(20, "fund")
    world.stores["ap-northeast-1"].unavailable = True
    sent = world.coordinator.start(world.account_id, HOME, "ap-northeast-1", 8)
    assert sent.state.value == "sent"
    world.stores["ap-northeast-1"].unavailable = False
    balance = regional_balance(world.stores, world.coordinator, world.account_id)
    assert balance.in_flight == 8
    assert balance.total == 20
    later = datetime.now(UTC) + SETTLE_AFTER + timedelta(seconds=1)
    settled = TransferCoordinator(
        {r: RegionLedgers(store=s, book=b) for r, (s, b) in _ledgers(world).items()}, clock=lambda: later
    ).settle(HOME)
    assert [record.state.value for record in settled] == ["done"]
    after = regional_balance(world.stores, world.coordinator, world.account_id)
    assert after.in_flight == 0
    assert after.by_region["ap-northeast-1"] == 8
    _audit(world)


def _ledgers(world: World) -> dict[str, tuple[InMemoryCreditsStore, InMemoryTransferBook]]:
    books = world.coordinator._regions
    return {region: (world.stores[region], books[region].book) for region in REGIONS}  # type: ignore[misc]


def test_the_audit_names_credit_that_is_nowhere() -> None:
    world = World()
    world.grant(20, "fund")
    world.stores["us-east-1"].unavailable = True
    world.coordinator.start(world.account_id, HOME, "us-east-1", 7)
    world.stores["us-east-1"].unavailable = False
    start, end = ALL_TIME
    assert regional_audit(world.stores, world.coordinator, world.account_id, start=start, end=end).clean
    # An auditor that cannot see the transfer books finds 7 credits neither held nor in flight.
    blind = TransferCoordinator(
        {
            region: RegionLedgers(store=store, book=InMemoryTransferBook())
            for region, store in world.stores.items()
        }
    )
    audit = regional_audit(world.stores, blind, world.account_id, start=start, end=end)
    assert audit.problems == ["balances 13 + in flight 0 != granted 20 - spent 0"]
