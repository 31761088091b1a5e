"""The twin and the DynamoDB store give the same outcomes for the same random history.

Hypothesis draws a sequence of charges (request ids from a small pool, so replays happen; a
stale or current revocation count), refunds, grants (idempotency keys from a small pool) and
revocations; both stores replay it on a fresh account and every outcome, then the balance and
the ledger, must agree.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.credits.ids import new_account_id, new_key_id
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.memory import InMemoryCreditsStore
from functions.credits.store.protocol import CreditsStore
from functions.credits.store.records import (
    AccountRecord,
    AlreadyCharged,
    Charged,
    ChargeIntent,
    Granted,
    GrantIntent,
    InsufficientCredits,
    KeyRecord,
    KeyRevocationsChanged,
    KeyState,
)
from functions.shared.api_keys import generate_api_key, hash_api_key

START = datetime(2026, 4, 1, tzinfo=UTC)
MAX_BALANCE = 40

charges = st.tuples(
    st.just("charge"),
    st.sampled_from(["r1", "r2", "r3", "r4"]),
    st.integers(1, 6),
    st.sampled_from([None, 0, 1]),
)
refunds = st.tuples(st.just("refund"), st.sampled_from(["r1", "r2", "r3", "r4"]))
grants = st.tuples(st.just("grant"), st.sampled_from(["g1", "g2", "g3"]), st.integers(1, 25))
revocations = st.tuples(st.just("revoke"), st.sampled_from([0, 1]))
histories = st.lists(st.one_of(charges, refunds, grants, revocations), min_size=1, max_size=10)
_runs = itertools.count()


def _charge_outcome(outcome: object) -> tuple[Any, ...]:
    if isinstance(outcome, Charged):
        return ("charged",)
    if isinstance(outcome, AlreadyCharged):
        return ("already", outcome.record.amount)
    if isinstance(outcome, InsufficientCredits):
        return ("short", outcome.balance)
    assert isinstance(outcome, KeyRevocationsChanged), outcome
    return ("revocations-changed",)


def replay(store: CreditsStore, history: list[tuple[Any, ...]], run: int) -> list[tuple[Any, ...]]:
    account_id = new_account_id()
    store.create_account(AccountRecord(account_id, "equivalence", "active", START))
    keys = [
        KeyRecord(account_id, new_key_id(), hash_api_key(generate_api_key()), KeyState.ACTIVE, START)
        for _ in range(2)
    ]
    for key in keys:
        assert store.put_key(key)
    outcomes: list[tuple[Any, ...]] = []
    for step, operation in enumerate(history):
        now = START + timedelta(seconds=step + 1)
        kind = operation[0]
        if kind == "charge":
            _, request, amount, seen = operation
            intent = ChargeIntent(
                account_id, keys[0].key_id, f"{run}-{request}", amount, "GET", "/f", amount, now,
                key_revocations_seen=seen,
            )  # fmt: skip
            outcomes.append(_charge_outcome(store.charge(intent)))
        elif kind == "refund":
            charge = store.get_charge(f"{run}-{operation[1]}")
            refunded = None if charge is None else store.refund(charge, reason="origin_500", now=now)
            outcomes.append(("no-charge",) if refunded is None else ("refund", refunded.replayed))
        elif kind == "grant":
            granted = store.grant(GrantIntent(account_id, operation[2], "x", operation[1], MAX_BALANCE, now))
            outcomes.append(
                (type(granted).__name__, granted.replayed, granted.record.amount)
                if isinstance(granted, Granted)
                else (type(granted).__name__,)
            )
        else:
            store.revoke_key(keys[operation[1]], now)
            standing = store.get_key_standing(keys[1].key_digest, account_id)
            assert standing is not None
            outcomes.append(("revocations", standing.key_revocations))
    ledger = store.ledger_page(account_id, start=START, end=START + timedelta(days=1), limit=100, cursor=None)
    balance = store.get_balance(account_id)
    assert balance == sum(entry.amount for entry in ledger.items)
    outcomes.append(("end", balance, sorted((entry.kind.value, entry.amount) for entry in ledger.items)))
    return outcomes


# Few examples: each replays about ten DynamoDB Local round trips per operation kind (about a
# second on the shared build machine); test_store_contract.py pins the individual rules.
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories)
def test_both_stores_agree_on_every_outcome(
    dynamodb_settings: Settings, history: list[tuple[Any, ...]]
) -> None:
    run = next(_runs)
    assert replay(InMemoryCreditsStore(), history, run) == replay(
        DynamoDBCreditsStore(dynamodb_settings), history, run
    )
