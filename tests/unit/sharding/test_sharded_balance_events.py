"""A sharded account's shard 0 raises no ``balance.low``: its balance is not the account's, and a
rebalance moves credit out of it without anything being spent (issue 14; a known gap until the
consumer sums shards)."""

from __future__ import annotations

from functions.account_events.stream_records import derive_events
from tests.unit.account_events.stream_records import stream_record


def _shard_zero_update(before: int, after: int, shard_peak: int | None) -> list[object]:
    layout = {} if shard_peak is None else {"shard_count": shard_peak, "shard_peak": shard_peak}
    image = {"account_id": "acct_1", "alert_thresholds": [50], **layout}
    record = stream_record(
        "account#acct_1", "balance", old={**image, "balance": before}, new={**image, "balance": after}
    )
    return list(derive_events(record))


def test_an_unsharded_account_still_gets_its_alert() -> None:
    assert len(_shard_zero_update(100, 25, None)) == 1
    assert len(_shard_zero_update(100, 25, 1)) == 1


def test_a_rebalance_out_of_shard_zero_raises_no_false_alert() -> None:
    assert _shard_zero_update(100, 25, 4) == []
