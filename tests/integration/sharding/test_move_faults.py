"""Faults in the middle of a shard move lose nothing and invent nothing (issue 14).

A move is one transaction. A container killed before it commits moved nothing (simulated: every
attempt throttled, so the request never reaches the table); a reply lost after the commit
(the write happened, the caller saw a 500 and retried) applies the move at most twice, and a move
never changes the sum, so either way the account's balance, its ledger and the audit agree.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from functions.credits.settings import Settings
from functions.credits.store.errors import StoreUnavailable
from functions.credits.store.rebalancer import ShardRebalancer
from ops.audit import DynamoDBCredentials, run_audit
from tests.integration.sharding.helpers import shard_balances
from tests.reliability.faults import Fault, FaultPolicy, dynamodb_faults

pytestmark = pytest.mark.dynamodb

FundedKey = Callable[..., tuple[str, str]]


def _on_moves(fault: Fault) -> FaultPolicy:
    return FaultPolicy(lambda operation, _attempt: fault if operation == "TransactWriteItems" else None)


def _impatient(settings: Settings) -> Settings:
    """Few retries: a throttled move gives up at once instead of backing off for seconds."""
    return settings.model_copy(update={"transaction_attempts": 2, "dynamodb_max_retry_attempts": 0})


def _audit_is_clean(settings: Settings) -> None:
    report = run_audit(settings, credentials=DynamoDBCredentials("local", "local"))
    assert report.ok, report.mismatches


def test_a_lost_reply_in_the_middle_of_moves_keeps_the_sum(
    funded_key: FundedKey, credits_settings: Settings, rebalancer: ShardRebalancer
) -> None:
    account_id, _ = funded_key(1000)
    assert rebalancer.set_count(account_id, 4)
    policy = FaultPolicy(
        lambda operation, attempt: (
            Fault.LOST_REPLY if operation == "TransactWriteItems" and attempt % 2 else None
        )
    )
    with dynamodb_faults(policy):
        faulty = ShardRebalancer(_impatient(credits_settings))  # its client is created inside the block
        faulty.rebalance(account_id)
        faulty.set_count(account_id, 8)
        faulty.rebalance(account_id)
        faulty.set_count(account_id, 2)
    assert policy.injected[Fault.LOST_REPLY] >= 2
    balances = shard_balances(account_id)
    assert sum(balances) == 1000
    assert min(balances) >= 0
    _audit_is_clean(credits_settings)


def test_a_container_dying_before_its_move_commits_moves_nothing(
    funded_key: FundedKey, credits_settings: Settings, rebalancer: ShardRebalancer
) -> None:
    account_id, _ = funded_key(500)
    assert rebalancer.set_count(account_id, 4)
    before = shard_balances(account_id)
    policy = _on_moves(Fault.THROTTLE)
    with dynamodb_faults(policy), pytest.raises(StoreUnavailable):
        ShardRebalancer(_impatient(credits_settings)).rebalance(account_id)
    assert policy.injected[Fault.THROTTLE] >= 1
    assert shard_balances(account_id) == before
    assert rebalancer.rebalance(account_id)  # a later run does the move, once
    assert shard_balances(account_id) == [125, 125, 125, 125]
    _audit_is_clean(credits_settings)
