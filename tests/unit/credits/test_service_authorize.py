"""Every outcome of ``CreditsService.authorize``, on the in-memory store (no Java, no sockets)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from functions.catalog.authorize_guard import CatalogVerdict
from functions.credits.errors import DeadlineExceeded, IdempotencyConflict
from functions.credits.schemas import Decision, IssueKeyRequest, RateLimit, RefundRequest
from functions.credits.service import DEADLINE_SAFETY_MARGIN_MS, CreditsService
from functions.shared.api_keys import generate_api_key, hash_api_key
from tests.unit.credits.service_fakes import (
    FakeCatalog,
    FakeClock,
    Harness,
    SlowCommitStore,
    authorize_request,
)


def balance(service: CreditsService, account_id: str) -> int:
    return service.get_account(account_id).balance


def ledger_kinds(service: CreditsService, account_id: str) -> list[tuple[str, int]]:
    page = service.ledger(account_id, start=None, end=None, limit=100, cursor=None)
    return [(entry.kind.value, entry.amount) for entry in page.entries]


def key_id_of(service: CreditsService, account_id: str) -> str:
    return service.list_keys(account_id, limit=1, cursor=None).keys[0].key_id


def assert_denied(decision: Decision, reason: str) -> None:
    assert decision.decision == "deny", decision
    assert decision.reason == reason
    assert decision.charged == 0


# --- allow, replay --------------------------------------------------------------------------


def test_an_allowed_request_is_charged_once_and_a_retry_replays_it() -> None:
    harness = Harness()
    service = harness.service()
    account_id, digest = harness.funded_key(service, 5)

    allowed = service.authorize(authorize_request(digest, "r-1"))
    again = service.authorize(authorize_request(digest, "r-1"))

    assert (allowed.decision, allowed.charged, allowed.account_id, allowed.replayed) == (
        "allow",
        1,
        account_id,
        False,
    )
    assert allowed.balance is None
    assert (again.decision, again.entry_id, again.replayed) == ("allow", allowed.entry_id, True)
    assert balance(service, account_id) == 4
    assert ledger_kinds(service, account_id) == [("charge", -1), ("grant", 5)]


def test_a_request_id_reused_for_another_request_is_a_conflict() -> None:
    harness = Harness()
    service = harness.service()
    account_id, digest = harness.funded_key(service, 5)
    service.authorize(authorize_request(digest, "reused", path="/one"))
    with pytest.raises(IdempotencyConflict):
        service.authorize(authorize_request(digest, "reused", path="/two"))
    with pytest.raises(IdempotencyConflict):
        service.authorize(authorize_request(digest, "reused", path="/one", range="bytes=0-9"))
    assert balance(service, account_id) == 4


def test_a_refunded_request_id_is_never_served_again() -> None:
    harness = Harness()
    service = harness.service()
    account_id, digest = harness.funded_key(service, 5)
    service.authorize(authorize_request(digest, "refunded"))
    service.refund(RefundRequest(request_id="refunded"))
    with pytest.raises(IdempotencyConflict):
        service.authorize(authorize_request(digest, "refunded"))
    assert balance(service, account_id) == 5


# --- denials for the key's sake -------------------------------------------------------------


def test_an_unknown_key_is_denied_invalid() -> None:
    service = Harness().service()
    decision = service.authorize(authorize_request(hash_api_key(generate_api_key()), "unknown"))
    assert_denied(decision, "invalid_api_key")
    assert decision.account_id is None
    assert decision.price == 1


def test_a_revoked_key_is_denied_and_not_charged() -> None:
    harness = Harness()
    service = harness.service()
    account_id, digest = harness.funded_key(service, 5)
    service.revoke_key(account_id, key_id_of(service, account_id))
    assert_denied(service.authorize(authorize_request(digest, "after-revoke")), "revoked_api_key")
    assert balance(service, account_id) == 5


def test_an_expired_key_is_denied() -> None:
    harness = Harness()
    service = harness.service()
    account_id, _ = harness.funded_key(service, 5)
    issued = service.issue_key(
        account_id, IssueKeyRequest(expires_at=harness.clock.now() + timedelta(minutes=1))
    )
    harness.clock.advance(timedelta(minutes=1))
    assert_denied(
        service.authorize(authorize_request(hash_api_key(issued.api_key), "late")), "expired_api_key"
    )
    assert balance(service, account_id) == 5


def test_a_key_over_its_rate_limit_is_denied_with_retry_after() -> None:
    harness = Harness()
    service = harness.service()
    account_id, digest = harness.funded_key(service, 10, rate_limit=RateLimit(per_second=1, burst=2))
    decisions = [service.authorize(authorize_request(digest, f"burst-{n}")) for n in range(3)]
    assert [decision.decision for decision in decisions] == ["allow", "allow", "deny"]
    assert decisions[2].reason == "rate_limited"
    assert decisions[2].retry_after == 1
    harness.clock.advance(timedelta(seconds=1))
    assert service.authorize(authorize_request(digest, "after-wait")).decision == "allow"
    assert balance(service, account_id) == 7


def test_an_empty_account_is_denied_with_its_balance_and_the_price() -> None:
    harness = Harness()
    service = harness.service()
    account_id, digest = harness.funded_key(service, 2)
    decision = service.authorize(
        authorize_request(digest, "big-upload", method="PUT", path="/u", bytes=5 * 1024 * 1024)
    )
    assert_denied(decision, "insufficient_credits")
    assert (decision.balance, decision.price, decision.account_id) == (2, 6, account_id)
    assert balance(service, account_id) == 2


def test_a_retry_after_the_key_was_revoked_gets_its_first_outcome() -> None:
    harness = Harness()
    service = harness.service()
    account_id, digest = harness.funded_key(service, 5)
    first = service.authorize(authorize_request(digest, "before-revoke"))
    service.revoke_key(account_id, key_id_of(service, account_id))
    retry = service.authorize(authorize_request(digest, "before-revoke"))
    assert (retry.decision, retry.replayed, retry.entry_id) == ("allow", True, first.entry_id)
    assert balance(service, account_id) == 4


# --- the key cache and revocation races -----------------------------------------------------


def test_a_revocation_in_another_container_stops_the_cached_key_at_once() -> None:
    harness = Harness()
    edge_facing, billing = harness.service(), harness.service()
    account_id, digest = harness.funded_key(billing, 10)
    assert edge_facing.authorize(authorize_request(digest, "warm-1")).decision == "allow"
    assert edge_facing.authorize(authorize_request(digest, "cached-1")).decision == "allow"

    billing.revoke_key(account_id, key_id_of(billing, account_id))

    assert_denied(edge_facing.authorize(authorize_request(digest, "cached-2")), "revoked_api_key")
    assert harness.store.get_charge("cached-2") is None
    assert balance(billing, account_id) == 8


def test_revoking_another_key_charges_the_cached_key_once_after_a_fresh_read() -> None:
    harness = Harness()
    edge_facing, billing = harness.service(), harness.service()
    account_id, digest = harness.funded_key(billing, 10)
    other = billing.issue_key(account_id, IssueKeyRequest(name="other"))
    edge_facing.authorize(authorize_request(digest, "warm"))
    billing.revoke_key(account_id, other.key_id)

    decision = edge_facing.authorize(authorize_request(digest, "after-other-revoked"))
    again = edge_facing.authorize(authorize_request(digest, "cached-again"))

    assert (decision.decision, decision.charged) == ("allow", 1)
    assert again.decision == "allow"
    assert balance(billing, account_id) == 7
    assert ledger_kinds(billing, account_id).count(("charge", -1)) == 3


def test_a_cached_key_whose_digest_vanished_is_denied_invalid() -> None:
    harness = Harness()
    edge_facing, billing = harness.service(), harness.service()
    account_id, digest = harness.funded_key(billing, 10)
    other = billing.issue_key(account_id, IssueKeyRequest(name="other"))
    edge_facing.authorize(authorize_request(digest, "warm"))
    billing.revoke_key(account_id, other.key_id)
    harness.store._tables.keys_by_digest.pop(digest)  # corrupted data: the refresh finds no key

    assert_denied(edge_facing.authorize(authorize_request(digest, "gone")), "invalid_api_key")
    assert balance(billing, account_id) == 9


def test_without_the_key_cache_every_authorization_reads_the_key() -> None:
    harness = Harness(key_cache_ttl_seconds=0)
    service = harness.service()
    account_id, digest = harness.funded_key(service, 3)
    service.authorize(authorize_request(digest, "a"))
    service.revoke_key(account_id, key_id_of(service, account_id))
    assert_denied(service.authorize(authorize_request(digest, "b")), "revoked_api_key")


# --- the deadline ---------------------------------------------------------------------------


def test_a_deadline_already_passed_charges_nothing() -> None:
    harness = Harness()
    service = harness.service()
    account_id, digest = harness.funded_key(service, 5)
    deadline_ms = int(harness.clock.now().timestamp() * 1000) + DEADLINE_SAFETY_MARGIN_MS // 2
    with pytest.raises(DeadlineExceeded):
        service.authorize(authorize_request(digest, "too-late", deadline_ms=deadline_ms))
    assert balance(service, account_id) == 5
    assert harness.store.get_charge("too-late") is None


def test_a_charge_that_commits_after_the_deadline_is_refunded_at_once() -> None:
    clock = FakeClock()
    harness = Harness(store=SlowCommitStore(clock, jump=timedelta(seconds=2)), clock=clock)
    service = harness.service()
    account_id, digest = harness.funded_key(service, 5)
    deadline_ms = int(harness.clock.now().timestamp() * 1000) + 1000
    with pytest.raises(DeadlineExceeded):
        service.authorize(authorize_request(digest, "slow", deadline_ms=deadline_ms))
    assert balance(service, account_id) == 5
    refund = harness.store.get_refund("slow")
    assert refund is not None
    assert refund.reason == "deadline_exceeded"


def test_a_deadline_in_time_charges_normally() -> None:
    harness = Harness()
    service = harness.service()
    account_id, digest = harness.funded_key(service, 5)
    deadline_ms = int(harness.clock.now().timestamp() * 1000) + 5000
    assert (
        service.authorize(authorize_request(digest, "in-time", deadline_ms=deadline_ms)).decision == "allow"
    )
    assert balance(service, account_id) == 4


# --- the catalog's verdicts -----------------------------------------------------------------


def test_a_missing_object_is_denied_before_any_charge() -> None:
    catalog = FakeCatalog(verdicts={"/gone": CatalogVerdict(deny_reason="object_not_found")})
    harness = Harness(catalog=catalog)
    service = harness.service()
    account_id, digest = harness.funded_key(service, 5)
    decision = service.authorize(authorize_request(digest, "missing", path="/gone"))
    assert_denied(decision, "object_not_found")
    assert decision.account_id == account_id
    assert balance(service, account_id) == 5
    assert catalog.charged_writes == []


def test_a_restore_in_progress_is_denied_with_retry_after_and_the_restore_price_charged_once() -> None:
    verdict = CatalogVerdict(deny_reason="restore_in_progress", retry_after=300, restore_started=True)
    catalog = FakeCatalog(verdicts={"/archived": verdict}, restore_price=3)
    harness = Harness(catalog=catalog)
    service = harness.service()
    account_id, digest = harness.funded_key(service, 10)
    decision = service.authorize(authorize_request(digest, "thaw", path="/archived"))
    assert_denied(decision, "restore_in_progress")
    assert decision.retry_after == 300
    restore = harness.store.get_charge("restore:thaw")
    assert restore is not None
    assert (restore.amount, restore.bytes) == (3, 0)
    assert harness.store.get_charge("thaw") is None
    assert balance(service, account_id) == 7


def test_a_restore_the_account_cannot_pay_is_not_charged() -> None:
    verdict = CatalogVerdict(deny_reason="restore_in_progress", retry_after=60, restore_started=True)
    harness = Harness(catalog=FakeCatalog(verdicts={"/archived": verdict}, restore_price=30))
    service = harness.service()
    account_id, digest = harness.funded_key(service, 10)
    assert_denied(
        service.authorize(authorize_request(digest, "poor", path="/archived")), "restore_in_progress"
    )
    assert balance(service, account_id) == 10


def test_a_catalog_denial_replays_a_request_charged_before_the_object_vanished() -> None:
    catalog = FakeCatalog()
    harness = Harness(catalog=catalog)
    service = harness.service()
    account_id, digest = harness.funded_key(service, 5)
    first = service.authorize(authorize_request(digest, "served", path="/flaky"))
    catalog.verdicts["/flaky"] = CatalogVerdict(deny_reason="object_not_found")
    retry = service.authorize(authorize_request(digest, "served", path="/flaky"))
    assert (retry.decision, retry.replayed, retry.entry_id) == ("allow", True, first.entry_id)
    assert balance(service, account_id) == 4


def test_a_charged_upload_is_reported_to_the_catalog() -> None:
    catalog = FakeCatalog()
    harness = Harness(catalog=catalog)
    service = harness.service()
    _, digest = harness.funded_key(service, 5)
    service.authorize(authorize_request(digest, "up", method="PUT", path="/new.bin", bytes=10))
    assert catalog.charged_writes == [("PUT", "/new.bin", 10)]


# --- refunds --------------------------------------------------------------------------------


def test_a_refund_gives_the_charge_back_once_and_tells_the_catalog() -> None:
    catalog = FakeCatalog(refund_retry_after=120)
    harness = Harness(catalog=catalog)
    service = harness.service()
    account_id, digest = harness.funded_key(service, 5)
    service.authorize(authorize_request(digest, "to-refund", path="/cold"))
    refund = service.refund(RefundRequest(request_id="to-refund", reason="origin_403"))
    again = service.refund(RefundRequest(request_id="to-refund", reason="origin_403"))
    assert (refund.refunded, refund.balance, refund.replayed, refund.restore_retry_after) == (
        1,
        5,
        False,
        120,
    )
    assert (again.replayed, again.entry_id, again.restore_retry_after) == (True, refund.entry_id, None)
    assert catalog.refunds == [("GET", "/cold", "origin_403")]
    assert balance(service, account_id) == 5
