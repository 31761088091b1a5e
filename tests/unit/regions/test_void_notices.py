"""A request retried in another region is charged once: the void notice (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.credits.app import CreditsApi
from functions.credits.regions.void_notices import (
    APPLY_AFTER,
    APPLY_VOID_NOTICES_EVENT,
    DynamoDBVoidNoticeBook,
    InMemoryVoidNoticeBook,
    apply_void_notices,
    is_apply_void_notices_event,
    void_notice_book_from_environment,
)
from functions.credits.settings import Settings
from functions.credits.store.records import GrantIntent
from functions.shared.environment_variables import EDGEMETER_VOID_NOTICES_TABLE
from tests.integration.credits.events import FakeLambdaContext, api_event, parse_reply
from tests.unit.credits.service_fakes import Harness, authorize_request

FIRST = "ap-northeast-1"
SECOND = "us-east-1"


def _replicate_account(source: Harness, target: Harness, account_id: str, credits: int) -> None:
    """What the users global table does for the target region: the account and its keys there."""
    account = source.store.get_account(account_id)
    assert account is not None
    target.store.create_account(account)
    for key in source.store.list_keys(account_id, 100, None).items:
        target.store.put_key(key)
    target.store.grant(
        GrantIntent(
            account_id=account_id,
            amount=credits,
            reason="transfer",
            idempotency_key="fund-region",
            max_balance=10**9,
            now=datetime.now(UTC),
        )
    )


def test_a_retry_elsewhere_posts_a_notice_and_the_first_charge_is_refunded_once() -> None:
    first, second = Harness(), Harness()
    account_id, digest = first.funded_key(first.service(), 10)
    _replicate_account(first, second, account_id, 10)
    # The first region charged; its reply never reached the edge, and the void failed too.
    assert first.service().authorize(authorize_request(digest, "req-x")).decision == "allow"
    book = InMemoryVoidNoticeBook()
    second_api = CreditsApi(second.service(), Settings(region=SECOND), void_notices=book)
    body = {
        "key_digest": digest,
        "request_id": "req-x",
        "method": "GET",
        "path": "/objects/video.mp4",
        "retry_of_region": FIRST,
    }
    reply = parse_reply(
        second_api.handle(api_event("POST", "/v1/authorize", body), FakeLambdaContext())  # type: ignore[arg-type]
    )
    assert reply.status == 200
    assert reply.body["decision"] == "allow"
    (notice,) = book.pending(FIRST)
    assert notice.request_id == "req-x"
    assert notice.posted_by_region == SECOND
    # Too young: an attempt in the first region could still be inside its deadline.
    assert apply_void_notices(book, FIRST, first.store, notice.posted_at) == []
    later = notice.posted_at + APPLY_AFTER + timedelta(seconds=1)
    assert apply_void_notices(book, FIRST, first.store, later) == [notice]
    assert first.store.get_balance(account_id) == 10
    assert second.store.get_balance(account_id) == 9
    # Applied once: the notice is gone, and applying again refunds nothing more.
    assert book.pending(FIRST) == []
    assert apply_void_notices(book, FIRST, first.store, later) == []
    assert first.store.get_balance(account_id) == 10


def test_a_retry_naming_nothing_or_itself_posts_no_notice() -> None:
    harness = Harness()
    _, digest = harness.funded_key(harness.service(), 5)
    book = InMemoryVoidNoticeBook()
    api = CreditsApi(harness.service(), Settings(region=SECOND), void_notices=book)
    for request_id, retry_of in (("r1", None), ("r2", SECOND)):
        body = {"key_digest": digest, "request_id": request_id, "method": "GET", "path": "/o"}
        if retry_of is not None:
            body["retry_of_region"] = retry_of
        reply = parse_reply(api.handle(api_event("POST", "/v1/authorize", body), FakeLambdaContext()))  # type: ignore[arg-type]
        assert reply.status == 200
    assert book.pending(SECOND) == []
    assert book.pending(FIRST) == []


def test_the_credits_lambda_gets_a_book_only_when_the_stacks_name_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(EDGEMETER_VOID_NOTICES_TABLE, raising=False)
    assert void_notice_book_from_environment("us-east-1", None) is None
    monkeypatch.setenv(EDGEMETER_VOID_NOTICES_TABLE, "Edgemeter-eu-west-1-void-notices")
    assert isinstance(void_notice_book_from_environment("us-east-1", None), DynamoDBVoidNoticeBook)


def test_the_scheduled_event_runs_the_applier_and_nothing_else_does() -> None:
    assert is_apply_void_notices_event(dict(APPLY_VOID_NOTICES_EVENT))
    assert not is_apply_void_notices_event({"requestContext": {}, "edgemeter": "other"})
    assert not is_apply_void_notices_event("apply_void_notices")
