"""balance.low with credits regions, the consumer's pure side: a home balance record of an account
marked ``regional_since`` is never judged alone, and the upkeep's judgement is read from the image
(functions/account_events/regional_balance.py, stream_records.py)."""

from __future__ import annotations

import json

from functions.account_events.regional_balance import regional_judgements, regional_low_event
from functions.account_events.stream_records import derive_events
from functions.credits.store.low_balance_alerts import (
    REGIONAL_LOW_AT,
    REGIONAL_LOW_SPLIT,
    REGIONAL_LOW_TOTAL,
    REGIONAL_SINCE,
)
from tests.unit.account_events.stream_records import balance_update, stream_record

MARK = {REGIONAL_SINCE: "2026-12-05T09:00:00+00:00"}
SPLIT = json.dumps({"regions": {"eu-west-1": 30, "ap-northeast-1": 20}, "in_flight": 4})


def _judged(old: dict[str, object], new: dict[str, object], event_id: str = "rec-1") -> dict[str, object]:
    base = {"account_id": "acct_1", "balance": 30, "alert_thresholds": [100, 60, 10], **MARK}
    return stream_record(
        "account#acct_1", "balance", old={**base, **old}, new={**base, **new}, event_id=event_id
    )


def test_a_marked_account_home_crossing_raises_nothing_from_its_record() -> None:
    unmarked = balance_update("acct_1", before=70, after=40, thresholds=[60])
    marked = balance_update("acct_1", before=70, after=40, thresholds=[60])
    marked["dynamodb"]["NewImage"][REGIONAL_SINCE] = {"S": MARK[REGIONAL_SINCE]}
    assert len(derive_events(unmarked)) == 1
    assert derive_events(marked) == []


def test_the_upkeep_judgement_names_the_thresholds_above_the_total() -> None:
    record = _judged(
        {}, {REGIONAL_LOW_TOTAL: 54, REGIONAL_LOW_AT: "2026-12-05T09:01:00+00:00", REGIONAL_LOW_SPLIT: SPLIT}
    )
    [judgement] = regional_judgements([record])
    assert (judgement.account_id, judgement.total, judgement.thresholds) == ("acct_1", 54, (100, 60))
    assert judgement.regions == {"eu-west-1": 30, "ap-northeast-1": 20}
    assert judgement.in_flight == 4
    event = regional_low_event(judgement, 60)
    assert event.detail == {
        "threshold": 60,
        "balance": 54,
        "regions": {"eu-west-1": 30, "ap-northeast-1": 20},
        "in_flight": 4,
        "judged_at": "2026-12-05T09:01:00+00:00",
    }
    assert event.id == regional_low_event(judgement, 60).id != regional_low_event(judgement, 100).id


def test_records_without_a_new_judgement_are_not_judgements() -> None:
    at = "2026-12-05T09:01:00+00:00"
    same = _judged(
        {REGIONAL_LOW_TOTAL: 54, REGIONAL_LOW_AT: at},
        {REGIONAL_LOW_TOTAL: 54, REGIONAL_LOW_AT: at, "balance": 29},
    )
    plain = balance_update("acct_1", before=70, after=40, thresholds=[60])
    assert regional_judgements([same, plain]) == []


def test_a_judgement_with_an_unreadable_split_still_carries_the_total() -> None:
    record = _judged({}, {REGIONAL_LOW_TOTAL: 5, REGIONAL_LOW_AT: "t", REGIONAL_LOW_SPLIT: "not json"})
    [judgement] = regional_judgements([record])
    assert (judgement.total, judgement.thresholds, judgement.regions, judgement.in_flight) == (
        5,
        (100, 60, 10),
        {},
        0,
    )
