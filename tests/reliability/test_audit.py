"""The money audit finds every kind of mismatch it claims to, and passes a clean table.

Items are built with the production pynamodb models; one test runs the real scan against
DynamoDB Local so the raw-item decoding is exercised end to end.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from functions.credits.data.models import (
    BALANCE_SK,
    CHARGE_SK,
    GRANT_SK,
    REFUND_SK,
    BalanceItem,
    ChargeRecordItem,
    CreditsTableModel,
    GrantRecordItem,
    LedgerEntryItem,
    RefundRecordItem,
    account_pk,
    grant_pk,
    ledger_sk,
    request_pk,
)
from functions.credits.data.tables import create_tables, delete_tables
from functions.credits.settings import Settings
from local.dynamodb_local import DynamoDBLocal
from ops.audit import MismatchKind, audit_items, run_audit

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TTL = NOW + timedelta(days=90)


class Ledger:
    """Builds a consistent set of credits-table items the way the credits service writes them."""

    def __init__(self) -> None:
        self.items: list[CreditsTableModel] = []
        self.balances: dict[str, int] = {}
        self._tick = 0

    def _entry(self, account_id: str, request_id: str, kind: str, amount: int) -> LedgerEntryItem:
        self._tick += 1
        entry_id = f"le_{secrets.token_hex(12)}"
        created_at = NOW + timedelta(microseconds=self._tick)
        entry = LedgerEntryItem(
            account_pk(account_id),
            ledger_sk(created_at, entry_id),
            account_id=account_id,
            entry_id=entry_id,
            request_id=request_id,
            kind=kind,
            amount=amount,
            created_at=created_at,
        )
        self.items.append(entry)
        self.balances[account_id] = self.balances.get(account_id, 0) + amount
        return entry

    def grant(self, account_id: str, amount: int) -> None:
        key = secrets.token_hex(4)
        entry = self._entry(account_id, f"grant:{key}", "grant", amount)
        self.items.append(
            GrantRecordItem(
                grant_pk(account_id, key),
                GRANT_SK,
                account_id=account_id,
                idempotency_key=key,
                entry_id=entry.entry_id,
                amount=amount,
                reason="test",
                created_at=NOW,
            )
        )

    def charge(self, account_id: str, request_id: str, amount: int = 1) -> LedgerEntryItem:
        entry = self._entry(account_id, request_id, "charge", -amount)
        self.items.append(
            ChargeRecordItem(
                request_pk(request_id),
                CHARGE_SK,
                account_id=account_id,
                key_id="key_0123456789abcdef",
                entry_id=entry.entry_id,
                amount=amount,
                method="GET",
                path="/object",
                bytes=0,
                created_at=NOW,
                ttl=TTL,
            )
        )
        return entry

    def refund(self, account_id: str, request_id: str, amount: int = 1) -> None:
        entry = self._entry(account_id, request_id, "refund", amount)
        self.items.append(
            RefundRecordItem(
                request_pk(request_id),
                REFUND_SK,
                account_id=account_id,
                entry_id=entry.entry_id,
                amount=amount,
                reason="origin_5xx",
                created_at=NOW,
                ttl=TTL,
            )
        )

    def all_items(self) -> list[CreditsTableModel]:
        balances = [
            BalanceItem(account_pk(account_id), BALANCE_SK, account_id=account_id, balance=balance)
            for account_id, balance in self.balances.items()
        ]
        return [*self.items, *balances]


def clean_ledger() -> Ledger:
    ledger = Ledger()
    ledger.grant("acct_a", 10)
    ledger.grant("acct_b", 5)
    ledger.charge("acct_a", "req-1")
    ledger.charge("acct_a", "req-2", amount=3)
    ledger.refund("acct_a", "req-2", amount=3)
    ledger.charge("acct_b", "req-3")
    return ledger


def kinds_found(items: list[CreditsTableModel]) -> set[MismatchKind]:
    return {mismatch.kind for mismatch in audit_items(items).mismatches}


def test_consistent_ledger_passes_with_counts() -> None:
    report = audit_items(clean_ledger().all_items())

    assert report.ok, report.mismatches
    assert (report.charges, report.refunds, report.grants) == (3, 1, 2)
    assert {account.account_id: account.balance for account in report.accounts} == {
        "acct_a": 9,
        "acct_b": 4,
    }
    assert report.total_balance == 13


def test_balance_that_differs_from_the_ledger_is_reported() -> None:
    ledger = clean_ledger()
    ledger.balances["acct_a"] += 1

    report = audit_items(ledger.all_items())

    assert [(m.kind, m.account_id) for m in report.mismatches] == [
        (MismatchKind.BALANCE_DIFFERS_FROM_LEDGER, "acct_a")
    ]


def test_request_charged_twice_is_reported() -> None:
    ledger = clean_ledger()
    ledger.charge("acct_a", "req-1")

    assert MismatchKind.REQUEST_CHARGED_MORE_THAN_ONCE in kinds_found(ledger.all_items())


def test_charge_record_without_its_ledger_entry_is_reported() -> None:
    ledger = clean_ledger()
    lost_entry = ledger.charge("acct_b", "req-lost")
    ledger.items.remove(lost_entry)
    ledger.balances["acct_b"] += 1  # balance and ledger agree; only the record betrays the loss

    assert kinds_found(ledger.all_items()) == {MismatchKind.CHARGE_RECORD_WITHOUT_LEDGER_ENTRY}


def test_refund_without_a_charge_is_reported() -> None:
    ledger = clean_ledger()
    ledger.refund("acct_b", "req-never-charged")

    assert kinds_found(ledger.all_items()) == {MismatchKind.REFUND_WITHOUT_CHARGE}


def test_second_refund_of_one_charge_is_reported() -> None:
    ledger = clean_ledger()
    ledger.refund("acct_a", "req-2", amount=3)

    assert MismatchKind.REQUEST_REFUNDED_MORE_THAN_ONCE in kinds_found(ledger.all_items())


def test_refund_of_a_different_amount_is_reported() -> None:
    ledger = clean_ledger()
    ledger.refund("acct_a", "req-1", amount=2)

    assert kinds_found(ledger.all_items()) == {MismatchKind.REFUND_AMOUNT_DIFFERS_FROM_CHARGE}


def test_ledger_without_balance_item_is_reported() -> None:
    ledger = clean_ledger()
    items = [
        item
        for item in ledger.all_items()
        if not (isinstance(item, BalanceItem) and item.account_id == "acct_b")
    ]

    assert kinds_found(items) == {MismatchKind.LEDGER_WITHOUT_BALANCE}


@pytest.fixture
def audited_settings(dynamodb_local: DynamoDBLocal) -> Iterator[Settings]:
    suffix = secrets.token_hex(4)
    settings = Settings(
        users_table=f"audit-users-{suffix}",
        credits_table=f"audit-credits-{suffix}",
        dynamodb_endpoint=dynamodb_local.endpoint_url,
    )
    create_tables(settings)
    yield settings
    delete_tables(settings)


@pytest.mark.dynamodb
def test_audit_scans_dynamodb_local_and_finds_a_tampered_balance(audited_settings: Settings) -> None:
    ledger = clean_ledger()
    for item in ledger.all_items():
        item.save()

    clean = run_audit(audited_settings, page_size=2)  # several pages: paging is exercised
    tampered = BalanceItem.get(account_pk("acct_b"), BALANCE_SK, consistent_read=True)
    tampered.update(actions=[BalanceItem.balance.add(7)])
    after_tampering = run_audit(audited_settings)

    assert clean.ok, clean.mismatches
    assert clean.ledger_entries == 6
    assert clean.charge_records == 3
    assert [(m.kind, m.account_id) for m in after_tampering.mismatches] == [
        (MismatchKind.BALANCE_DIFFERS_FROM_LEDGER, "acct_b")
    ]


@pytest.mark.dynamodb
def test_audit_command_exits_non_zero_on_a_mismatch(audited_settings: Settings) -> None:
    import typer
    from typer.testing import CliRunner

    from ops.audit_command import EXIT_CLEAN, EXIT_MISMATCH, register

    app = typer.Typer()
    register(app)

    @app.callback()
    def _group() -> None:
        """Makes `audit` a named subcommand, as in the edgemeter CLI."""

    ledger = clean_ledger()
    for item in ledger.all_items():
        item.save()
    arguments = [
        "audit",
        "--endpoint",
        str(audited_settings.dynamodb_endpoint),
        "--credits-table",
        audited_settings.credits_table,
    ]
    clean = CliRunner().invoke(app, arguments)
    ledger.charge("acct_a", "req-1").save()  # a second charge of req-1, without touching the balance
    dirty = CliRunner().invoke(app, [*arguments, "--json"])

    assert clean.exit_code == EXIT_CLEAN, clean.output
    assert "audit: OK" in clean.output
    assert dirty.exit_code == EXIT_MISMATCH, dirty.output
    assert {m["kind"] for m in json.loads(dirty.output)["mismatches"]} == {
        "request_charged_more_than_once",
        "balance_differs_from_ledger",
    }
