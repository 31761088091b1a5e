"""``balance.low`` across credits regions (fifth session), on DynamoDB Local: each region in a
database of its own, home's upkeep as deployed (``dynamodb_runtime``), home's credits stream read
and judged as the consumer Lambda does. Judged on the account's total (home + regions + in flight):
a refill that drops home under a threshold raises nothing; spending in a region that takes the total
under it raises exactly one event, whoever judges how often; a grant re-arms it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from functions.account_events.events import AccountEvent, EventType
from functions.account_events.sharded_balance import ShardedBalanceJudge, judge_from_environment
from functions.account_events.stream_records import derive_events
from functions.credits.data.binding import TableBinding, bound_to
from functions.credits.data.tables import bind_tables, table_binding
from functions.credits.regions.billing import regional_balance
from functions.credits.regions.dynamodb_runtime import DynamoDBRegionOpener, dynamodb_runtime
from functions.credits.regions.runtime import RegionalRuntime
from functions.credits.regions.topology import RegionsTopology
from functions.credits.schemas import CreateAccountRequest, GrantRequest
from functions.credits.service import CreditsService
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.protocol import CreditsStore
from functions.credits.store.rebalancer import ShardRebalancer
from functions.credits.store.records import Charged, ChargeIntent
from functions.shared.environment_variables import EDGEMETER_CREDITS_TABLE, EDGEMETER_DYNAMODB_ENDPOINT
from local.dynamodb_local import DynamoDBLocal
from local.events import StreamReader, ensure_stream, local_clients
from tests.contract.regions.conftest import Switchable, regional_tables, replicate_users

pytestmark = pytest.mark.dynamodb

HOME = "eu-west-1"
NEAR = "ap-northeast-1"
OTHER = "us-east-1"
THRESHOLD = 60


@pytest.fixture
def settings(dynamodb_local_per_region: DynamoDBLocal) -> Iterator[dict[str, Settings]]:
    with regional_tables(dynamodb_local_per_region, (HOME, NEAR, OTHER)) as per_region:
        yield per_region


class HomeConsumer:
    """Home's credits stream from now on, judged as the consumer Lambda judges a batch: the totals
    first (sharded accounts, the upkeep's regional judgements), then record by record."""

    def __init__(self, home: Settings) -> None:
        assert home.dynamodb_endpoint is not None
        dynamodb, streams = local_clients(home.dynamodb_endpoint, HOME)
        self.reader = StreamReader(streams, ensure_stream(dynamodb, home.credits_table), "LATEST")
        judge = judge_from_environment(
            {
                EDGEMETER_CREDITS_TABLE: home.credits_table,
                EDGEMETER_DYNAMODB_ENDPOINT: home.dynamodb_endpoint,
                "AWS_REGION": HOME,
            }
        )
        assert judge is not None
        self.judge: ShardedBalanceJudge = judge
        self.drain()  # fixes the LATEST iterators before the test changes anything

    def drain(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        while batch := self.reader.poll():
            records.extend(batch)
        return records

    def judged(self, records: Sequence[dict[str, Any]]) -> list[AccountEvent]:
        events = self.judge.judge(records)
        return events + [event for record in records for event in derive_events(record)]


class RegionalAccount:
    """One account funded in home with a low-balance threshold, and home's upkeep over 3 regions."""

    def __init__(self, settings: dict[str, Settings], credits: int) -> None:
        self.settings = settings
        self.topology = RegionsTopology(
            home=HOME,
            credits_tables={region: settings[region].credits_table for region in (NEAR, OTHER)},
            home_credits_table=settings[HOME].credits_table,
        )
        home_store = DynamoDBCreditsStore(settings[HOME])
        self.home = CreditsService(home_store, settings[HOME])
        self.account_id = self.home.create_account(CreateAccountRequest(name="regional")).account_id
        self.grant(credits, "fund")
        assert home_store.set_alert_thresholds(self.account_id, [THRESHOLD])
        replicate_users(settings, HOME)
        self.runtime = self.new_runtime()

    def new_runtime(self) -> RegionalRuntime:
        """Home's runtime as one credits Lambda container builds it."""
        return dynamodb_runtime(self.topology, self.settings[HOME])

    def runtime_at(self, clock: Callable[[], datetime]) -> RegionalRuntime:
        """Home's runtime as ``dynamodb_runtime`` builds it, on ``clock`` (idle returns take 15 min)."""
        opener = DynamoDBRegionOpener(self.topology, self.settings[HOME])
        handles = {region: opener.open(region) for region in self.topology.regions}
        bind_tables(self.settings[HOME])
        return RegionalRuntime(home=HOME, handles=handles, pending=opener.pending_changes(), clock=clock)

    def split_home(self, shards: int) -> None:
        """Spread home's balance over ``shards`` balance shards (issue 14)."""
        with bound_to(self.settings_binding()):
            assert ShardRebalancer(self.settings[HOME]).set_count(self.account_id, shards)

    def settings_binding(self) -> TableBinding:
        return table_binding(self.settings[HOME])

    def grant(self, amount: int, idempotency_key: str) -> None:
        request = GrantRequest(amount=amount, reason="top-up", idempotency_key=idempotency_key)
        self.home.grant(self.account_id, request)

    def spend(self, region: str, amount: int, request_id: str) -> None:
        intent = ChargeIntent(
            account_id=self.account_id,
            key_id="k",
            request_id=request_id,
            amount=amount,
            method="GET",
            path="/big",
            bytes=None,
            now=datetime.now(UTC),
        )
        assert isinstance(self.runtime.stores[region].charge(intent), Charged)

    def ask(self, region: str, credits: int) -> None:
        """What a dry region's authorizer notes (NotingAuthorizer): home refills it next upkeep."""
        accounts = self.runtime.handles[region].accounts
        assert accounts is not None
        accounts.note(self.account_id, datetime.now(UTC), asked=credits)

    def balances(self) -> tuple[int, int]:
        """(home's balance, the total across regions)."""
        split = regional_balance(self.runtime.stores, self.runtime.coordinator, self.account_id)
        return split.by_region[HOME], split.total


def lows(events: Sequence[AccountEvent]) -> list[AccountEvent]:
    return [event for event in events if event.type is EventType.BALANCE_LOW]


def test_a_refill_that_drops_home_under_a_threshold_raises_nothing(settings: dict[str, Settings]) -> None:
    account = RegionalAccount(settings, 100)
    consumer = HomeConsumer(settings[HOME])
    account.ask(NEAR, 30)  # 30 credits asked: 0.5/s, so home refills 61 (120 s of it, + 1)
    report = account.runtime.upkeep()
    assert [(m.target_region, m.amount) for m in report.moves] == [(NEAR, 61)]
    home_balance, total = account.balances()
    assert home_balance < THRESHOLD <= total == 100
    records = consumer.drain()
    assert records, "the refill's debit of home is on home's stream"
    assert lows(consumer.judged(records)) == []
    assert report.low_balance.marked == [account.account_id]
    assert report.low_balance.judged_low == []


def test_spending_in_a_region_under_a_threshold_raises_one_event_whoever_judges(
    settings: dict[str, Settings],
) -> None:
    account = RegionalAccount(settings, 100)
    consumer = HomeConsumer(settings[HOME])
    account.ask(NEAR, 30)
    account.runtime.upkeep()  # refill: home 39, near 61
    account.spend(NEAR, 45, "near-big")  # the total falls to 55, under 60, in the region only
    account.spend(HOME, 1, "home-small")  # home falls too: its consumer must not judge home alone
    assert account.balances()[1] == 54
    before = lows(consumer.judged(consumer.drain()))
    assert before == [], "nothing judged the total yet: the upkeep does"

    # Two upkeep containers judge the same crossing at once, twice each.
    runtimes = [account.new_runtime(), account.new_runtime()]
    threads = [threading.Thread(target=runtime.upkeep) for runtime in runtimes for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = consumer.drain()
    # The consumer judges the batch in two halves at once, then the whole batch again (a redelivery).
    halves = [records[: len(records) // 2], records[len(records) // 2 :]]
    judged: list[list[AccountEvent]] = [[], []]

    def judge_half(index: int) -> None:
        judged[index] = consumer.judged(halves[index])

    judges = [threading.Thread(target=judge_half, args=(index,)) for index in range(2)]
    for thread in judges:
        thread.start()
    for thread in judges:
        thread.join()
    fired = lows(judged[0] + judged[1])
    assert len(fired) == 1
    event = fired[0]
    assert event.account_id == account.account_id
    assert event.detail["threshold"] == THRESHOLD
    assert event.detail["balance"] == 54
    assert sum(event.detail["regions"].values()) + event.detail["in_flight"] == 54
    redelivered = lows(consumer.judged(records))
    assert {e.id for e in redelivered} <= {event.id}, "a redelivery fires under the same id, or not at all"
    account.runtime.upkeep()
    assert lows(consumer.judged(consumer.drain())) == [], "already fired: still under, not again"


def test_a_grant_at_home_re_arms_and_the_next_crossing_fires_again(settings: dict[str, Settings]) -> None:
    account = RegionalAccount(settings, 100)
    consumer = HomeConsumer(settings[HOME])
    account.ask(NEAR, 30)
    account.runtime.upkeep()
    account.spend(NEAR, 45, "near-big")  # total 55
    account.runtime.upkeep()
    first = lows(consumer.judged(consumer.drain()))
    assert [e.detail["balance"] for e in first] == [55]

    account.grant(50, "top-up-1")  # total 105: at or above 60 again
    account.runtime.upkeep()
    assert lows(consumer.judged(consumer.drain())) == []
    home_balance, total = account.balances()
    assert total == 105
    account.spend(HOME if home_balance >= 50 else NEAR, 50, "second-fall")  # total 55 again
    account.runtime.upkeep()
    second = lows(consumer.judged(consumer.drain()))
    assert [e.detail["balance"] for e in second] == [55]
    assert second[0].id != first[0].id


def test_a_sharded_home_is_judged_on_the_total_too(settings: dict[str, Settings]) -> None:
    account = RegionalAccount(settings, 100)
    account.split_home(4)
    consumer = HomeConsumer(settings[HOME])
    account.ask(NEAR, 30)
    account.runtime.upkeep()  # refill 61 from home's shards: home's sum 39, the total 100
    assert account.balances() == (39, 100)
    assert lows(consumer.judged(consumer.drain())) == []
    account.spend(NEAR, 45, "near-big")
    account.runtime.upkeep()
    fired = lows(consumer.judged(consumer.drain()))
    assert [(e.detail["threshold"], e.detail["balance"]) for e in fired] == [(THRESHOLD, 55)]


def test_once_the_credit_is_all_home_again_home_is_judged_alone_as_before(
    settings: dict[str, Settings],
) -> None:
    account = RegionalAccount(settings, 100)
    now = [datetime.now(UTC)]
    runtime = account.runtime_at(lambda: now[0])
    consumer = HomeConsumer(settings[HOME])
    accounts = runtime.handles[NEAR].accounts
    assert accounts is not None
    accounts.note(account.account_id, now[0], asked=30)
    runtime.upkeep()  # refill 61
    now[0] += timedelta(minutes=16)  # the region idle: everything goes home, the account forgotten
    report = runtime.upkeep()
    assert [(m.source_region, m.target_region, m.amount) for m in report.moves] == [(NEAR, HOME, 61)]
    assert report.low_balance.unmarked == [account.account_id]
    assert lows(consumer.judged(consumer.drain())) == []
    account.spend(HOME, 45, "home-big")  # home is the total again: the record alone says it crossed
    fired = lows(consumer.judged(consumer.drain()))
    assert [e.detail for e in fired] == [{"threshold": THRESHOLD, "balance": 55, "previous_balance": 100}]


def test_a_region_that_cannot_be_read_is_not_judged_without_its_share(settings: dict[str, Settings]) -> None:
    account = RegionalAccount(settings, 100)
    consumer = HomeConsumer(settings[HOME])
    account.ask(NEAR, 30)
    account.runtime.upkeep()  # home 39, near 61
    opener = DynamoDBRegionOpener(account.topology, settings[HOME])
    handles = {region: opener.open(region) for region in account.topology.regions}
    near_store = Switchable(handles[NEAR].store)
    handles[NEAR] = replace(handles[NEAR], store=cast(CreditsStore, near_store))
    bind_tables(settings[HOME])
    runtime = RegionalRuntime(home=HOME, handles=handles, pending=opener.pending_changes())
    near_store.down = True
    report = runtime.upkeep()  # home's 39 alone is under 60: judging it would be a false alarm
    assert account.account_id not in report.low_balance.judged_low
    assert lows(consumer.judged(consumer.drain())) == []
    near_store.down = False
    account.spend(NEAR, 45, "near-big")  # now the total (55) is under
    report = runtime.upkeep()
    assert report.low_balance.judged_low == [account.account_id]
    assert [e.detail["balance"] for e in lows(consumer.judged(consumer.drain()))] == [55]
