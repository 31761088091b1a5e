"""The logic of the credits service: between the thin API layer and the data access.

It takes validated request models, applies the money rules, calls the repository and
returns response models. It raises the domain errors of ``errors.py``; an authorization
that is refused is a ``Decision`` with a reason, not an error.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from functions.catalog.authorize_guard import CatalogGuard
from functions.credits.config import Settings
from functions.credits.data.models import (
    ACCOUNT_PROFILE_SK,
    KEY_BY_DIGEST_SK,
    AccountItem,
    ChargeRecordItem,
    KeyByDigestItem,
    KeyByIdItem,
    LedgerEntryItem,
    account_pk,
    key_digest_pk,
    key_sk,
)
from functions.credits.data.repository import (
    AlreadyCharged,
    Charged,
    ChargeOutcome,
    CreditsRepository,
    Granted,
    GrantOverLimit,
    InsufficientCredits,
    InvalidCursor,
    KeyRevocationsChanged,
)
from functions.credits.errors import (
    AccountNotFound,
    BalanceLimitExceeded,
    ChargeNotFound,
    DataIntegrityError,
    DeadlineExceeded,
    IdempotencyConflict,
    InvalidRequest,
    KeyNotFound,
)
from functions.credits.ids import new_account_id, new_key_id
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
from functions.shared.api_keys import generate_api_key, hash_api_key
from functions.shared.ttl_cache import TtlCache

# Bounds of the ledger when no time filter is given, and the longest usage period.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
MAX_USAGE_PERIOD = timedelta(days=366)
# How long before the edge's deadline the service stops charging: the allow still has to
# travel back to the edge (API Gateway + the network to the edge location) in time.
DEADLINE_SAFETY_MARGIN_MS = 250
DEADLINE_REFUND_REASON = "deadline_exceeded"

_K = TypeVar("_K", bound=KeyByIdItem)


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


def _key_view(item: KeyByIdItem) -> Key:
    rate_limit = None
    if item.rate_limit_per_second is not None and item.rate_limit_burst is not None:
        rate_limit = RateLimit(per_second=int(item.rate_limit_per_second), burst=int(item.rate_limit_burst))
    return Key(
        key_id=item.key_id,
        account_id=item.account_id,
        name=item.name,
        status=KeyStatus(item.status),
        created_at=item.created_at,
        expires_at=item.expires_at,
        revoked_at=item.revoked_at,
        rate_limit=rate_limit,
    )


def _entry_view(item: LedgerEntryItem) -> LedgerEntry:
    return LedgerEntry(
        entry_id=item.entry_id,
        account_id=item.account_id,
        request_id=item.request_id,
        kind=EntryKind(item.kind),
        amount=int(item.amount),
        method=item.method,
        path=item.path,
        bytes=None if item.bytes is None else int(item.bytes),
        reason=item.reason,
        created_at=item.created_at,
    )


@dataclass(frozen=True, slots=True)
class CachedKey:
    """An active key's facts as this container last read them, with the account's key
    revocation count of that same snapshot; every charge made on it checks the count."""

    key: KeyByDigestItem
    key_revocations: int


class CreditsService:
    def __init__(
        self,
        repository: CreditsRepository,
        settings: Settings,
        *,
        telemetry: Telemetry | None = None,
        clock: Clock | None = None,
        catalog: CatalogGuard | None = None,
    ) -> None:
        self._repository = repository
        self._pricing = settings.pricing
        self._telemetry = telemetry or NoTelemetry()
        self._clock = clock or SystemClock()
        # The objects catalog (functions/catalog/), when one is configured: consulted before charges.
        self._catalog = catalog
        # Per container, keyed by the key's digest (docs/decisions.md, "Key standing cache").
        self._key_cache_enabled = settings.key_cache_ttl_seconds > 0
        self._cached_keys: TtlCache[CachedKey] = TtlCache(
            settings.key_cache_max_entries, settings.key_cache_ttl_seconds, time.monotonic
        )

    # accounts --------------------------------------------------------------------------------

    def create_account(self, request: CreateAccountRequest) -> Account:
        account_id = new_account_id()
        item = AccountItem(
            account_pk(account_id),
            ACCOUNT_PROFILE_SK,
            account_id=account_id,
            name=request.name,
            status=AccountStatus.ACTIVE.value,
            created_at=self._clock.now(),
        )
        self._repository.create_account(item)
        return self._account_view(item, balance=0)

    def get_account(self, account_id: str) -> Account:
        item = self._require_account(account_id)
        return self._account_view(item, balance=self._balance(account_id))

    @staticmethod
    def _account_view(item: AccountItem, balance: int) -> Account:
        return Account(
            account_id=item.account_id,
            name=item.name,
            balance=balance,
            status=AccountStatus(item.status),
            created_at=item.created_at,
        )

    def _balance(self, account_id: str) -> int:
        balance = self._repository.get_balance(account_id)
        if balance is None:
            raise DataIntegrityError(f"account {account_id} has no balance item")
        return balance

    def _require_account(self, account_id: str) -> AccountItem:
        item = self._repository.get_account(account_id)
        if item is None:
            raise AccountNotFound(account_id)
        return item

    # keys ------------------------------------------------------------------------------------

    def issue_key(self, account_id: str, request: IssueKeyRequest) -> IssuedKey:
        now = self._clock.now()
        if request.expires_at is not None and request.expires_at <= now:
            raise InvalidRequest("expires_at must be in the future", field="expires_at")
        api_key = generate_api_key()
        digest = hash_api_key(api_key)
        key_id = new_key_id()
        rate_limit = request.rate_limit

        def item(model: type[_K], pk: str, sk: str) -> _K:
            return model(
                pk,
                sk,
                account_id=account_id,
                key_id=key_id,
                key_digest=digest,
                name=request.name,
                status=KeyStatus.ACTIVE.value,
                created_at=now,
                expires_at=request.expires_at,
                rate_limit_per_second=rate_limit.per_second if rate_limit else None,
                rate_limit_burst=rate_limit.burst if rate_limit else None,
            )

        by_id = item(KeyByIdItem, account_pk(account_id), key_sk(key_id))
        by_digest = item(KeyByDigestItem, key_digest_pk(digest), KEY_BY_DIGEST_SK)
        if not self._repository.put_key(by_id, by_digest):
            raise AccountNotFound(account_id)
        return IssuedKey(**_key_view(by_id).model_dump(), api_key=api_key)

    def list_keys(self, account_id: str, *, limit: int, cursor: str | None) -> KeyList:
        self._require_account(account_id)
        try:
            page = self._repository.list_keys(account_id, limit, cursor)
        except InvalidCursor as error:
            raise InvalidRequest(str(error), field="cursor") from None
        return KeyList(keys=[_key_view(item) for item in page.items], next_cursor=page.next_cursor)

    def revoke_key(self, account_id: str, key_id: str) -> Key:
        key = self._repository.get_key(account_id, key_id)
        if key is None:
            raise KeyNotFound(account_id, key_id)
        self._repository.revoke_key(key, self._clock.now())
        revoked = self._repository.get_key(account_id, key_id)
        if revoked is None:
            raise DataIntegrityError(f"key {key_id} vanished while being revoked")
        return _key_view(revoked)

    # grants ----------------------------------------------------------------------------------

    def grant(self, account_id: str, request: GrantRequest) -> Grant:
        outcome = self._repository.grant(
            account_id=account_id,
            amount=request.amount,
            reason=request.reason,
            idempotency_key=request.idempotency_key,
            max_balance=MAX_BALANCE,
            now=self._clock.now(),
        )
        if isinstance(outcome, GrantOverLimit):
            raise BalanceLimitExceeded(account_id, MAX_BALANCE)
        if not isinstance(outcome, Granted):
            raise AccountNotFound(account_id)
        record = outcome.record
        if outcome.replayed and (int(record.amount), record.reason) != (request.amount, request.reason):
            raise IdempotencyConflict(
                "this idempotency key was used for a different grant", idempotency_key=request.idempotency_key
            )
        if not outcome.replayed:
            self._telemetry.granted(request.amount)
        return Grant(
            account_id=account_id,
            entry_id=record.entry_id,
            amount=int(record.amount),
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
            page = self._repository.ledger_page(account_id, start=start, end=end, limit=limit, cursor=cursor)
        except InvalidCursor as error:
            raise InvalidRequest(str(error), field="cursor") from None
        return LedgerPage(entries=[_entry_view(item) for item in page.items], next_cursor=page.next_cursor)

    def usage(self, account_id: str, *, start: datetime | None, end: datetime | None) -> Usage:
        now = self._clock.now()
        end = end or now
        start = start or end.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if start >= end:
            raise InvalidRequest("`from` must be before `to`", field="from")
        if end - start > MAX_USAGE_PERIOD:
            raise InvalidRequest(f"a usage period is at most {MAX_USAGE_PERIOD.days} days", field="to")
        self._require_account(account_id)
        totals = self._repository.usage(account_id, start=start, end=end)
        return Usage(account_id=account_id, from_=start, to=end, **vars(totals))

    # the edge: authorize and refund ----------------------------------------------------------

    def authorize(self, request: AuthorizeRequest) -> Decision:
        """Allow (and charge) or deny one edge request.

        An allow decision carries no balance: reading it would cost a round trip after the
        charge on every download, and the edge needs the balance only for a 402.
        """
        price = self._pricing.price(request.method, request.path, request.bytes)
        cached = self._cached_keys.get(request.key_digest)
        if cached is not None:
            key: KeyByDigestItem | None = cached.key
        else:
            key = self._repository.get_key_by_digest(request.key_digest)
        if key is None:
            return self._deny(DenialReason.INVALID_API_KEY, price)
        now = self._clock.now()
        denial: DenialReason | None = None
        retry_after: int | None = None
        if key.status != KeyStatus.ACTIVE.value:
            denial = DenialReason.REVOKED_API_KEY
        elif key.expires_at is not None and now >= key.expires_at:
            denial = DenialReason.EXPIRED_API_KEY
        elif key.rate_limit_per_second is not None and key.rate_limit_burst is not None:
            wait_us = self._repository.take_rate_limit_slot(
                key.key_id,
                int(key.rate_limit_per_second),
                int(key.rate_limit_burst),
                int(now.timestamp() * 1_000_000),
            )
            if wait_us > 0:
                denial, retry_after = DenialReason.RATE_LIMITED, max(1, math.ceil(wait_us / 1_000_000))
        if denial is not None:
            return self._deny_key(request, key, denial, price, retry_after=retry_after)

        if self._catalog is not None:
            verdict = self._catalog.before_charge(request.method, request.path, now)
            if verdict.deny_reason is not None:
                earlier = self._earlier_outcome(request, key)
                if earlier is not None:
                    return earlier
                if verdict.restore_started and self._catalog.restore_price > 0:
                    self._charge_restore(request, key, now)
                return self._deny(
                    DenialReason(verdict.deny_reason),
                    price,
                    account_id=key.account_id,
                    retry_after=verdict.retry_after,
                )
            if verdict.object_size is not None:
                # A download of a known object is priced on its size, as an upload is on Content-Length.
                price = self._pricing.price(request.method, request.path, verdict.object_size)

        self._check_deadline(request, charged=False)
        outcome = self._charge(request, key, price, now, None if cached is None else cached.key_revocations)
        if isinstance(outcome, KeyRevocationsChanged):
            # A key of this account was revoked since this container cached the key: nothing was
            # charged. Only the key's status can have changed: read it afresh and charge without
            # the count (so this cannot happen twice); the rate-limit slot and the catalog's
            # verdict already taken for this request stand.
            self._cached_keys.discard(request.key_digest)
            cached = None
            key = self._repository.get_key_by_digest(request.key_digest)
            if key is None:
                return self._deny(DenialReason.INVALID_API_KEY, price)
            if key.status != KeyStatus.ACTIVE.value:
                return self._deny_key(request, key, DenialReason.REVOKED_API_KEY, price)
            outcome = self._charge(request, key, price, now, None)
        if isinstance(outcome, InsufficientCredits):
            return self._deny(
                DenialReason.INSUFFICIENT_CREDITS, price, account_id=key.account_id, balance=outcome.balance
            )
        if isinstance(outcome, AlreadyCharged):
            return self._replay(outcome.record, request, key)
        assert isinstance(outcome, Charged)
        self._telemetry.charged(price)
        self._check_deadline(request, charged=True)
        if self._catalog is not None:
            self._catalog.after_charge(
                method=request.method, path=request.path, body_bytes=request.bytes, now=now
            )
        if cached is None:
            # After the deadline check: a slow or failing snapshot must not turn this paid
            # request into a refund (the refund could fail under the same throttling).
            self._cache_key(request.key_digest, key.account_id)
        return Decision(
            decision="allow",
            account_id=key.account_id,
            price=price,
            charged=price,
            entry_id=outcome.entry_id,
        )

    def _charge(
        self,
        request: AuthorizeRequest,
        key: KeyByDigestItem,
        price: int,
        now: datetime,
        key_revocations_seen: int | None,
    ) -> ChargeOutcome:
        return self._repository.charge(
            account_id=key.account_id,
            key_id=key.key_id,
            request_id=request.request_id,
            amount=price,
            method=request.method,
            path=request.path,
            body_bytes=request.bytes,
            now=now,
            key_revocations_seen=key_revocations_seen,
        )

    def _deny_key(
        self,
        request: AuthorizeRequest,
        key: KeyByDigestItem,
        reason: DenialReason,
        price: int,
        *,
        retry_after: int | None = None,
    ) -> Decision:
        """Refuse a request for its key's sake, unless the request id was charged before the key
        changed: a retry of that request gets its first outcome."""
        earlier = self._earlier_outcome(request, key)
        if earlier is not None:
            return earlier
        return self._deny(reason, price, account_id=key.account_id, retry_after=retry_after)

    def _cache_key(self, key_digest: str, account_id: str) -> None:
        """After a first charge on a key: remember its facts with the account's revocation count.

        Both come from one atomic snapshot taken now, so a revocation of this key is either in
        the snapshot (the key is not cached) or after it (the count moved on, and the next
        charge made on the cached facts fails its condition). The snapshot may be unavailable
        (a conflicting transaction): the key is then simply read again next time.
        """
        if not self._key_cache_enabled:
            return
        standing = self._repository.get_key_standing(key_digest, account_id)
        if standing is not None and standing.key.status == KeyStatus.ACTIVE.value:
            self._cached_keys.put(key_digest, CachedKey(standing.key, standing.key_revocations))

    def _charge_restore(self, request: AuthorizeRequest, key: KeyByDigestItem, now: datetime) -> None:
        """The request that started a restore pays the configured restore price (its own request id).

        The restore has already been requested from S3 at this point; an account that cannot pay
        it is simply not charged for it (the download itself is still charged when served).
        """
        assert self._catalog is not None
        outcome = self._repository.charge(
            account_id=key.account_id,
            key_id=key.key_id,
            request_id=f"restore:{request.request_id}",
            amount=self._catalog.restore_price,
            method=request.method,
            path=request.path,
            body_bytes=0,
            now=now,
        )
        if isinstance(outcome, Charged):
            self._telemetry.charged(self._catalog.restore_price)

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

    def _earlier_outcome(self, request: AuthorizeRequest, key: KeyByDigestItem) -> Decision | None:
        """The first outcome of this request id when it was charged already, else None."""
        earlier = self._repository.get_charge(request.request_id)
        return None if earlier is None else self._replay(earlier, request, key)

    def _replay(self, record: ChargeRecordItem, request: AuthorizeRequest, key: KeyByDigestItem) -> Decision:
        """The first outcome of a request id, provided it is the same request."""
        if (record.key_id, record.method, record.path, int(record.bytes)) != (
            key.key_id,
            request.method,
            request.path,
            request.bytes,
        ):
            raise IdempotencyConflict("this request id was charged for a different request")
        if self._repository.get_refund(request.request_id) is not None:
            # Refunded (origin failure, or a charge that missed the edge's deadline): never serve it again.
            raise IdempotencyConflict("this request id was refunded; use a new request")
        return Decision(
            decision="allow",
            account_id=record.account_id,
            price=int(record.amount),
            charged=int(record.amount),
            entry_id=record.entry_id,
            replayed=True,
        )

    def refund(self, request: RefundRequest) -> Refund:
        charge = self._repository.get_charge(request.request_id)
        if charge is None:
            raise ChargeNotFound(request.request_id)
        outcome = self._repository.refund(
            charge, request_id=request.request_id, reason=request.reason, now=self._clock.now()
        )
        if not outcome.replayed:
            self._telemetry.refunded(int(outcome.record.amount))
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
            refunded=int(outcome.record.amount),
            balance=self._balance(charge.account_id),
            entry_id=outcome.record.entry_id,
            replayed=outcome.replayed,
            restore_retry_after=restore_retry_after,
        )
