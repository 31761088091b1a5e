"""The logic of the credits service: between the thin API layer and the credits store.

It takes validated request models, applies the money rules, calls the store (any
``CreditsStore``: DynamoDB in the Lambda, the in-memory twin in unit tests) and returns
response models. It raises the domain errors of ``functions/credits/errors.py``; an
authorization that is refused is a ``schemas.Decision`` with a reason, not an error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from functions.catalog.authorize_guard import CatalogVerdict
from functions.credits.errors import (
    AccountNotFound,
    BalanceLimitExceeded,
    ChargeNotFound,
    DeadlineExceeded,
    IdempotencyConflict,
    InvalidRequest,
    KeyNotFound,
)
from functions.credits.ids import new_account_id, new_key_id
from functions.credits.ranges import Unsatisfiable, bytes_served
from functions.credits.schemas import (
    MAX_BALANCE,
    Account,
    AccountStatus,
    AuthorizeRequest,
    CreateAccountRequest,
    Decision,
    DenialReason,
    EntryKind,
    Grant,
    GrantRequest,
    IssuedKey,
    IssueKeyRequest,
    Key,
    KeyList,
    KeyStatus,
    LedgerEntry,
    LedgerPage,
    RateLimit,
    Refund,
    RefundRequest,
    Usage,
)
from functions.credits.sellers.lifecycle import AccountClosed, require_usable, status_from_stored
from functions.credits.sellers.links import LinkFacts, link_denial
from functions.credits.sellers.records import (
    AccountClosedToGrants,
    AccountNotActive,
    LinkExhausted,
    SpendLimitReached,
)
from functions.credits.sellers.scope_model import KeyScopeModel
from functions.credits.sellers.service import LinkSettings, SellersService
from functions.credits.settings import Settings
from functions.credits.store.errors import DataIntegrityError, InvalidCursor
from functions.credits.store.protocol import CreditsStore
from functions.credits.store.records import (
    AccountRecord,
    AlreadyCharged,
    Charged,
    ChargeIntent,
    ChargeOutcome,
    ChargeRecord,
    Granted,
    GrantIntent,
    GrantOverLimit,
    InsufficientCredits,
    KeyRateLimit,
    KeyRecord,
    KeyRevocationsChanged,
    KeyState,
    LedgerRecord,
)
from functions.shared.api_keys import generate_api_key, hash_api_key
from functions.shared.http_methods import DOWNLOAD_METHODS
from functions.shared.ttl_cache import TtlCache

# Bounds of the ledger when no time filter is given, and the longest usage period.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
MAX_USAGE_PERIOD = timedelta(days=366)
# How long before the edge's deadline the service stops charging: the allow still has to
# travel back to the edge (API Gateway + the network to the edge location) in time.
DEADLINE_SAFETY_MARGIN_MS = 250
DEADLINE_REFUND_REASON = "deadline_exceeded"


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Telemetry(Protocol):
    """Business metrics; the Lambda handler provides a Powertools implementation."""

    def charged(self, credits: int) -> None: ...

    def denied(self, reason: DenialReason) -> None: ...

    def refunded(self, credits: int) -> None: ...

    def granted(self, credits: int) -> None: ...


class NoTelemetry:
    def charged(self, credits: int) -> None:
        pass

    def denied(self, reason: DenialReason) -> None:
        pass

    def refunded(self, credits: int) -> None:
        pass

    def granted(self, credits: int) -> None:
        pass


class RefundObservation(Protocol):
    """What the catalog learnt from a refunded origin failure."""

    @property
    def retry_after(self) -> int | None: ...


class ObjectsCatalog(Protocol):
    """The objects catalog as authorize and refund consult it (``CatalogGuard`` in the Lambda)."""

    @property
    def restore_price(self) -> int: ...

    def before_charge(self, method: str, path: str, now: datetime) -> CatalogVerdict: ...

    def after_charge(self, *, method: str, path: str, body_bytes: int, now: datetime) -> None: ...

    def after_refund(self, *, method: str, path: str, reason: str, now: datetime) -> RefundObservation: ...


def _key_view(key: KeyRecord) -> Key:
    limit = key.rate_limit
    return Key(
        key_id=key.key_id,
        account_id=key.account_id,
        name=key.name,
        status=KeyStatus(key.status.value),
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        rate_limit=None if limit is None else RateLimit(per_second=limit.per_second, burst=limit.burst),
        scope=KeyScopeModel.from_scope(key.scope),
        spend_limit=key.spend_limit,
    )


def _entry_view(entry: LedgerRecord) -> LedgerEntry:
    return LedgerEntry(
        entry_id=entry.entry_id,
        account_id=entry.account_id,
        request_id=entry.request_id,
        kind=EntryKind(entry.kind.value),
        amount=entry.amount,
        method=entry.method,
        path=entry.path,
        bytes=entry.bytes,
        reason=entry.reason,
        created_at=entry.created_at,
    )


def _account_view(account: AccountRecord, balance: int, alert_thresholds: Sequence[int] = ()) -> Account:
    return Account(
        account_id=account.account_id,
        name=account.name,
        balance=balance,
        status=AccountStatus(account.status),
        created_at=account.created_at,
        status_reason=account.status_reason,
        status_changed_by=account.status_changed_by,
        status_changed_at=account.status_changed_at,
        alert_thresholds=list(alert_thresholds),
    )


@dataclass(frozen=True, slots=True)
class CachedKey:
    """An active key's facts as this container last read them, with the account's key
    revocation count of that same snapshot; every charge made on it checks the count."""

    key: KeyRecord
    key_revocations: int


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One authorization in progress: the key it runs on and what it would charge."""

    request: AuthorizeRequest
    key: KeyRecord
    now: datetime
    # The revocation count of the cached key facts this attempt charges on; None: read afresh.
    key_revocations_seen: int | None
    # The key's digest: the request's, or (sellers, issue 16) the one behind its signed link.
    key_digest: str
    price: int = 0
    # What the request moves: an upload's Content-Length, a download's bytes served (None: unknown).
    bytes: int | None = 0
    # sellers (issue 16): the signed link the request came with, if any.
    link: LinkFacts | None = None
    link_digest: str | None = None


class CreditsService:
    def __init__(
        self,
        store: CreditsStore,
        settings: Settings,
        *,
        telemetry: Telemetry | None = None,
        clock: Clock | None = None,
        catalog: ObjectsCatalog | None = None,
    ) -> None:
        self._store = store
        self._pricing = settings.pricing
        self._telemetry = telemetry or NoTelemetry()
        self._clock = clock or SystemClock()
        # The objects catalog (functions/catalog/), when one is configured: consulted before charges.
        self._catalog = catalog
        # Per container, keyed by the key's digest (docs/decisions.md, "Key standing cache").
        self._key_cache_enabled = settings.key_cache_ttl_seconds > 0
        # sellers (issue 16): the account list, status changes, links and alert thresholds.
        self.sellers = SellersService(
            store,
            self._clock,
            LinkSettings.from_settings(settings),
        )
        self._cached_keys: TtlCache[CachedKey] = TtlCache(
            settings.key_cache_max_entries, settings.key_cache_ttl_seconds, time.monotonic
        )

    # accounts --------------------------------------------------------------------------------

    def create_account(self, request: CreateAccountRequest) -> Account:
        account = AccountRecord(
            account_id=new_account_id(),
            name=request.name,
            status=AccountStatus.ACTIVE.value,
            created_at=self._clock.now(),
        )
        self._store.create_account(account)
        return _account_view(account, balance=0)

    def get_account(self, account_id: str) -> Account:
        account = self._require_account(account_id)
        # sellers (issue 16): the balance item's thresholds come with the balance (the same read).
        facts = self._store.get_balance_facts(account_id)
        if facts is None:
            raise DataIntegrityError(f"account {account_id} has no balance")
        return _account_view(account, facts.balance, facts.alert_thresholds)

    def _balance(self, account_id: str) -> int:
        balance = self._store.get_balance(account_id)
        if balance is None:
            raise DataIntegrityError(f"account {account_id} has no balance")
        return balance

    def _require_account(self, account_id: str) -> AccountRecord:
        account = self._store.get_account(account_id)
        if account is None:
            raise AccountNotFound(account_id)
        return account

    # keys ------------------------------------------------------------------------------------

    def issue_key(self, account_id: str, request: IssueKeyRequest) -> IssuedKey:
        now = self._clock.now()
        if request.expires_at is not None and request.expires_at <= now:
            raise InvalidRequest("expires_at must be in the future", field="expires_at")
        # sellers (issue 16): only an active account gets new keys.
        require_usable(account_id, status_from_stored(self._require_account(account_id).status), "a new key")
        api_key = generate_api_key()
        limit = request.rate_limit
        key = KeyRecord(
            account_id=account_id,
            key_id=new_key_id(),
            key_digest=hash_api_key(api_key),
            status=KeyState.ACTIVE,
            created_at=now,
            name=request.name,
            expires_at=request.expires_at,
            rate_limit=None if limit is None else KeyRateLimit(limit.per_second, limit.burst),
            scope=None if request.scope is None else request.scope.to_scope(),
            spend_limit=request.spend_limit,
        )
        if not self._store.put_key(key):
            raise AccountNotFound(account_id)
        return IssuedKey(**_key_view(key).model_dump(), api_key=api_key)

    def list_keys(self, account_id: str, *, limit: int, cursor: str | None) -> KeyList:
        self._require_account(account_id)
        try:
            page = self._store.list_keys(account_id, limit, cursor)
        except InvalidCursor as error:
            raise InvalidRequest(str(error), field="cursor") from None
        return KeyList(keys=[_key_view(key) for key in page.items], next_cursor=page.next_cursor)

    def revoke_key(self, account_id: str, key_id: str) -> Key:
        key = self._store.get_key(account_id, key_id)
        if key is None:
            raise KeyNotFound(account_id, key_id)
        self._store.revoke_key(key, self._clock.now())
        revoked = self._store.get_key(account_id, key_id)
        if revoked is None:
            raise DataIntegrityError(f"key {key_id} vanished while being revoked")
        return _key_view(revoked)

    # grants ----------------------------------------------------------------------------------

    def grant(self, account_id: str, request: GrantRequest) -> Grant:
        outcome = self._store.grant(
            GrantIntent(
                account_id=account_id,
                amount=request.amount,
                reason=request.reason,
                idempotency_key=request.idempotency_key,
                max_balance=MAX_BALANCE,
                now=self._clock.now(),
            )
        )
        if isinstance(outcome, GrantOverLimit):
            raise BalanceLimitExceeded(account_id, MAX_BALANCE)
        if isinstance(outcome, AccountClosedToGrants):
            raise AccountClosed(account_id, "a grant")
        if not isinstance(outcome, Granted):
            raise AccountNotFound(account_id)
        record = outcome.record
        if outcome.replayed and (record.amount, record.reason) != (request.amount, request.reason):
            raise IdempotencyConflict(
                "this idempotency key was used for a different grant", idempotency_key=request.idempotency_key
            )
        if not outcome.replayed:
            self._telemetry.granted(request.amount)
        return Grant(
            account_id=account_id,
            entry_id=record.entry_id,
            amount=record.amount,
            balance=self._balance(account_id),
            idempotency_key=record.idempotency_key,
            created_at=record.created_at,
            replayed=outcome.replayed,
        )

    # ledger and usage ------------------------------------------------------------------------

    def ledger(
        self,
        account_id: str,
        *,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> LedgerPage:
        start, end = start or EARLIEST, end or LATEST
        if start >= end:
            raise InvalidRequest("`from` must be before `to`", field="from")
        self._require_account(account_id)
        try:
            page = self._store.ledger_page(account_id, start=start, end=end, limit=limit, cursor=cursor)
        except InvalidCursor as error:
            raise InvalidRequest(str(error), field="cursor") from None
        return LedgerPage(entries=[_entry_view(entry) for entry in page.items], next_cursor=page.next_cursor)

    def usage(self, account_id: str, *, start: datetime | None, end: datetime | None) -> Usage:
        now = self._clock.now()
        end = end or now
        start = start or end.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if start >= end:
            raise InvalidRequest("`from` must be before `to`", field="from")
        if end - start > MAX_USAGE_PERIOD:
            raise InvalidRequest(f"a usage period is at most {MAX_USAGE_PERIOD.days} days", field="to")
        self._require_account(account_id)
        totals = self._store.usage(account_id, start=start, end=end)
        return Usage(account_id=account_id, from_=start, to=end, **asdict(totals))

    # the edge: authorize ---------------------------------------------------------------------

    def authorize(self, request: AuthorizeRequest) -> Decision:
        """Allow (and charge) or deny one edge request, in named steps.

        key -> the key's own standing (status, expiry, rate limit) -> the catalog's verdict and
        the price of what will be served -> the deadline -> the charge -> the decision. An allow
        carries no balance: reading it would cost a round trip after the charge on every
        download, and the edge needs the balance only for a 402.
        """
        base_price = self._pricing.price(request.method, request.path, request.bytes)
        now = self._clock.now()
        credential = self._credential(request, base_price, now)
        if isinstance(credential, Decision):
            return credential
        key_digest, link = credential
        cached = self._cached_keys.get(key_digest)
        key = cached.key if cached is not None else self._store.get_key_by_digest(key_digest)
        if key is None:
            return self._deny(DenialReason.INVALID_API_KEY, base_price)
        attempt = _Attempt(
            request=request,
            key=key,
            now=now,
            key_revocations_seen=None if cached is None else cached.key_revocations,
            key_digest=key_digest,
            price=base_price,
            bytes=request.bytes,
            link=link,
            link_digest=request.link_token_digest,
        )
        refused = self._refuse_for_key(attempt)
        if refused is not None:
            return refused
        priced = self._price_what_is_served(attempt)
        if isinstance(priced, Decision):
            return priced
        self._check_deadline(request, charged=False)
        return self._charge_and_decide(priced)

    def _credential(
        self, request: AuthorizeRequest, price: int, now: datetime
    ) -> tuple[str, LinkFacts | None] | Decision:
        """The digest of the key to authorize: the request's own, or (sellers, issue 16) the key
        behind its signed link, once the link's own facts (expiry, path, uses) allow the request.

        A link denial defers to an earlier charge of the same request id: the retry of a request
        that used a link's last use is replayed by the charge, not refused.
        """
        if request.link_token_digest is None:
            assert request.key_digest is not None  # the request model requires one of the two
            return request.key_digest, None
        link = self._store.get_link(request.link_token_digest)
        if link is None:
            return self._deny(DenialReason.LINK_INVALID, price)
        denial = link_denial(link, request.method, request.path, now)
        if denial is not None and self._store.get_charge(request.request_id) is None:
            return self._deny(denial, price, account_id=link.account_id)
        return link.key_digest, link

    def _refuse_for_key(self, attempt: _Attempt) -> Decision | None:
        """A denial for the key's own sake (revoked, expired, over its rate limit), or None."""
        key, now = attempt.key, attempt.now
        if not key.active:
            return self._deny_key(attempt, DenialReason.REVOKED_API_KEY)
        if key.expires_at is not None and now >= key.expires_at:
            return self._deny_key(attempt, DenialReason.EXPIRED_API_KEY)
        if key.scope is not None and not key.scope.allows(attempt.request.method, attempt.request.path):
            return self._deny_key(attempt, DenialReason.KEY_SCOPE_DENIED)
        if key.rate_limit is None:
            return None
        wait_us = self._store.take_rate_limit_slot(
            key.key_id, key.rate_limit.per_second, key.rate_limit.burst, int(now.timestamp() * 1_000_000)
        )
        if wait_us <= 0:
            return None
        retry_after = max(1, math.ceil(wait_us / 1_000_000))
        return self._deny_key(attempt, DenialReason.RATE_LIMITED, retry_after=retry_after)

    def _price_what_is_served(self, attempt: _Attempt) -> _Attempt | Decision:
        """The catalog's verdict and the price of the bytes the request will move.

        A download is priced by the bytes it serves (its Range against the catalog's object
        size; 0 for HEAD), an upload by its Content-Length. Denials of the catalog and an
        unsatisfiable Range come back as decisions, with nothing charged.
        """
        request = attempt.request
        verdict = self._catalog_verdict(attempt)
        if isinstance(verdict, Decision):
            return verdict
        if request.method not in DOWNLOAD_METHODS:
            return attempt
        size = verdict.object_size if verdict else None
        served = 0 if request.method == "HEAD" else bytes_served(request.range, size)
        if isinstance(served, Unsatisfiable):
            denied = self._deny_key(attempt, DenialReason.RANGE_NOT_SATISFIABLE)
            # The size lets the edge answer 416 with Content-Range: bytes */<size>, as HTTP asks.
            return denied if denied.replayed else denied.model_copy(update={"object_size": size})
        price = self._pricing.price(request.method, request.path, served or 0)
        return replace(attempt, price=price, bytes=served)

    def _catalog_verdict(self, attempt: _Attempt) -> CatalogVerdict | Decision | None:
        """The catalog's verdict on the object (None without a catalog), or its denial."""
        if self._catalog is None:
            return None
        request = attempt.request
        verdict = self._catalog.before_charge(request.method, request.path, attempt.now)
        if verdict.deny_reason is None:
            return verdict
        earlier = self._earlier_outcome(attempt)
        if earlier is not None:
            return earlier
        if verdict.restore_started and self._catalog.restore_price > 0:
            self._charge_restore(attempt)
        return self._deny(
            DenialReason(verdict.deny_reason),
            attempt.price,
            account_id=attempt.key.account_id,
            retry_after=verdict.retry_after,
        )

    def _charge_and_decide(self, attempt: _Attempt) -> Decision:
        outcome = self._charge(attempt)
        if isinstance(outcome, KeyRevocationsChanged):
            refreshed = self._refresh_key(attempt)
            if isinstance(refreshed, Decision):
                return refreshed
            attempt = refreshed
            outcome = self._charge(attempt)
        sellers_denial = _sellers_denial(outcome)
        if sellers_denial is not None:
            return self._deny(sellers_denial, attempt.price, account_id=attempt.key.account_id)
        if isinstance(outcome, InsufficientCredits):
            return self._deny(
                DenialReason.INSUFFICIENT_CREDITS,
                attempt.price,
                account_id=attempt.key.account_id,
                balance=outcome.balance,
            )
        if isinstance(outcome, AlreadyCharged):
            return self._replay(outcome.record, attempt)
        if not isinstance(outcome, Charged):
            raise DataIntegrityError("a charge on freshly read key facts reported a revocation change")
        return self._allowed(attempt, outcome)

    def _refresh_key(self, attempt: _Attempt) -> _Attempt | Decision:
        """A key of the account was revoked since this container cached the key: nothing was
        charged. Only the key's status can have changed: read it afresh, to charge without the
        count (so this cannot happen twice); the rate-limit slot and the catalog's verdict
        already taken for this request stand."""
        self._cached_keys.discard(attempt.key_digest)
        key = self._store.get_key_by_digest(attempt.key_digest)
        if key is None:
            return self._deny(DenialReason.INVALID_API_KEY, attempt.price)
        attempt = replace(attempt, key=key, key_revocations_seen=None)
        if not key.active:
            return self._deny_key(attempt, DenialReason.REVOKED_API_KEY)
        return attempt

    def _allowed(self, attempt: _Attempt, charged: Charged) -> Decision:
        request, key = attempt.request, attempt.key
        self._telemetry.charged(attempt.price)
        self._check_deadline(request, charged=True)
        if self._catalog is not None:
            self._catalog.after_charge(
                method=request.method, path=request.path, body_bytes=request.bytes, now=attempt.now
            )
        if attempt.key_revocations_seen is None:
            # After the deadline check: a slow or failing snapshot must not turn this paid
            # request into a refund (the refund could fail under the same throttling).
            self._cache_key(attempt.key_digest, key.account_id)
        return Decision(
            decision="allow",
            account_id=key.account_id,
            price=attempt.price,
            charged=attempt.price,
            entry_id=charged.entry_id,
        )

    def _charge(self, attempt: _Attempt) -> ChargeOutcome:
        request = attempt.request
        return self._store.charge(
            ChargeIntent(
                account_id=attempt.key.account_id,
                key_id=attempt.key.key_id,
                request_id=request.request_id,
                amount=attempt.price,
                method=request.method,
                path=request.path,
                bytes=attempt.bytes,
                now=attempt.now,
                range_header=request.range,
                key_revocations_seen=attempt.key_revocations_seen,
                spend_limit=attempt.key.spend_limit,
                link_digest=attempt.link_digest,
                link_max_uses=None if attempt.link is None else attempt.link.max_uses,
            )
        )

    def _deny_key(
        self, attempt: _Attempt, reason: DenialReason, *, retry_after: int | None = None
    ) -> Decision:
        """Refuse a request on its key's (or its object's) account, unless the request id was
        charged before the facts changed: a retry of that request gets its first outcome."""
        earlier = self._earlier_outcome(attempt)
        if earlier is not None:
            return earlier
        return self._deny(reason, attempt.price, account_id=attempt.key.account_id, retry_after=retry_after)

    def _cache_key(self, key_digest: str, account_id: str) -> None:
        """After a first charge on a key: remember its facts with the account's revocation count.

        Both come from one atomic snapshot taken now, so a revocation of this key is either in
        the snapshot (the key is not cached) or after it (the count moved on, and the next
        charge made on the cached facts fails its condition). The snapshot may be unavailable
        (a conflicting transaction): the key is then simply read again next time.
        """
        if not self._key_cache_enabled:
            return
        standing = self._store.get_key_standing(key_digest, account_id)
        if standing is not None and standing.key.active:
            self._cached_keys.put(key_digest, CachedKey(standing.key, standing.key_revocations))

    def _charge_restore(self, attempt: _Attempt) -> None:
        """The request that started a restore pays the configured restore price (its own request id).

        The restore has already been requested from S3 at this point; an account that cannot pay
        it is simply not charged for it (the download itself is still charged when served).
        """
        if self._catalog is None:
            return
        request, price = attempt.request, self._catalog.restore_price
        outcome = self._store.charge(
            ChargeIntent(
                account_id=attempt.key.account_id,
                key_id=attempt.key.key_id,
                request_id=f"restore:{request.request_id}",
                amount=price,
                method=request.method,
                path=request.path,
                bytes=0,
                now=attempt.now,
            )
        )
        if isinstance(outcome, Charged):
            self._telemetry.charged(price)

    def _check_deadline(self, request: AuthorizeRequest, *, charged: bool) -> None:
        """Never leave a charge for a request the edge has stopped waiting for.

        The edge answers 503 once its time budget is spent; a charge committed after that
        would bill a refused request. Within ``DEADLINE_SAFETY_MARGIN_MS`` of the deadline
        (the reply still has to travel back) nothing is charged, and a charge that committed
        that late is refunded here at once, in the same invocation.
        """
        if request.deadline_ms is None:
            return
        now_ms = int(self._clock.now().timestamp() * 1000)
        if now_ms < request.deadline_ms - DEADLINE_SAFETY_MARGIN_MS:
            return
        if charged:
            self.refund(RefundRequest(request_id=request.request_id, reason=DEADLINE_REFUND_REASON))
        raise DeadlineExceeded

    def _deny(
        self,
        reason: DenialReason,
        price: int,
        *,
        account_id: str | None = None,
        balance: int | None = None,
        retry_after: int | None = None,
    ) -> Decision:
        self._telemetry.denied(reason)
        return Decision(
            decision="deny",
            reason=reason,
            account_id=account_id,
            price=price,
            balance=balance,
            retry_after=retry_after,
        )

    def _earlier_outcome(self, attempt: _Attempt) -> Decision | None:
        """The first outcome of this request id when it was charged already, else None."""
        earlier = self._store.get_charge(attempt.request.request_id)
        return None if earlier is None else self._replay(earlier, attempt)

    def _replay(self, record: ChargeRecord, attempt: _Attempt) -> Decision:
        """The first outcome of a request id, provided it is the same request."""
        if not _same_request(record, attempt):
            raise IdempotencyConflict("this request id was charged for a different request")
        if self._store.get_refund(record.request_id) is not None:
            # Refunded (origin failure, or a charge that missed the edge's deadline): never serve it again.
            raise IdempotencyConflict("this request id was refunded; use a new request")
        return Decision(
            decision="allow",
            account_id=record.account_id,
            price=record.amount,
            charged=record.amount,
            entry_id=record.entry_id,
            replayed=True,
        )

    # the edge: refund ------------------------------------------------------------------------

    def refund(self, request: RefundRequest) -> Refund:
        charge = self._store.get_charge(request.request_id)
        if charge is None:
            raise ChargeNotFound(request.request_id)
        outcome = self._store.refund(charge, reason=request.reason, now=self._clock.now())
        if not outcome.replayed:
            self._telemetry.refunded(outcome.record.amount)
        restore_retry_after: int | None = None
        if self._catalog is not None and not outcome.replayed:
            # An origin 404 leaves a tombstone; a 403 may be an archived object, whose restore starts.
            observed = self._catalog.after_refund(
                method=charge.method, path=charge.path, reason=request.reason, now=self._clock.now()
            )
            restore_retry_after = observed.retry_after
        return Refund(
            request_id=request.request_id,
            account_id=charge.account_id,
            refunded=outcome.record.amount,
            balance=self._balance(charge.account_id),
            entry_id=outcome.record.entry_id,
            replayed=outcome.replayed,
            restore_retry_after=restore_retry_after,
        )


def _sellers_denial(outcome: ChargeOutcome) -> DenialReason | None:
    """The denial of a charge refused on issue 16's conditions: the account's status, the key's
    spend limit, the link's uses (nothing was charged)."""
    if isinstance(outcome, AccountNotActive):
        if outcome.status == AccountStatus.CLOSED:
            return DenialReason.ACCOUNT_CLOSED
        return DenialReason.ACCOUNT_SUSPENDED
    if isinstance(outcome, SpendLimitReached):
        return DenialReason.KEY_SPEND_LIMIT_REACHED
    if isinstance(outcome, LinkExhausted):
        return DenialReason.LINK_EXHAUSTED
    return None


def _same_request(record: ChargeRecord, attempt: _Attempt) -> bool:
    """Whether a charge record is this request's: same key, method, path and Range, and for
    anything but a download the same body size (a download's bytes are the served ones)."""
    request = attempt.request
    if (record.key_id, record.method, record.path) != (attempt.key.key_id, request.method, request.path):
        return False
    if record.range_header != request.range:
        return False
    return request.method in DOWNLOAD_METHODS or record.bytes == request.bytes
