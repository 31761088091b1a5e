"""``balance.low`` of a sharded account (issue 14), on DynamoDB Local and its stream: judged on the
account's total, exactly once per downward crossing while 32 threads charge it over four shards;
a redelivered batch gives the same event id; a grant re-arms the threshold."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from functions.account_events.events import AccountEvent, EventType
from functions.account_events.sharded_balance import ShardedBalanceJudge, judge_from_environment
from functions.account_events.stream_records import derive_events
from functions.credits.schemas import AuthorizeRequest, GrantRequest
from functions.credits.service import CreditsService
from functions.credits.settings import Settings
from functions.credits.store.rebalancer import ShardRebalancer
from functions.shared.api_keys import hash_api_key
from functions.shared.environment_variables import EDGEMETER_CREDITS_TABLE, EDGEMETER_DYNAMODB_ENDPOINT
from local.dynamodb_local import DynamoDBLocal
from local.events import StreamReader, build_pump, ensure_stream, local_clients
from tests.integration.account_events.conftest import RecordingPublisher
from tests.integration.account_events.test_stream_events import (
    CHARGES_PER_THREAD,
    THREADS,
    charge_from_threads,
    set_alert_thresholds,
)
from tests.integration.credits.conftest import Caller

pytestmark = pytest.mark.dynamodb

LAMBDA_BATCH = 100  # the consumer's event source mapping batch size


class StreamJudge:
    """The credits table's stream read from the test's start, judged as the consumer Lambda does."""

    def __init__(self, reader: StreamReader, judge: ShardedBalanceJudge) -> None:
        self.reader, self.judge = reader, judge

    def drain(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        while batch := self.reader.poll():
            records.extend(batch)
        return records

    def judged(self, records: list[dict[str, Any]]) -> list[AccountEvent]:
        """The events of ``records`` judged in the Lambda's batches, in stream order."""
        return [
            event
            for start in range(0, len(records), LAMBDA_BATCH)
            for event in self.judge.judge(records[start : start + LAMBDA_BATCH])
        ]


@pytest.fixture
def stream_judge(dynamodb_local: DynamoDBLocal, credits_settings: Settings) -> StreamJudge:
    dynamodb, streams = local_clients(dynamodb_local.endpoint_url, credits_settings.region)
    reader = StreamReader(streams, ensure_stream(dynamodb, credits_settings.credits_table), "LATEST")
    judge = judge_from_environment(
        {
            EDGEMETER_CREDITS_TABLE: credits_settings.credits_table,
            EDGEMETER_DYNAMODB_ENDPOINT: dynamodb_local.endpoint_url,
            "AWS_REGION": credits_settings.region,
        }
    )
    assert judge is not None
    watcher = StreamJudge(reader, judge)
    watcher.drain()  # fixes the LATEST iterators before the test changes anything
    return watcher


def lows(events: list[AccountEvent], account_id: str) -> list[AccountEvent]:
    return [
        event for event in events if event.account_id == account_id and event.type is EventType.BALANCE_LOW
    ]


def test_32_threads_on_four_shards_cross_a_threshold_once_and_a_grant_re_arms_it(
    service: CreditsService,
    call: Caller,
    funded_key: Callable[[int], tuple[str, str]],
    credits_settings: Settings,
    stream_judge: StreamJudge,
) -> None:
    account_id, api_key = funded_key(120)
    set_alert_thresholds(call, account_id, [100, 10])
    rebalancer = ShardRebalancer(credits_settings)
    assert rebalancer.set_count(account_id, 4)
    assert rebalancer.rebalance(account_id)  # 30 credits on each shard
    stream_judge.drain()

    assert charge_from_threads(service, account_id, api_key, "first") == THREADS * CHARGES_PER_THREAD
    first_records = stream_judge.drain()
    first = lows(stream_judge.judged(first_records), account_id)
    # Delivered again (a retried batch): the same event under the same id, nothing new.
    replayed = lows(stream_judge.judged(first_records), account_id)
    # Another judge of part of the records (another batch cut, another consumer): it loses the
    # conditional disarm, so no second event.
    other_cut = lows(stream_judge.judged(first_records[: len(first_records) // 2]), account_id)

    (low,) = first
    assert low.detail == {"threshold": 100, "balance": 56, "shards": 4}
    assert [event.id for event in replayed] == [low.id]
    assert other_cut == []
    # The per-record judgement of unsharded accounts stays silent for this account.
    assert not lows([event for record in first_records for event in derive_events(record)], account_id)

    # 56 left; a grant back to 156 re-arms 100 when judged, and 64 charges cross it once more.
    service.grant(
        account_id, GrantRequest(amount=100, reason="top-up", idempotency_key=f"top-up-{account_id}")
    )
    assert not lows(stream_judge.judged(stream_judge.drain()), account_id)
    assert charge_from_threads(service, account_id, api_key, "second") == THREADS * CHARGES_PER_THREAD
    second = lows(stream_judge.judged(stream_judge.drain()), account_id)

    (again,) = second
    assert again.detail == {"threshold": 100, "balance": 92, "shards": 4}
    assert again.id != low.id


def test_a_rebalance_raises_no_alert(
    call: Caller,
    funded_key: Callable[[int], tuple[str, str]],
    credits_settings: Settings,
    stream_judge: StreamJudge,
) -> None:
    account_id, _ = funded_key(90)
    set_alert_thresholds(call, account_id, [50])
    rebalancer = ShardRebalancer(credits_settings)
    assert rebalancer.set_count(account_id, 8)
    # Moves take shard 0 from 90 to 12 (far under 2 x 50): read, but the sum is still 90.
    assert rebalancer.rebalance(account_id)

    assert not lows(stream_judge.judged(stream_judge.drain()), account_id)


def test_make_runs_events_thread_publishes_a_sharded_accounts_crossing(
    dynamodb_local: DynamoDBLocal,
    call: Caller,
    funded_key: Callable[[int], tuple[str, str]],
    credits_settings: Settings,
    service: CreditsService,
) -> None:
    publisher = RecordingPublisher()
    judge = judge_from_environment(
        {
            EDGEMETER_CREDITS_TABLE: credits_settings.credits_table,
            EDGEMETER_DYNAMODB_ENDPOINT: dynamodb_local.endpoint_url,
            "AWS_REGION": credits_settings.region,
        }
    )
    pump = build_pump(dynamodb_local.endpoint_url, [credits_settings.credits_table], publisher, judge=judge)
    pump.drain()
    account_id, api_key = funded_key(12)
    set_alert_thresholds(call, account_id, [10])
    rebalancer = ShardRebalancer(credits_settings)
    assert rebalancer.set_count(account_id, 2)
    for number in range(3):
        decision = service.authorize(
            AuthorizeRequest(
                key_digest=hash_api_key(api_key), request_id=f"{account_id}-{number}", method="GET", path="/a"
            )
        )
        assert decision.decision == "allow"
    pump.drain()

    (low,) = lows(publisher.events, account_id)
    assert low.detail == {"threshold": 10, "balance": 9, "shards": 2}
