"""Sharded balances through the real credits service on DynamoDB Local (issue 14).

What is checked: a quiet account's allow is still one request; a sharded one's is two
single-item writes on one shard and its request record, its ledger entry written by the ledger
writer from the stream (issue 14 §4; the writer is drained before every audit); credit spread
thin over many shards is spent to the last credit; standing changes reach every shard at once;
refunds go back to the charge's shard; a merge leaves stale containers charging correctly; the
audit stays clean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from bench.dynamodb_counting import DynamoDBCounter, count_dynamodb
from functions.credits.service import CreditsService
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.rebalancer import ShardRebalancer
from functions.credits.store.records import Charged, ChargeIntent
from local.ledger_writer import LocalLedgerWriter
from ops.audit import DynamoDBCredentials, run_audit
from tests.integration.credits.conftest import Caller
from tests.integration.sellers.helpers import authorize_key, balance_of, container, new_request_id
from tests.integration.sharding.helpers import shard_balances, stream_entries_per_shard

pytestmark = pytest.mark.dynamodb

FundedKey = Callable[..., tuple[str, str]]
LOCAL = DynamoDBCredentials("local", "local")


@pytest.fixture
def counter() -> Iterator[DynamoDBCounter]:
    with count_dynamodb() as counting:
        yield counting


@pytest.fixture
def audit_is_clean(credits_settings: Settings, ledger_writer: LocalLedgerWriter) -> Callable[[str], None]:
    def check(account_id: str) -> None:
        ledger_writer.drain(settle_all_parked=True)
        _audit_is_clean(credits_settings, account_id)

    return check


def _audit_is_clean(settings: Settings, account_id: str) -> None:
    report = run_audit(settings, credentials=LOCAL)
    assert not [pending for pending in report.pending if pending.account_id == account_id]
    assert report.ok, report.mismatches
    totals = next(account for account in report.accounts if account.account_id == account_id)
    assert totals.balance == totals.ledger_sum


def test_a_quiet_account_allows_with_one_request(
    funded_key: FundedKey, credits_settings: Settings, counter: DynamoDBCounter
) -> None:
    edge = container(credits_settings)
    _, api_key = funded_key(10)
    for _ in range(2):  # the first allow caches the key
        assert authorize_key(edge, api_key)["decision"] == "allow"
    counter.reset()
    assert authorize_key(edge, api_key)["decision"] == "allow"
    counts = counter.snapshot()
    assert counts.http_attempts == 1
    assert counts.operations == {"TransactWriteItems": 1}
    assert counts.billed_write_units == 6


def test_a_sharded_account_allows_with_two_single_item_writes(  # noqa: PLR0917 - pytest fixtures
    funded_key: FundedKey,
    credits_settings: Settings,
    rebalancer: ShardRebalancer,
    counter: DynamoDBCounter,
    call: Caller,
    audit_is_clean: Callable[[str], None],
) -> None:
    edge = container(credits_settings)
    account_id, api_key = funded_key(400)
    assert rebalancer.set_count(account_id, 4)
    assert rebalancer.rebalance(account_id)
    assert shard_balances(account_id) == [100, 100, 100, 100]
    for _ in range(8):  # the key is cached and the layout learnt from shard 0's condition
        assert authorize_key(edge, api_key)["decision"] == "allow"
    allowed = []
    for _ in range(40):
        counter.reset()
        assert authorize_key(edge, api_key)["decision"] == "allow"
        allowed.append(counter.snapshot())
    # Every allow is the shard's debit then the request's record: 2 write units on the request
    # path (the ledger writer's entry is the third, off it).
    two_writes = {"UpdateItem": 1, "PutItem": 1}
    assert all(counts.operations == two_writes for counts in allowed)
    assert all(counts.billed_write_units == 2 for counts in allowed)
    assert balance_of(call, account_id) == 400 - 48
    audit_is_clean(account_id)
    assert all(entries > 0 for entries in stream_entries_per_shard(account_id, 4))


def test_five_credits_over_eight_shards_are_all_spent(
    funded_key: FundedKey,
    credits_settings: Settings,
    rebalancer: ShardRebalancer,
    call: Caller,
    audit_is_clean: Callable[[str], None],
) -> None:
    edge = container(credits_settings)
    account_id, api_key = funded_key(5)
    assert rebalancer.set_count(account_id, 8)
    assert rebalancer.rebalance(account_id)
    assert sorted(shard_balances(account_id)) == [0, 0, 0, 1, 1, 1, 1, 1]
    decisions = [authorize_key(edge, api_key) for _ in range(6)]
    assert [decision["decision"] for decision in decisions] == ["allow"] * 5 + ["deny"]
    assert decisions[-1]["reason"] == "insufficient_credits"
    assert balance_of(call, account_id) == 0
    assert shard_balances(account_id) == [0] * 8
    audit_is_clean(account_id)


def test_a_suspension_and_a_revocation_reach_every_shard_at_once(
    funded_key: FundedKey,
    credits_settings: Settings,
    rebalancer: ShardRebalancer,
    call: Caller,
    audit_is_clean: Callable[[str], None],
) -> None:
    edge = container(credits_settings)
    account_id, api_key = funded_key(800)
    assert rebalancer.set_count(account_id, 8)
    assert rebalancer.rebalance(account_id)
    for _ in range(16):
        assert authorize_key(edge, api_key)["decision"] == "allow"
    assert call("PATCH", f"/v1/accounts/{account_id}", {"status": "suspended", "reason": "t"}).status == 200
    refused = [authorize_key(edge, api_key) for _ in range(16)]
    assert {decision["reason"] for decision in refused} == {"account_suspended"}
    assert call("PATCH", f"/v1/accounts/{account_id}", {"status": "active", "reason": "t"}).status == 200
    assert authorize_key(edge, api_key)["decision"] == "allow"
    key_id = call("GET", f"/v1/accounts/{account_id}/keys").body["keys"][0]["key_id"]
    assert call("DELETE", f"/v1/accounts/{account_id}/keys/{key_id}").status in (200, 204)
    # The container still holds the key's facts in its cache: every shard's count refuses them.
    revoked = [authorize_key(edge, api_key) for _ in range(16)]
    assert {decision["decision"] for decision in revoked} == {"deny"}
    audit_is_clean(account_id)


def test_a_refund_returns_to_the_shard_the_charge_came_from(
    funded_key: FundedKey,
    credits_settings: Settings,
    rebalancer: ShardRebalancer,
    audit_is_clean: Callable[[str], None],
) -> None:
    account_id, _ = funded_key(40)
    assert rebalancer.set_count(account_id, 4)
    assert rebalancer.rebalance(account_id)
    store = DynamoDBCreditsStore(credits_settings)
    key_id = "k-refund"
    now = datetime.now(UTC)
    request_ids = [new_request_id() for _ in range(8)]
    for request_id in request_ids:
        outcome = store.charge(ChargeIntent(account_id, key_id, request_id, 1, "GET", "/a", 1, now))
        assert isinstance(outcome, Charged)
    charge = store.get_charge(request_ids[-1])
    assert charge is not None
    before = shard_balances(account_id)
    refunded = store.refund(charge, reason="origin_500", now=now)
    assert not refunded.replayed
    after = shard_balances(account_id)
    assert [b - a for a, b in zip(before, after, strict=True)] == [
        1 if shard == charge.shard else 0 for shard in range(4)
    ]
    assert store.refund(charge, reason="origin_500", now=now).replayed
    assert store.get_balance(account_id) == 40 - 8 + 1
    audit_is_clean(account_id)


def test_after_a_merge_a_stale_container_still_charges_exactly(
    funded_key: FundedKey,
    credits_settings: Settings,
    rebalancer: ShardRebalancer,
    call: Caller,
    audit_is_clean: Callable[[str], None],
) -> None:
    stale: CreditsService = container(credits_settings)
    account_id, api_key = funded_key(64)
    assert rebalancer.set_count(account_id, 8)
    assert rebalancer.rebalance(account_id)
    for _ in range(16):  # learns count 8
        assert authorize_key(stale, api_key)["decision"] == "allow"
    assert rebalancer.set_count(account_id, 2)
    balances = shard_balances(account_id)
    assert balances[2:] == [0] * 6
    assert sum(balances) == 48
    decisions = [authorize_key(stale, api_key)["decision"] for _ in range(50)]
    assert decisions == ["allow"] * 48 + ["deny"] * 2
    assert balance_of(call, account_id) == 0
    audit_is_clean(account_id)


def test_a_quiet_account_follows_its_rate_back_to_one_shard(
    funded_key: FundedKey,
    credits_settings: Settings,
    rebalancer: ShardRebalancer,
    audit_is_clean: Callable[[str], None],
) -> None:
    edge = container(credits_settings)
    account_id, api_key = funded_key(30)
    assert rebalancer.follow_rate(account_id, datetime.now(UTC)).count == 1
    assert rebalancer.set_count(account_id, 4)
    for _ in range(3):
        assert authorize_key(edge, api_key, request_id=new_request_id())["decision"] == "allow"
    layout = rebalancer.follow_rate(account_id, datetime.now(UTC))
    assert layout.count == 1
    assert sum(shard_balances(account_id)) == 27
    assert shard_balances(account_id)[1:] == [0, 0, 0]
    audit_is_clean(account_id)
