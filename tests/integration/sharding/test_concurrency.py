"""32 threads on 4 containers charge ONE account while its shards split, merge and rebalance,
with grants and refunds interleaved (issue 14), on DynamoDB Local.

Afterwards: the ledger equals the balance (the audit), no shard went below zero, every request id
was charged at most once (replays from other containers included), and the last credit was spent:
once nothing adds credit, the threads charge until denied and the balance ends at exactly zero.

Split shards charge by two single-item writes (issue 14 §4): the ledger writer runs on DynamoDB
Local's stream throughout, gives back the debits of replays that lost their request id, and is
drained (parked attempts settled) before the money is counted.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from functions.credits.ids import new_account_id
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.errors import StoreUnavailable
from functions.credits.store.rebalancer import ShardRebalancer
from functions.credits.store.records import (
    AccountRecord,
    AlreadyCharged,
    Charged,
    ChargeIntent,
    Granted,
    GrantIntent,
    InsufficientCredits,
)
from local.ledger_writer import LocalLedgerWriter
from ops.audit import DynamoDBCredentials, run_audit
from tests.contract.credits.conftest import local_credentials
from tests.integration.sharding.helpers import shard_balances

pytestmark = pytest.mark.dynamodb

CONTAINERS = 4
THREADS = 32
START_CREDITS = 300
GRANTS = 10
GRANT_AMOUNT = 20
REQUESTS_PER_THREAD = 24
_runs = itertools.count()


@pytest.fixture(scope="module")
def storm_settings(dynamodb_local: object) -> Iterator[Settings]:
    from functions.credits.data.tables import create_tables, delete_tables

    suffix = f"storm-{next(_runs)}-{random.getrandbits(32):08x}"
    settings = Settings(
        users_table=f"users-{suffix}",
        credits_table=f"credits-{suffix}",
        dynamodb_endpoint=dynamodb_local.endpoint_url,  # type: ignore[attr-defined]
        dynamodb_max_pool_connections=64,
        # 32 threads on one account's few items: DynamoDB Local cancels many transactions for
        # conflicts; enough attempts that a conflict never becomes a 503 here.
        transaction_attempts=50,
    )
    with local_credentials():
        create_tables(settings)
        yield settings
        delete_tables(settings)


@dataclass
class Tally:
    charged: Counter[str] = field(default_factory=Counter)
    replays: int = 0
    refunded: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _charge(store: DynamoDBCreditsStore, account_id: str, request_id: str, tally: Tally) -> bool:
    """One charge of 1 credit; False once the account is short."""
    try:
        outcome = store.charge(
            ChargeIntent(account_id, "k-storm", request_id, 1, "GET", "/hot", 1, datetime.now(UTC))
        )
    except StoreUnavailable:
        return True  # the edge's 503: nothing decided for this request id, the storm goes on
    with tally.lock:
        if isinstance(outcome, Charged):
            tally.charged[request_id] += 1
        elif isinstance(outcome, AlreadyCharged):
            tally.replays += 1
    assert isinstance(outcome, Charged | AlreadyCharged | InsufficientCredits), outcome
    return not isinstance(outcome, InsufficientCredits)


def _storm_worker(
    store: DynamoDBCreditsStore, account_id: str, thread: int, tally: Tally, stop: threading.Event
) -> None:
    """Charge new request ids, replay some of the thread's own and others', refund a few."""
    own = [f"t{thread}-{n}" for n in range(REQUESTS_PER_THREAD)]
    for n, request_id in enumerate(own):
        if stop.is_set():
            return
        _charge(store, account_id, request_id, tally)
        if n % 7 == 3:  # the same request id again, as another container's retry would send it
            _charge(store, account_id, f"t{(thread + 1) % THREADS}-{n}", tally)
        if n % 11 == 5:
            charge = store.get_charge(request_id)
            if (
                charge is not None
                and not store.refund(charge, reason="origin_500", now=datetime.now(UTC)).replayed
            ):
                with tally.lock:
                    tally.refunded += 1


def _reshaper(rebalancer: ShardRebalancer, account_id: str, stop: threading.Event) -> int:
    """Split, merge and rebalance in a loop until told to stop; how many changes committed."""
    committed = 0
    for count in itertools.cycle([2, 8, 4, 16, 1, 8]):
        if stop.is_set():
            return committed
        committed += rebalancer.set_count(account_id, count)
        committed += rebalancer.rebalance(account_id)
    return committed


def _granter(store: DynamoDBCreditsStore, account_id: str) -> int:
    granted = 0
    for n in range(GRANTS):
        for _ in range(2):  # every grant sent twice: granted once
            outcome = store.grant(
                GrantIntent(account_id, GRANT_AMOUNT, "top-up", f"storm-{n}", 10**9, datetime.now(UTC))
            )
            assert isinstance(outcome, Granted)
            granted += 0 if outcome.replayed else GRANT_AMOUNT
    return granted


def _drain(store: DynamoDBCreditsStore, account_id: str, thread: int, tally: Tally) -> None:
    for n in itertools.count():
        if not _charge(store, account_id, f"drain-{thread}-{n}", tally):
            return


def _spend_the_rest(
    stores: list[DynamoDBCreditsStore], writer: LocalLedgerWriter, account_id: str, tally: Tally
) -> None:
    """Every thread charges until denied; the writer settles; again while it gave credit back."""
    for round_number in range(4):
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            for result in [
                pool.submit(_drain, stores[t % CONTAINERS], account_id, t + THREADS * round_number, tally)
                for t in range(THREADS)
            ]:
                result.result()
        writer.drain(settle_all_parked=True)
        if stores[2].get_balance(account_id) == 0:
            return


def test_one_account_charged_by_32_threads_while_its_shards_move(storm_settings: Settings) -> None:
    stores = [DynamoDBCreditsStore(storm_settings) for _ in range(CONTAINERS)]
    with LocalLedgerWriter(storm_settings, region=storm_settings.region) as writer:
        _storm(stores, storm_settings, writer)


def _storm(stores: list[DynamoDBCreditsStore], storm_settings: Settings, writer: LocalLedgerWriter) -> None:
    rebalancer = ShardRebalancer(storm_settings)
    account_id = new_account_id()
    stores[0].create_account(AccountRecord(account_id, "storm", "active", datetime.now(UTC)))
    assert isinstance(
        stores[0].grant(GrantIntent(account_id, START_CREDITS, "start", "start", 10**9, datetime.now(UTC))),
        Granted,
    )
    tally, stop = Tally(), threading.Event()
    with ThreadPoolExecutor(max_workers=THREADS + 2) as pool:
        reshaping = pool.submit(_reshaper, rebalancer, account_id, stop)
        granting = pool.submit(_granter, stores[1], account_id)
        workers = [
            pool.submit(_storm_worker, stores[thread % CONTAINERS], account_id, thread, tally, stop)
            for thread in range(THREADS)
        ]
        granted = granting.result()
        for worker in workers:
            worker.result()
        stop.set()
        reshapes = reshaping.result()
    assert reshapes >= 2  # the shards really moved under the charges
    writer.drain(settle_all_parked=True)  # replays' debits given back before the last credits
    # Phase two: nothing adds credit any more; every thread charges until the account is short.
    _spend_the_rest(stores, writer, account_id, tally)
    assert max(tally.charged.values()) == 1  # every request id charged at most once
    assert tally.replays > 0
    assert granted == GRANTS * GRANT_AMOUNT
    assert sum(tally.charged.values()) == START_CREDITS + granted + tally.refunded
    assert stores[2].get_balance(account_id) == 0  # the last credit was spent
    assert all(balance == 0 for balance in shard_balances(account_id))
    report = run_audit(storm_settings, credentials=DynamoDBCredentials("local", "local"))
    assert report.ok, report.mismatches
    assert report.pending == ()  # nothing in flight once the writer is drained
    assert report.charges == sum(tally.charged.values())
    assert report.stream_ledger_entries > 0  # split shards charged by the two-write path
