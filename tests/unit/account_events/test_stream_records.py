"""Stream records -> domain events (functions/account_events/stream_records.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from functions.account_events.events import EventType
from functions.account_events.stream_records import MalformedStreamRecord, derive_events
from tests.unit.account_events.stream_records import RECORDED_AT_EPOCH, balance_update, stream_record

DIGEST = "a" * 64


def test_a_charge_that_falls_below_a_threshold_gives_one_balance_low() -> None:
    events = derive_events(balance_update("acct_1", before=101, after=99, thresholds=[100, 10]))
    assert [event.type for event in events] == [EventType.BALANCE_LOW]
    document = events[0].to_document()
    assert document["account_id"] == "acct_1"
    assert document["detail"] == {"threshold": 100, "balance": 99, "previous_balance": 101}
    assert document["occurred_at"] == "2026-12-05T08:00:00Z"
    assert document["id"].startswith("evt_")


def test_landing_exactly_on_the_threshold_is_not_below_it() -> None:
    assert derive_events(balance_update("acct_1", before=101, after=100, thresholds=[100])) == []
    assert len(derive_events(balance_update("acct_1", before=100, after=99, thresholds=[100]))) == 1


@pytest.mark.parametrize(
    ("before", "after"),
    [(200, 150), (99, 50), (50, 99), (99, 120), (100, 100)],
    ids=["above-to-above", "below-to-below", "rise-below", "rise-across", "unchanged"],
)
def test_no_event_without_a_downward_crossing(before: int, after: int) -> None:
    assert derive_events(balance_update("acct_1", before=before, after=after, thresholds=[100])) == []


def test_one_update_that_crosses_two_thresholds_gives_one_event_each_with_its_own_id() -> None:
    events = derive_events(balance_update("acct_1", before=150, after=5, thresholds=[10, 100, 500]))
    assert [event.detail["threshold"] for event in events] == [100, 10]
    assert len({event.id for event in events}) == 2


def test_a_grant_re_arms_the_threshold() -> None:
    thresholds = [100]
    sequence = [
        balance_update("acct_1", before=101, after=99, thresholds=thresholds),  # crossing
        balance_update("acct_1", before=99, after=98, thresholds=thresholds),  # still below
        balance_update("acct_1", before=98, after=500, thresholds=thresholds),  # grant
        balance_update("acct_1", before=500, after=60, thresholds=thresholds),  # crossing again
    ]
    events = [event for record in sequence for event in derive_events(record)]
    assert [event.detail["previous_balance"] for event in events] == [101, 500]


def test_without_thresholds_a_balance_change_means_nothing() -> None:
    assert derive_events(balance_update("acct_1", before=101, after=0)) == []


def test_a_new_balance_item_is_not_a_crossing() -> None:
    record = stream_record(
        "account#acct_1", "balance", old=None, new={"balance": 0, "alert_thresholds": [10]}
    )
    assert derive_events(record) == []


def test_thresholds_as_a_number_set_work_too() -> None:
    record = balance_update("acct_1", before=20, after=5, thresholds=None)
    record["dynamodb"]["NewImage"]["alert_thresholds"] = {"NS": ["10", "15"]}
    assert sorted(event.detail["threshold"] for event in derive_events(record)) == [10, 15]


def test_a_redelivered_record_gives_the_same_event_ids_and_another_record_other_ids() -> None:
    first = derive_events(balance_update("acct_1", 101, 99, [100], event_id="shard-1-seq-7"))
    again = derive_events(balance_update("acct_1", 101, 99, [100], event_id="shard-1-seq-7"))
    other = derive_events(balance_update("acct_1", 101, 99, [100], event_id="shard-1-seq-8"))
    assert [event.id for event in first] == [event.id for event in again]
    assert first[0].id != other[0].id


def _status_change(before: str, after: str, **extra: str) -> list[dict[str, object]]:
    record = stream_record(
        "account#acct_2",
        "profile",
        old={"account_id": "acct_2", "name": "shop", "status": before},
        new={"account_id": "acct_2", "name": "shop", "status": after, **extra},
    )
    return [event.to_document() for event in derive_events(record)]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("active", "suspended", "account.suspended"),
        ("suspended", "active", "account.resumed"),
        ("suspended", "closed", "account.closed"),
        ("active", "closed", "account.closed"),
    ],
)
def test_status_changes_are_lifecycle_events(before: str, after: str, expected: str) -> None:
    documents = _status_change(
        before,
        after,
        status_reason="unpaid invoice",
        status_changed_by="arn:aws:iam::123456789012:user/billing",
        status_changed_at="2026-12-05T07:59:59Z",
    )
    assert len(documents) == 1
    assert documents[0]["type"] == expected
    assert documents[0]["detail"] == {
        "status": after,
        "previous_status": before,
        "reason": "unpaid invoice",
        "changed_by": "arn:aws:iam::123456789012:user/billing",
        "changed_at": "2026-12-05T07:59:59Z",
    }


def test_a_profile_change_without_a_status_change_means_nothing() -> None:
    assert _status_change("active", "active") == []
    assert _status_change("active", "archived") == []


def test_an_issued_key_gives_key_issued_without_its_digest() -> None:
    record = stream_record(
        "account#acct_3",
        "key#key_9",
        old=None,
        new={
            "account_id": "acct_3",
            "key_id": "key_9",
            "key_digest": DIGEST,
            "name": "reports",
            "status": "active",
            "created_at": "2026-12-05T08:00:00.000000+0000",
            "spend_limit": Decimal(500),
            "scope_methods": ["GET", "HEAD"],
            "scope_prefixes": ["/reports/"],
        },
    )
    (event,) = derive_events(record)
    assert event.type is EventType.KEY_ISSUED
    assert event.detail == {
        "key_id": "key_9",
        "name": "reports",
        "created_at": "2026-12-05T08:00:00.000000+0000",
        "spend_limit": 500,
        "scope": {"methods": ["GET", "HEAD"], "prefixes": ["/reports/"]},
    }
    assert DIGEST not in event.to_json()


def test_a_revoked_key_gives_key_revoked_once() -> None:
    active = {"account_id": "acct_3", "key_id": "key_9", "key_digest": DIGEST, "status": "active"}
    revoked = {**active, "status": "revoked", "revoked_at": "2026-12-05T08:01:00.000000+0000"}
    (event,) = derive_events(stream_record("account#acct_3", "key#key_9", old=active, new=revoked))
    assert event.type is EventType.KEY_REVOKED
    assert event.detail == {"key_id": "key_9", "revoked_at": "2026-12-05T08:01:00.000000+0000"}
    assert DIGEST not in event.to_json()
    assert derive_events(stream_record("account#acct_3", "key#key_9", old=revoked, new=revoked)) == []


@pytest.mark.parametrize(
    ("pk", "sk"),
    [
        (f"keydigest#{DIGEST}", "key"),  # the digest-keyed copy of a key: never an event
        ("account#acct_1", "ledger#2026-12-05T08:00:00.000000Z#e1"),
        ("request#req-1", "charge"),
        ("ratelimit#key_1", "gcra"),
    ],
)
def test_other_items_give_no_events(pk: str, sk: str) -> None:
    record = stream_record(pk, sk, old=None, new={"status": "active", "balance": 1, "key_digest": DIGEST})
    assert derive_events(record) == []


def test_the_streams_api_datetime_and_lambdas_epoch_give_the_same_time() -> None:
    record = balance_update("acct_1", 101, 99, [100])
    from_lambda = derive_events(record)[0].occurred_at
    record["dynamodb"]["ApproximateCreationDateTime"] = datetime.fromtimestamp(RECORDED_AT_EPOCH, tz=UTC)
    assert derive_events(record)[0].occurred_at == from_lambda


def test_a_record_without_keys_is_malformed() -> None:
    record = balance_update("acct_1", 101, 99, [100])
    del record["dynamodb"]["Keys"]
    with pytest.raises(MalformedStreamRecord, match="Keys"):
        derive_events(record)


def test_the_event_json_is_the_documented_shape() -> None:
    (event,) = derive_events(balance_update("acct_1", 101, 99, [100]))
    assert set(json.loads(event.to_json())) == {"id", "type", "account_id", "occurred_at", "detail"}
