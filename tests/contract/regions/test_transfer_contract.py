"""The transfer protocol's contract, on the in-memory twin and on DynamoDB Local (issue 15 §3).

Invariant checked throughout: every region's balance plus the transfers in flight is constant.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from functions.credits.regions.transfers import SETTLE_AFTER, TransferState
from tests.contract.regions.conftest import HOME, ThreeRegions, open_account

TOKYO = "ap-northeast-1"
VIRGINIA = "us-east-1"


def test_a_transfer_moves_exactly_its_amount_once(regions: ThreeRegions) -> None:
    open_account(regions, "acct-t1", 100)
    record = regions.coordinator.start("acct-t1", HOME, TOKYO, 30, transfer_id="t1")
    assert record.state is TransferState.DONE
    assert regions.balances("acct-t1") == {HOME: 70, VIRGINIA: 0, TOKYO: 30}
    again = regions.coordinator.start("acct-t1", HOME, TOKYO, 30, transfer_id="t1")
    assert again.state is TransferState.DONE
    assert regions.balances("acct-t1") == {HOME: 70, VIRGINIA: 0, TOKYO: 30}
    target = regions.books[TOKYO].get("t1")
    assert target is not None
    assert target.state is TransferState.RECEIVED
    assert regions.coordinator.in_flight("acct-t1") == []


def test_a_short_source_moves_nothing(regions: ThreeRegions) -> None:
    open_account(regions, "acct-t2", 10)
    record = regions.coordinator.start("acct-t2", HOME, TOKYO, 11, transfer_id="t2")
    assert record.state is TransferState.FAILED
    assert regions.balances("acct-t2") == {HOME: 10, VIRGINIA: 0, TOKYO: 0}
    assert regions.books[TOKYO].get("t2") is None


def test_a_target_down_mid_transfer_shows_it_in_flight_then_completes(regions: ThreeRegions) -> None:
    open_account(regions, "acct-t3", 100)
    regions.take_down(TOKYO)
    record = regions.coordinator.start("acct-t3", HOME, TOKYO, 40, transfer_id="t3")
    assert record.state is TransferState.SENT
    regions.take_down(TOKYO, down=False)
    assert regions.balances("acct-t3") == {HOME: 60, VIRGINIA: 0, TOKYO: 0}
    assert [flying.amount for flying in regions.coordinator.in_flight("acct-t3")] == [40]
    assert regions.total("acct-t3") == 100
    # The retrier leaves young transfers to their driver; past SETTLE_AFTER it completes them.
    assert regions.coordinator.settle(HOME) == []
    regions.time.advance(SETTLE_AFTER.total_seconds() + 1)
    (settled,) = regions.coordinator.settle(HOME)
    assert settled.state is TransferState.DONE
    assert regions.balances("acct-t3") == {HOME: 60, VIRGINIA: 0, TOKYO: 40}
    assert regions.coordinator.in_flight("acct-t3") == []


def test_a_target_unreachable_for_long_is_reversed_after_it_answers_again(regions: ThreeRegions) -> None:
    open_account(regions, "acct-t4", 100)
    regions.take_down(TOKYO)
    regions.coordinator.start("acct-t4", HOME, TOKYO, 25, transfer_id="t4")
    regions.time.advance(600)
    # The target is the arbiter: while it cannot be asked, nothing is decided, the money is in flight.
    (pending,) = regions.coordinator.settle(HOME, reverse_after=timedelta(minutes=5))
    assert pending.state is TransferState.SENT
    regions.take_down(TOKYO, down=False)
    assert regions.total("acct-t4") == 100
    (reversed_transfer,) = regions.coordinator.settle(HOME, reverse_after=timedelta(minutes=5))
    assert reversed_transfer.state is TransferState.REVERSED
    assert regions.balances("acct-t4") == {HOME: 100, VIRGINIA: 0, TOKYO: 0}
    cancelled = regions.books[TOKYO].get("t4")
    assert cancelled is not None
    assert cancelled.state is TransferState.CANCELLED
    # A late driver of the same transfer cannot credit it any more.
    assert regions.coordinator.drive("t4", HOME).state is TransferState.REVERSED
    assert regions.balances("acct-t4") == {HOME: 100, VIRGINIA: 0, TOKYO: 0}


def test_a_reversal_loses_to_a_target_that_claimed_first(regions: ThreeRegions) -> None:
    open_account(regions, "acct-t5", 100)
    # The target claims the transfer, then its credit does not get through (it goes down).
    regions.take_down(TOKYO)
    regions.coordinator.start("acct-t5", HOME, TOKYO, 50, transfer_id="t5")
    regions.take_down(TOKYO, down=False)
    sent = regions.books[HOME].get("t5")
    assert sent is not None
    regions.books[TOKYO].create(replace(sent, state=TransferState.RECEIVING))
    regions.time.advance(600)
    (settled,) = regions.coordinator.settle(HOME, reverse_after=timedelta(minutes=5))
    assert settled.state is TransferState.DONE
    assert regions.balances("acct-t5") == {HOME: 50, VIRGINIA: 0, TOKYO: 50}


def test_a_return_home_and_transfers_between_regions_keep_the_total(regions: ThreeRegions) -> None:
    open_account(regions, "acct-t6", 90)
    regions.coordinator.start("acct-t6", HOME, TOKYO, 30)
    regions.coordinator.start("acct-t6", HOME, VIRGINIA, 30)
    regions.coordinator.start("acct-t6", TOKYO, HOME, 10)
    assert regions.balances("acct-t6") == {HOME: 40, VIRGINIA: 30, TOKYO: 20}
    assert regions.total("acct-t6") == 90
