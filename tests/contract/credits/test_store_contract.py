"""One contract for every ``CreditsStore``: the same history gives the same outcomes.

Each test runs against the in-memory twin and the DynamoDB store (on DynamoDB Local), so the
unit tests of the service, which use the twin, test what the Lambda does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from functions.credits.ids import new_account_id, new_key_id
from functions.credits.store.errors import DataIntegrityError, InvalidCursor
from functions.credits.store.protocol import CreditsStore
from functions.credits.store.records import (
    AccountRecord,
    AlreadyCharged,
    Charged,
    ChargeIntent,
    Granted,
    GrantIntent,
    GrantOverLimit,
    InsufficientCredits,
    KeyRateLimit,
    KeyRecord,
    KeyRevocationsChanged,
    KeyState,
    LedgerKind,
    LedgerRecord,
    NoSuchAccount,
    Page,
    UsageTotals,
)
from functions.shared.api_keys import generate_api_key, hash_api_key

T = TypeVar("T")
MAX_BALANCE = 10**15
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def new_account(store: CreditsStore, credits: int = 0) -> str:
    account_id = new_account_id()
    store.create_account(AccountRecord(account_id, "contract", "active", START))
    if credits:
        granted = store.grant(
            GrantIntent(account_id, credits, "fund", f"fund-{account_id}", MAX_BALANCE, START)
        )
        assert isinstance(granted, Granted)
    return account_id


def new_key(store: CreditsStore, account_id: str, **facts: object) -> KeyRecord:
    key = KeyRecord(
        account_id=account_id,
        key_id=new_key_id(),
        key_digest=hash_api_key(generate_api_key()),
        status=KeyState.ACTIVE,
        created_at=START,
        **facts,  # type: ignore[arg-type]
    )
    assert store.put_key(key)
    return key


def charge_intent(key: KeyRecord, request_id: str, amount: int = 1, **fields: object) -> ChargeIntent:
    values: dict[str, object] = {
        "account_id": key.account_id,
        "key_id": key.key_id,
        "request_id": request_id,
        "amount": amount,
        "method": "GET",
        "path": "/objects/a.bin",
        "bytes": 1024,
        # After the funding grant (at START): the newest entry is always this one.
        "now": START + timedelta(seconds=1),
    }
    return ChargeIntent(**(values | fields))  # type: ignore[arg-type]


def all_pages(read: Callable[[str | None], Page[T]]) -> list[T]:
    items: list[T] = []
    cursor: str | None = None
    while True:
        page = read(cursor)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items


def ledger(store: CreditsStore, account_id: str) -> list[LedgerRecord]:
    return all_pages(
        lambda cursor: store.ledger_page(
            account_id,
            start=START - timedelta(days=1),
            end=START + timedelta(days=1),
            limit=100,
            cursor=cursor,
        )
    )


def balance_matches_ledger(store: CreditsStore, account_id: str) -> int:
    balance = store.get_balance(account_id)
    assert balance is not None
    assert balance == sum(entry.amount for entry in ledger(store, account_id))
    return balance


# --- accounts and keys ----------------------------------------------------------------------


def test_an_account_starts_empty_and_reads_back(store: CreditsStore) -> None:
    account_id = new_account(store)
    assert store.get_account(account_id) == AccountRecord(account_id, "contract", "active", START)
    assert store.get_balance(account_id) == 0
    assert store.get_account(new_account_id()) is None
    assert store.get_balance(new_account_id()) is None
    with pytest.raises(DataIntegrityError):
        store.create_account(AccountRecord(account_id, "again", "active", START))


def test_a_key_reads_back_by_id_and_by_digest_and_needs_its_account(store: CreditsStore) -> None:
    account_id = new_account(store)
    key = new_key(
        store, account_id, name="ci", rate_limit=KeyRateLimit(5, 10), expires_at=START + timedelta(1)
    )
    assert store.get_key(account_id, key.key_id) == key
    assert store.get_key_by_digest(key.key_digest) == key
    assert store.get_key_by_digest(hash_api_key(generate_api_key())) is None
    orphan = KeyRecord(
        new_account_id(), new_key_id(), hash_api_key(generate_api_key()), KeyState.ACTIVE, START
    )
    assert store.put_key(orphan) is False
    with pytest.raises(DataIntegrityError):
        store.put_key(key)


def test_revoking_is_idempotent_and_counted_once_per_key(store: CreditsStore) -> None:
    account_id = new_account(store)
    key = new_key(store, account_id)
    standing = store.get_key_standing(key.key_digest, account_id)
    assert standing is not None
    assert (standing.key, standing.key_revocations) == (key, 0)
    store.revoke_key(key, START + timedelta(minutes=1))
    store.revoke_key(key, START + timedelta(minutes=2))
    revoked = store.get_key_by_digest(key.key_digest)
    assert revoked is not None
    assert revoked.status is KeyState.REVOKED
    assert revoked.revoked_at == START + timedelta(minutes=1)
    assert store.get_key(account_id, key.key_id) == revoked
    standing = store.get_key_standing(key.key_digest, account_id)
    assert standing is not None
    assert standing.key_revocations == 1
    assert store.get_key_standing(hash_api_key(generate_api_key()), account_id) is None


def test_keys_are_listed_page_by_page_and_cursors_stay_with_their_account(store: CreditsStore) -> None:
    account_id = new_account(store)
    keys = {new_key(store, account_id).key_id for _ in range(5)}
    listed = all_pages(lambda cursor: store.list_keys(account_id, 2, cursor))
    assert [key.key_id for key in listed] == sorted(keys)
    first = store.list_keys(account_id, 2, None)
    assert first.next_cursor is not None
    other = new_account(store)
    with pytest.raises(InvalidCursor):
        store.list_keys(other, 2, first.next_cursor)
    with pytest.raises(InvalidCursor):
        store.list_keys(account_id, 2, "bm90LWEtY3Vyc29y")
    with pytest.raises(InvalidCursor):
        store.list_keys(account_id, 2, "%%%")


# --- charges --------------------------------------------------------------------------------


def test_a_charge_debits_records_and_writes_its_ledger_entry(store: CreditsStore) -> None:
    account_id = new_account(store, credits=5)
    key = new_key(store, account_id)
    outcome = store.charge(charge_intent(key, "c-1", amount=2, range_header="bytes=0-1023"))
    assert isinstance(outcome, Charged)
    record = store.get_charge("c-1")
    assert record is not None
    assert (record.account_id, record.key_id, record.entry_id, record.amount) == (
        account_id,
        key.key_id,
        outcome.entry_id,
        2,
    )
    assert (record.method, record.path, record.bytes, record.range_header) == (
        "GET",
        "/objects/a.bin",
        1024,
        "bytes=0-1023",
    )
    newest = ledger(store, account_id)[0]
    assert (newest.kind, newest.amount, newest.bytes, newest.request_id, newest.key_id) == (
        LedgerKind.CHARGE,
        -2,
        1024,
        "c-1",
        key.key_id,
    )
    assert balance_matches_ledger(store, account_id) == 3


def test_a_download_of_unknown_size_records_no_bytes(store: CreditsStore) -> None:
    account_id = new_account(store, credits=1)
    key = new_key(store, account_id)
    assert isinstance(store.charge(charge_intent(key, "unknown-size", bytes=None)), Charged)
    record = store.get_charge("unknown-size")
    assert record is not None
    assert record.bytes is None
    assert ledger(store, account_id)[0].bytes is None


def test_a_request_id_is_charged_once_whatever_the_balance(store: CreditsStore) -> None:
    account_id = new_account(store, credits=1)
    key = new_key(store, account_id)
    first = store.charge(charge_intent(key, "once"))
    again = store.charge(charge_intent(key, "once"))
    assert isinstance(first, Charged)
    assert isinstance(again, AlreadyCharged)
    assert again.record.entry_id == first.entry_id
    assert balance_matches_ledger(store, account_id) == 0


def test_a_charge_over_the_balance_is_refused_and_writes_nothing(store: CreditsStore) -> None:
    account_id = new_account(store, credits=3)
    key = new_key(store, account_id)
    assert store.charge(charge_intent(key, "too-much", amount=4)) == InsufficientCredits(balance=3)
    assert store.get_charge("too-much") is None
    assert isinstance(store.charge(charge_intent(key, "exact", amount=3)), Charged)
    assert store.charge(charge_intent(key, "empty")) == InsufficientCredits(balance=0)
    assert balance_matches_ledger(store, account_id) == 0


def test_a_charge_on_a_stale_revocation_count_is_refused(store: CreditsStore) -> None:
    account_id = new_account(store, credits=5)
    kept, revoked = new_key(store, account_id), new_key(store, account_id)
    assert isinstance(store.charge(charge_intent(kept, "seen-0", key_revocations_seen=0)), Charged)
    store.revoke_key(revoked, START)
    stale = store.charge(charge_intent(kept, "stale", key_revocations_seen=0))
    assert isinstance(stale, KeyRevocationsChanged)
    assert store.get_charge("stale") is None
    assert isinstance(store.charge(charge_intent(kept, "seen-1", key_revocations_seen=1)), Charged)
    # An earlier charge of the request id still replays, whatever the count.
    assert isinstance(store.charge(charge_intent(kept, "seen-0", key_revocations_seen=7)), AlreadyCharged)
    # The count is checked before the balance: a short account with a stale count says so.
    assert isinstance(
        store.charge(charge_intent(kept, "big", amount=99, key_revocations_seen=0)), KeyRevocationsChanged
    )
    assert balance_matches_ledger(store, account_id) == 3


# --- refunds and grants ---------------------------------------------------------------------


def test_a_charge_is_refunded_once(store: CreditsStore) -> None:
    account_id = new_account(store, credits=5)
    key = new_key(store, account_id)
    assert isinstance(store.charge(charge_intent(key, "r-1", amount=2)), Charged)
    charge = store.get_charge("r-1")
    assert charge is not None
    first = store.refund(charge, reason="origin_500", now=START + timedelta(seconds=2))
    again = store.refund(charge, reason="origin_502", now=START + timedelta(seconds=3))
    assert (first.replayed, again.replayed) == (False, True)
    assert again.record == first.record
    assert (first.record.amount, first.record.reason, first.record.request_id) == (2, "origin_500", "r-1")
    assert store.get_refund("r-1") == first.record
    assert store.get_refund("never") is None
    refund_entry = ledger(store, account_id)[0]
    assert (refund_entry.kind, refund_entry.amount, refund_entry.reason) == (
        LedgerKind.REFUND,
        2,
        "origin_500",
    )
    assert balance_matches_ledger(store, account_id) == 5


def test_grants_are_idempotent_bounded_and_need_an_account(store: CreditsStore) -> None:
    account_id = new_account(store)
    grant = GrantIntent(account_id, 10, "welcome", "welcome-1", MAX_BALANCE, START)
    first, again = store.grant(grant), store.grant(grant)
    assert isinstance(first, Granted)
    assert isinstance(again, Granted)
    assert (first.replayed, again.replayed) == (False, True)
    assert again.record == first.record
    assert store.grant(GrantIntent(account_id, 91, "x", "over", 100, START)) == GrantOverLimit()
    assert isinstance(store.grant(GrantIntent(account_id, 90, "x", "exact", 100, START)), Granted)
    assert store.grant(GrantIntent(new_account_id(), 1, "x", "nobody", MAX_BALANCE, START)) == NoSuchAccount()
    assert balance_matches_ledger(store, account_id) == 100


# --- rate limits ----------------------------------------------------------------------------


def test_the_rate_limit_is_a_gcra_with_its_burst(store: CreditsStore) -> None:
    key_id = new_key_id()
    now_us = int(START.timestamp() * 1_000_000)
    assert [store.take_rate_limit_slot(key_id, 2, 2, now_us) for _ in range(2)] == [0, 0]
    assert store.take_rate_limit_slot(key_id, 2, 2, now_us) == 500_000
    assert store.take_rate_limit_slot(key_id, 2, 2, now_us + 400_000) == 100_000
    assert store.take_rate_limit_slot(key_id, 2, 2, now_us + 500_000) == 0
    idle = now_us + 10_000_000
    assert [store.take_rate_limit_slot(key_id, 2, 2, idle) for _ in range(3)][:2] == [0, 0]


# --- ledger and usage -----------------------------------------------------------------------


def test_the_ledger_is_paged_newest_first_within_its_period(store: CreditsStore) -> None:
    account_id = new_account(store, credits=20)
    key = new_key(store, account_id)
    for n in range(6):
        assert isinstance(
            store.charge(charge_intent(key, f"l-{n}", now=START + timedelta(seconds=n + 1))), Charged
        )
    entries = all_pages(
        lambda cursor: store.ledger_page(
            account_id, start=START, end=START + timedelta(days=1), limit=4, cursor=cursor
        )
    )
    assert [entry.request_id for entry in entries] == [f"l-{n}" for n in reversed(range(6))] + [
        f"grant:fund-{account_id}"
    ]
    period = store.ledger_page(
        account_id,
        start=START + timedelta(seconds=2),
        end=START + timedelta(seconds=4),
        limit=100,
        cursor=None,
    )
    assert [entry.request_id for entry in period.items] == ["l-2", "l-1"]
    assert period.next_cursor is None
    page = store.ledger_page(account_id, start=START, end=START + timedelta(1), limit=1, cursor=None)
    with pytest.raises(InvalidCursor):
        store.ledger_page(
            new_account(store), start=START, end=START + timedelta(1), limit=1, cursor=page.next_cursor
        )


def test_usage_adds_up_the_period(store: CreditsStore) -> None:
    account_id = new_account(store, credits=100)
    key = new_key(store, account_id)
    for request_id, method, amount, size in (
        ("u-get", "GET", 2, 1024),
        ("u-head", "HEAD", 1, 0),
        ("u-put", "PUT", 3, 2 * 1024 * 1024),
        ("u-patch", "PATCH", 2, 10),
        ("u-delete", "DELETE", 1, 0),
    ):
        intent = charge_intent(key, request_id, amount=amount, method=method, bytes=size)
        assert isinstance(store.charge(intent), Charged)
    charge = store.get_charge("u-put")
    assert charge is not None
    store.refund(charge, reason="origin_500", now=START)
    usage = store.usage(account_id, start=START, end=START + timedelta(seconds=2))
    assert usage == UsageTotals(
        downloads=2,
        uploads=2,
        other_requests=1,
        bytes=1024 + 2 * 1024 * 1024 + 10,
        credits_spent=9,
        refunds=1,
        credits_refunded=3,
        grants=1,
        credits_granted=100,
    )
    later = store.usage(account_id, start=START + timedelta(seconds=2), end=START + timedelta(days=1))
    assert later == UsageTotals()


# --- concurrency ----------------------------------------------------------------------------


def test_threads_racing_for_the_last_credits_never_overdraw(store: CreditsStore) -> None:
    account_id = new_account(store, credits=10)
    key = new_key(store, account_id)
    barrier = threading.Barrier(16)

    def spend(n: int) -> object:
        barrier.wait()
        return store.charge(charge_intent(key, f"race-{n}"))

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(spend, range(16)))
    assert sum(isinstance(outcome, Charged) for outcome in outcomes) == 10
    assert all(isinstance(outcome, Charged | InsufficientCredits) for outcome in outcomes)
    assert balance_matches_ledger(store, account_id) == 0


def test_one_request_id_raced_from_many_threads_is_charged_once(store: CreditsStore) -> None:
    account_id = new_account(store, credits=10)
    key = new_key(store, account_id)
    barrier = threading.Barrier(8)

    def retry(_: int) -> object:
        barrier.wait()
        return store.charge(charge_intent(key, "raced-id"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(retry, range(8)))
    charged = [outcome for outcome in outcomes if isinstance(outcome, Charged)]
    replays = [outcome for outcome in outcomes if isinstance(outcome, AlreadyCharged)]
    assert len(charged) == 1
    assert len(replays) == 7
    assert {replay.record.entry_id for replay in replays} == {charged[0].entry_id}
    assert balance_matches_ledger(store, account_id) == 9
