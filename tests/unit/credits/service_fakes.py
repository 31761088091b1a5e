"""Fakes the credits service's unit tests run it with: a clock, a catalog, a store that stalls."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from functions.catalog.authorize_guard import CatalogVerdict
from functions.credits.schemas import (
    AuthorizeRequest,
    CreateAccountRequest,
    GrantRequest,
    IssueKeyRequest,
    RateLimit,
)
from functions.credits.service import CreditsService, NoTelemetry
from functions.credits.settings import PricingConfig, Settings
from functions.credits.store.memory import InMemoryCreditsStore
from functions.credits.store.records import ChargeIntent, ChargeOutcome
from functions.shared.api_keys import hash_api_key

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIB = 1024 * 1024
# Downloads priced per MiB served, as the issue's examples are: 1 credit + 1 per started MiB.
PER_MIB_PRICING = PricingConfig.model_validate(
    {
        "methods": {
            "GET": {"base": 1, "per_started_mib": 1},
            "HEAD": {"base": 1},
            "PUT": {"base": 1, "per_started_mib": 1},
        }
    }
)


@dataclass
class FakeClock:
    moment: datetime = START

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment += delta


@dataclass(frozen=True)
class Observed:
    retry_after: int | None = None


@dataclass
class FakeCatalog:
    """Verdicts per path (default: proceed, size unknown); remembers what it was told."""

    verdicts: dict[str, CatalogVerdict] = field(default_factory=dict)
    restore_price: int = 0
    refund_retry_after: int | None = None
    charged_writes: list[tuple[str, str, int]] = field(default_factory=list)
    refunds: list[tuple[str, str, str]] = field(default_factory=list)

    def before_charge(self, method: str, path: str, now: datetime) -> CatalogVerdict:
        return self.verdicts.get(path, CatalogVerdict())

    def after_charge(self, *, method: str, path: str, body_bytes: int, now: datetime) -> None:
        self.charged_writes.append((method, path, body_bytes))

    def after_refund(self, *, method: str, path: str, reason: str, now: datetime) -> Observed:
        self.refunds.append((method, path, reason))
        return Observed(self.refund_retry_after)


class SlowCommitStore(InMemoryCreditsStore):
    """The twin, but the clock jumps while a charge commits (a charge that lands too late)."""

    def __init__(self, clock: FakeClock, jump: timedelta) -> None:
        super().__init__()
        self._clock = clock
        self._jump = jump

    def charge(self, intent: ChargeIntent) -> ChargeOutcome:
        outcome = super().charge(intent)
        self._clock.advance(self._jump)
        return outcome


@dataclass
class Harness:
    """A service on the in-memory store, with helpers to fund accounts and authorize."""

    store: InMemoryCreditsStore = field(default_factory=InMemoryCreditsStore)
    clock: FakeClock = field(default_factory=FakeClock)
    catalog: FakeCatalog | None = None
    pricing: PricingConfig = field(default_factory=PricingConfig)
    key_cache_ttl_seconds: int = 600

    def service(self) -> CreditsService:
        """A container: its own key cache, the shared store."""
        settings = Settings(pricing=self.pricing, key_cache_ttl_seconds=self.key_cache_ttl_seconds)
        return CreditsService(
            self.store, settings, telemetry=NoTelemetry(), clock=self.clock, catalog=self.catalog
        )

    def funded_key(
        self, service: CreditsService, credits: int, *, rate_limit: RateLimit | None = None
    ) -> tuple[str, str]:
        """An account holding ``credits`` and a key of it: (account id, key digest)."""
        account = service.create_account(CreateAccountRequest(name="unit"))
        if credits:
            service.grant(
                account.account_id,
                GrantRequest(amount=credits, reason="fund", idempotency_key=f"fund-{account.account_id}"),
            )
        issued = service.issue_key(account.account_id, IssueKeyRequest(rate_limit=rate_limit))
        # Later entries are strictly newer than the funding grant: the ledger's order is fixed.
        self.clock.advance(timedelta(seconds=1))
        return account.account_id, hash_api_key(issued.api_key)


def authorize_request(digest: str, request_id: str, **fields: object) -> AuthorizeRequest:
    values: dict[str, object] = {
        "key_digest": digest,
        "request_id": request_id,
        "method": "GET",
        "path": "/objects/video.mp4",
    }
    return AuthorizeRequest.model_validate(values | fields)
