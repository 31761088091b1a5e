"""What a batch says about sharded accounts (functions/account_events/sharded_balance.py): pure."""

from __future__ import annotations

from functions.account_events.sharded_balance import shard_signals
from tests.unit.account_events.stream_records import balance_update, stream_record


def shard_update(account_id: str, shard: int, before: int, after: int) -> dict[str, object]:
    return stream_record(
        f"balanceshard#{account_id}#{shard}",
        "balance",
        old={"account_id": account_id, "balance": before},
        new={"account_id": account_id, "balance": after},
    )


def shard_zero_update(account_id: str, before: int, after: int, **extra: object) -> dict[str, object]:
    return stream_record(
        f"account#{account_id}",
        "balance",
        old={"account_id": account_id, "balance": before, "shard_peak": 4},
        new={"account_id": account_id, "balance": after, "shard_peak": 4, **extra},
    )


def test_debits_on_any_shard_give_the_lowest_shard_balance_and_the_last_record() -> None:
    records = [
        shard_update("acct_a", 2, 30, 29),
        shard_zero_update("acct_a", 30, 27),
        shard_update("acct_a", 3, 30, 28),
    ]
    (signal,) = shard_signals(records).values()
    assert signal.account_id == "acct_a"
    assert signal.lowest_debited == 27
    assert signal.record_id == records[-1]["eventID"]
    assert not signal.rose


def test_a_rise_and_a_threshold_change_are_noted() -> None:
    records = [shard_update("acct_b", 1, 10, 40), shard_zero_update("acct_b", 5, 5, alert_thresholds=[20])]
    (signal,) = shard_signals(records).values()
    assert signal.rose
    assert signal.thresholds_changed
    assert signal.lowest_debited is None


def test_unsharded_accounts_and_other_items_are_left_to_the_per_record_judgement() -> None:
    records = [
        balance_update("acct_c", 100, 99, thresholds=[50]),
        stream_record("account#acct_c", "ledger#2026", old=None, new={"amount": -1}),
        stream_record("request#r1", "charge", old=None, new={"account_id": "acct_c"}),
    ]
    assert shard_signals(records) == {}
