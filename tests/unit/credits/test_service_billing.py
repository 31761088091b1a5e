"""The billing side of ``CreditsService`` on the in-memory store: accounts, keys, grants, refunds,
the ledger and usage, and how the store's refusals become domain errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from functions.credits.errors import (
    AccountNotFound,
    BalanceLimitExceeded,
    ChargeNotFound,
    IdempotencyConflict,
    InvalidRequest,
    KeyNotFound,
)
from functions.credits.schemas import (
    MAX_BALANCE,
    CreateAccountRequest,
    GrantRequest,
    IssueKeyRequest,
    RefundRequest,
)
from functions.credits.store.errors import DataIntegrityError
from tests.unit.credits.service_fakes import START, Harness, authorize_request

UNKNOWN_ACCOUNT = "acct_00000000000000000000"


def test_an_account_reads_back_with_its_balance() -> None:
    harness = Harness()
    service = harness.service()
    created = service.create_account(CreateAccountRequest(name="shop"))
    assert (created.name, created.balance, created.status.value) == ("shop", 0, "active")
    assert service.get_account(created.account_id) == created
    with pytest.raises(AccountNotFound):
        service.get_account(UNKNOWN_ACCOUNT)


def test_an_account_without_a_balance_is_an_integrity_error() -> None:
    harness = Harness()
    service = harness.service()
    account_id = service.create_account(CreateAccountRequest(name="broken")).account_id
    harness.store._tables.balances.pop(account_id)
    with pytest.raises(DataIntegrityError):
        service.get_account(account_id)


def test_keys_are_issued_listed_and_revoked() -> None:
    harness = Harness()
    service = harness.service()
    account_id = service.create_account(CreateAccountRequest(name="k")).account_id
    issued = [service.issue_key(account_id, IssueKeyRequest(name=f"k{n}")) for n in range(3)]
    assert all(key.api_key.startswith("em_") for key in issued)
    first = service.list_keys(account_id, limit=2, cursor=None)
    rest = service.list_keys(account_id, limit=2, cursor=first.next_cursor)
    assert sorted(key.key_id for key in first.keys + rest.keys) == sorted(key.key_id for key in issued)
    revoked = service.revoke_key(account_id, issued[0].key_id)
    assert (revoked.status.value, revoked.revoked_at) == ("revoked", START)
    with pytest.raises(KeyNotFound):
        service.revoke_key(account_id, "key_0000000000000000")
    with pytest.raises(AccountNotFound):
        service.issue_key(UNKNOWN_ACCOUNT, IssueKeyRequest())
    with pytest.raises(AccountNotFound):
        service.list_keys(UNKNOWN_ACCOUNT, limit=2, cursor=None)
    with pytest.raises(InvalidRequest):
        service.list_keys(account_id, limit=2, cursor="bm90LW91cnM")
    with pytest.raises(InvalidRequest):
        service.issue_key(account_id, IssueKeyRequest(expires_at=START))


def test_grants_are_idempotent_bounded_and_conflicts_are_refused() -> None:
    harness = Harness()
    service = harness.service()
    account_id = service.create_account(CreateAccountRequest(name="g")).account_id
    grant = GrantRequest(amount=25, reason="welcome", idempotency_key="welcome-1")
    first, again = service.grant(account_id, grant), service.grant(account_id, grant)
    assert (first.balance, first.replayed, again.replayed, again.entry_id) == (
        25,
        False,
        True,
        first.entry_id,
    )
    with pytest.raises(IdempotencyConflict):
        service.grant(account_id, GrantRequest(amount=26, reason="welcome", idempotency_key="welcome-1"))
    # Near the limit (set directly: a thousand maximal grants would only be slow).
    harness.store._tables.balances[account_id].balance = MAX_BALANCE - 10
    with pytest.raises(BalanceLimitExceeded):
        service.grant(account_id, GrantRequest(amount=11, reason="too much", idempotency_key="over"))
    assert service.grant(
        account_id, GrantRequest(amount=10, reason="to the limit", idempotency_key="exact")
    ).balance == (MAX_BALANCE)
    with pytest.raises(AccountNotFound):
        service.grant(UNKNOWN_ACCOUNT, grant)
    assert service.get_account(account_id).balance == MAX_BALANCE


def test_a_refund_of_an_unknown_request_is_not_found() -> None:
    service = Harness().service()
    with pytest.raises(ChargeNotFound):
        service.refund(RefundRequest(request_id="never-charged"))


def test_the_ledger_and_usage_check_their_periods() -> None:
    harness = Harness()
    service = harness.service()
    account_id, digest = harness.funded_key(service, 10)
    service.authorize(authorize_request(digest, "one"))
    harness.clock.advance(timedelta(seconds=1))
    entries = service.ledger(account_id, start=None, end=None, limit=10, cursor=None).entries
    assert [(entry.kind.value, entry.amount, entry.request_id) for entry in entries] == [
        ("charge", -1, "one"),
        ("grant", 10, f"grant:fund-{account_id}"),
    ]
    usage = service.usage(account_id, start=None, end=None)
    assert (usage.downloads, usage.credits_spent, usage.grants, usage.credits_granted) == (1, 1, 1, 10)
    now = harness.clock.now()
    with pytest.raises(InvalidRequest):
        service.ledger(account_id, start=now, end=now, limit=10, cursor=None)
    with pytest.raises(InvalidRequest):
        service.usage(account_id, start=now - timedelta(days=400), end=now)
    with pytest.raises(InvalidRequest):
        service.usage(account_id, start=now, end=now - timedelta(seconds=1))
    with pytest.raises(InvalidRequest):
        service.ledger(account_id, start=None, end=None, limit=10, cursor="!!")
    with pytest.raises(AccountNotFound):
        service.usage(UNKNOWN_ACCOUNT, start=None, end=None)
