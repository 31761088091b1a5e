"""The sellers' use cases and authorize outcomes on the in-memory store (no Java, no sockets).

The same rules run on DynamoDB Local in tests/integration/sellers/; here every outcome is cheap
to reach, including the races a real table makes hard to time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from functions.credits.errors import Conflict, InvalidRequest
from functions.credits.schemas import (
    AuthorizeRequest,
    CreateAccountRequest,
    Decision,
    GrantRequest,
    IssueKeyRequest,
    RefundRequest,
)
from functions.credits.sellers.lifecycle import AccountClosed, AccountStatus, StatusChange
from functions.credits.sellers.records import StatusChangeOutcome, StatusRaced
from functions.credits.sellers.schemas import AccountStatusRequest, AlertsRequest, CreateLinkRequest
from functions.credits.service import CreditsService, NoTelemetry
from functions.credits.settings import Settings
from functions.credits.store.memory import InMemoryCreditsStore
from functions.credits.store.records import AccountRecord
from functions.shared.api_keys import hash_api_key

START = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
ARN = "arn:aws:iam::123456789012:user/billing"


@dataclass
class Clock:
    moment: datetime = START

    def now(self) -> datetime:
        return self.moment


@dataclass
class World:
    store: InMemoryCreditsStore = field(default_factory=InMemoryCreditsStore)
    clock: Clock = field(default_factory=Clock)
    requests: int = 0

    def service(self, **settings: Any) -> CreditsService:
        return CreditsService(self.store, Settings(**settings), telemetry=NoTelemetry(), clock=self.clock)

    def account(self, service: CreditsService, name: str = "acme", credits: int = 0) -> str:
        account_id = service.create_account(CreateAccountRequest(name=name)).account_id
        if credits:
            service.grant(
                account_id, GrantRequest(amount=credits, reason="seed", idempotency_key=f"s-{account_id}")
            )
        return account_id

    def key(self, service: CreditsService, account_id: str, **options: Any) -> tuple[str, str]:
        issued = service.issue_key(account_id, IssueKeyRequest.model_validate(options))
        return issued.key_id, hash_api_key(issued.api_key)

    def authorize(self, service: CreditsService, request_id: str | None = None, **fields: Any) -> Decision:
        self.requests += 1
        values = {"request_id": request_id or f"r{self.requests}", "method": "GET", "path": "/a.bin"}
        return service.authorize(AuthorizeRequest.model_validate(values | fields))


def reason(decision: Decision) -> str | None:
    return None if decision.reason is None else decision.reason.value


# --- lifecycle --------------------------------------------------------------------------------


def test_status_changes_refuse_charges_in_every_container_and_closed_is_terminal() -> None:
    world = World()
    billing, edge = world.service(), world.service()
    account_id = world.account(billing, credits=10)
    _, digest = world.key(billing, account_id)
    assert world.authorize(edge, key_digest=digest).decision == "allow"  # cached in "edge"
    change = billing.sellers.change_status(
        account_id, AccountStatusRequest(status="suspended", reason="r"), ARN
    )
    assert (change.changed, change.status_changed_by, change.status_changed_at) == (True, ARN, START)
    assert reason(world.authorize(edge, key_digest=digest)) == "account_suspended"
    billing.sellers.change_status(account_id, AccountStatusRequest(status="closed", reason="gone"), ARN)
    closed = world.authorize(edge, key_digest=digest)
    assert (reason(closed), closed.charged) == ("account_closed", 0)
    assert billing.get_account(account_id).balance == 9
    with pytest.raises(AccountClosed):
        billing.sellers.change_status(account_id, AccountStatusRequest(status="active", reason="r"), ARN)
    with pytest.raises(AccountClosed):
        billing.grant(account_id, GrantRequest(amount=1, reason="late", idempotency_key="late"))
    with pytest.raises(AccountClosed):
        world.key(billing, account_id)


class RacingStore(InMemoryCreditsStore):
    """Another change always gets in first."""

    def change_account_status(self, account: AccountRecord, change: StatusChange) -> StatusChangeOutcome:
        return StatusRaced()


def test_a_status_change_that_keeps_losing_races_is_a_409() -> None:
    world = World(store=RacingStore())
    service = world.service()
    account_id = world.account(service)
    with pytest.raises(Conflict):
        service.sellers.change_status(account_id, AccountStatusRequest(status="suspended", reason="r"), ARN)


# --- the account list -------------------------------------------------------------------------


def test_list_pages_filters_and_short_pages_with_balance_below() -> None:
    world = World()
    service = world.service()
    balances = {"delta": 50, "Alpha": 5, "charlie": 0, "bravo": 500, "echo": 7}
    ids = {name: world.account(service, name, credits) for name, credits in balances.items()}
    service.sellers.change_status(ids["echo"], AccountStatusRequest(status="suspended", reason="r"), ARN)
    first = service.sellers.list_accounts(
        status=None, name_prefix=None, balance_below=None, limit=2, cursor=None
    )
    assert [account.name for account in first.accounts] == ["Alpha", "bravo"]
    assert first.next_cursor is not None
    rest = service.sellers.list_accounts(
        status=None, name_prefix=None, balance_below=None, limit=10, cursor=first.next_cursor
    )
    assert [account.name for account in rest.accounts] == ["charlie", "delta", "echo"]
    assert rest.next_cursor is None
    low = service.sellers.list_accounts(
        status=None, name_prefix=None, balance_below=10, limit=10, cursor=None
    )
    assert [(account.name, account.balance) for account in low.accounts] == [
        ("Alpha", 5),
        ("charlie", 0),
        ("echo", 7),
    ]
    suspended = service.sellers.list_accounts(
        status=AccountStatus.SUSPENDED, name_prefix=None, balance_below=None, limit=10, cursor=None
    )
    assert [account.name for account in suspended.accounts] == ["echo"]
    prefixed = service.sellers.list_accounts(
        status=None, name_prefix="B", balance_below=None, limit=10, cursor=None
    )
    assert [account.name for account in prefixed.accounts] == ["bravo"]
    with pytest.raises(InvalidRequest):
        service.sellers.list_accounts(status=None, name_prefix=None, balance_below=None, limit=1, cursor="x!")


# --- scopes and spend limits ------------------------------------------------------------------


def test_scope_and_spend_limit_decide_before_and_inside_the_charge() -> None:
    world = World()
    service = world.service()
    account_id = world.account(service, credits=100)
    _, digest = world.key(service, account_id, scope={"methods": ["GET"], "prefixes": ["/a"]}, spend_limit=2)
    assert reason(world.authorize(service, key_digest=digest, method="PUT")) == "key_scope_denied"
    assert reason(world.authorize(service, key_digest=digest, path="/b")) == "key_scope_denied"
    first = world.authorize(service, "first", key_digest=digest)
    assert world.authorize(service, key_digest=digest).decision == "allow"
    assert reason(world.authorize(service, key_digest=digest)) == "key_spend_limit_reached"
    assert first.decision == "allow"
    # A retry of a charged request is replayed even with the limit reached.
    assert world.authorize(service, "first", key_digest=digest).replayed is True
    service.refund(RefundRequest(request_id="first", reason="origin_5xx"))
    assert world.authorize(service, key_digest=digest).decision == "allow"
    assert service.get_account(account_id).balance == 98


# --- links ------------------------------------------------------------------------------------


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["em_link"][0]


def test_link_outcomes() -> None:
    world = World()
    service = world.service(cdn_base_url="https://cdn.example.com", link_max_expires_in_seconds=3600)
    account_id = world.account(service, credits=100)
    key_id, _ = world.key(service, account_id)
    link = service.sellers.create_link(
        account_id, CreateLinkRequest(key_id=key_id, path="/a.bin", expires_in=60, max_uses=2)
    )
    assert link.url.startswith("https://cdn.example.com/a.bin?em_link=eml_")
    assert link.expires_at == START + timedelta(seconds=60)
    digest = hash_api_key(_token(link.url))
    assert world.authorize(service, "once", link_token_digest=digest).decision == "allow"
    assert reason(world.authorize(service, link_token_digest=digest, path="/b.bin")) == "link_path_denied"
    assert reason(world.authorize(service, link_token_digest="0" * 64)) == "link_invalid"
    assert world.authorize(service, link_token_digest=digest).decision == "allow"
    assert reason(world.authorize(service, link_token_digest=digest)) == "link_exhausted"
    assert world.authorize(service, "once", link_token_digest=digest).replayed is True
    world.clock.moment = START + timedelta(seconds=60)
    assert reason(world.authorize(service, link_token_digest=digest)) == "link_expired"
    with pytest.raises(InvalidRequest):
        service.sellers.create_link(account_id, CreateLinkRequest(key_id=key_id, path="/a", expires_in=3601))


# --- alerts -----------------------------------------------------------------------------------


def test_thresholds_are_kept_high_to_low_and_shown_with_the_account() -> None:
    world = World()
    service = world.service()
    account_id = world.account(service)
    assert service.sellers.set_alerts(account_id, AlertsRequest(thresholds=[10, 100])).alert_thresholds == [
        100,
        10,
    ]
    assert service.get_account(account_id).alert_thresholds == [100, 10]
    assert service.sellers.get_alerts(account_id).alert_thresholds == [100, 10]
