"""Two attempts of one request id, and an attempt whose record never appears (issue 14 §4), on
DynamoDB Local with the ledger writer drained by hand: one net charge, a refund once, money in
flight shown as pending by the audit and never as a mismatch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.credits.data.models import CompensationItem, compensation_sk, request_pk
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore, _charge_condition
from functions.credits.store.errors import StoreUnavailable
from functions.credits.store.records import AlreadyCharged, Charged, ChargeIntent, LedgerKind
from functions.credits.store.shards import ShardLayout
from functions.credits.store.two_write_charge import debit_shard
from local.ledger_writer import LocalLedgerWriter
from ops.audit import PendingKind
from tests.integration.ledger_writer.conftest import audit, split_account
from tests.reliability.faults import Fault, FaultPolicy, dynamodb_faults

pytestmark = pytest.mark.dynamodb


def _intent(account_id: str, request_id: str) -> ChargeIntent:
    return ChargeIntent(account_id, "key_dup", request_id, 1, "GET", "/dup.bin", 5, datetime.now(UTC))


def _warm(store: DynamoDBCreditsStore, account_id: str, name: str) -> None:
    """A container's first charge teaches it the account's layout (then it takes two writes)."""
    assert isinstance(store.charge(_intent(account_id, f"warm-{name}-{account_id}")), Charged)


def _charges_of(store: DynamoDBCreditsStore, account_id: str, request_id: str) -> list[int]:
    page = store.ledger_page(
        account_id,
        start=datetime.now(UTC) - timedelta(hours=1),
        end=datetime.now(UTC) + timedelta(hours=1),
        limit=100,
        cursor=None,
    )
    return [entry.amount for entry in page.items if entry.request_id == request_id]


def test_a_duplicate_call_is_charged_once_after_compensation(
    writer_settings: Settings, writer: LocalLedgerWriter
) -> None:
    account_id = split_account(writer_settings, 40)
    first, second = DynamoDBCreditsStore(writer_settings), DynamoDBCreditsStore(writer_settings)
    _warm(first, account_id, "a")
    _warm(second, account_id, "b")
    request_id = f"dup-{account_id}"
    won = first.charge(_intent(account_id, request_id))
    lost = second.charge(_intent(account_id, request_id))
    assert isinstance(won, Charged)
    assert isinstance(lost, AlreadyCharged)
    assert lost.record.entry_id == won.entry_id  # the replay answers the winner's outcome
    assert first.get_balance(account_id) == 40 - 2 - 2  # the loser's debit is in flight
    before = audit(writer_settings)
    assert before.ok, before.mismatches  # in flight is pending, never a mismatch
    assert any(pending.account_id == account_id for pending in before.pending)

    writer.drain()
    assert first.get_balance(account_id) == 40 - 2 - 1
    after = audit(writer_settings)
    assert after.ok, after.mismatches
    assert [pending for pending in after.pending if pending.account_id == account_id] == []
    markers = list(
        CompensationItem.query(request_pk(request_id), CompensationItem.sk.startswith("compensation#"))
    )
    assert len(markers) == 1
    assert _charges_of(first, account_id, request_id) == [-1]  # the compensated pair is hidden
    usage = first.usage(account_id, start=datetime.now(UTC) - timedelta(hours=1), end=datetime.now(UTC))
    assert (usage.downloads, usage.credits_spent) == (3, 3)

    # The refund of the request gives back its one charge, once.
    charge = first.get_charge(request_id)
    assert charge is not None
    assert not first.refund(charge, reason="origin_502", now=datetime.now(UTC)).replayed
    assert first.refund(charge, reason="origin_502", now=datetime.now(UTC)).replayed
    writer.drain()  # read again: nothing more is given back
    assert first.get_balance(account_id) == 40 - 2
    assert audit(writer_settings).ok


def test_an_attempt_whose_record_never_appears_is_voided_then_given_back(
    writer_settings: Settings, writer: LocalLedgerWriter
) -> None:
    account_id = split_account(writer_settings, 40)
    store = DynamoDBCreditsStore(writer_settings)
    request_id = f"crashed-{account_id}"
    intent = _intent(account_id, request_id)
    # An authorizer debited shard 1 and died before its record put.
    layout = ShardLayout(count=4, peak=4)
    single_shot = store.table_binding.without_sdk_retries()
    assert debit_shard(intent, 1, _charge_condition(intent, 1, layout, 0), single_shot) is not None

    writer.drain()
    assert len(writer.queue) == 1  # parked for the recheck delay
    assert store.get_balance(account_id) == 39
    parked = audit(writer_settings)
    assert parked.ok, parked.mismatches
    kinds = {pending.kind for pending in parked.pending if pending.account_id == account_id}
    assert PendingKind.UNRESOLVED_DEBIT in kinds

    writer.drain(settle_all_parked=True)  # the delay is over: still no record
    assert store.get_balance(account_id) == 40
    assert store.get_charge(request_id) is None  # voided: nothing to refund
    settled = audit(writer_settings)
    assert settled.ok, settled.mismatches
    assert [pending for pending in settled.pending if pending.account_id == account_id] == []

    # A late attempt of the voided request id is never charged: it answers 503, its debit goes back.
    _warm(store, account_id, "late")
    with pytest.raises(StoreUnavailable):
        store.charge(intent)
    writer.drain()
    assert store.get_balance(account_id) == 40 - 1  # only the warm-up charge
    assert audit(writer_settings).ok
    assert (
        CompensationItem.count(request_pk(request_id), CompensationItem.sk.startswith(compensation_sk("")))
        == 2
    )
    assert _charges_of(store, account_id, request_id) == []
    assert LedgerKind.CHARGE.value == "charge"


def test_a_debit_whose_reply_is_lost_is_applied_once_and_given_back(
    writer_settings: Settings, writer: LocalLedgerWriter
) -> None:
    """DynamoDB applied the debit but the reply was lost (a 500): the SDK would send the same
    UpdateItem again and debit twice. The debit is sent once; the request id gets no decision
    (503), and the ledger writer voids it and gives the debit back."""
    account_id = split_account(writer_settings, 40)
    request_id = f"lost-reply-{account_id}"
    armed = False
    debits = 0

    def lose_the_first_debits_reply(operation: str, attempt: int) -> Fault | None:
        nonlocal debits
        if not armed or operation != "UpdateItem":
            return None
        debits += 1
        return Fault.LOST_REPLY if debits == 1 else None

    with dynamodb_faults(FaultPolicy(lose_the_first_debits_reply)) as policy:
        store = DynamoDBCreditsStore(writer_settings)
        store.charge(_intent(account_id, f"warm-lost-{account_id}"))  # learns the layout
        armed = True
        with pytest.raises(StoreUnavailable):
            store.charge(_intent(account_id, request_id))
    assert policy.injected[Fault.LOST_REPLY] == 1
    assert debits == 1  # sent once: no second UpdateItem after the lost reply
    assert store.get_balance(account_id) == 40 - 1 - 1
    assert store.get_charge(request_id) is None

    writer.drain()
    writer.drain(settle_all_parked=True)
    assert store.get_balance(account_id) == 40 - 1
    report = audit(writer_settings)
    assert report.ok, report.mismatches
