"""Transfers of an account's credit between two regions: exact, idempotent, crash-safe, visible.

docs/decisions.md, "Regional credits". Only a region writes its own balance, so credit crosses
regions as a transfer that each side records durably. The money moves through the credits
store's public intent methods, whatever shard layout the store uses underneath:

1. **open**: the source region's transfer book gets ``transfer#<id>`` = ``open`` (nothing moved).
2. **debit**: the source store charges ``transfer:<id>`` (debit, charge record and ledger entry in
   one write, idempotent by that request id); the book says ``sent``. From here the amount is
   *in flight*: gone from the source balance, not yet in the target's.
3. **claim**: the target region's book gets ``transfer#<id>`` = ``receiving`` *if absent*. The
   target's record is the arbiter: a reversal writes ``cancelled`` there under the same
   condition, so ``receiving`` and ``cancelled`` cannot both win.
4. **credit**: the target store grants ``transfer:<id>`` (idempotent by that key); its book says
   ``received``.
5. **close**: the source book says ``done``.

A crash between any two steps leaves a state the retrier (``TransferCoordinator.settle``) finishes:
``open`` -> debit (``failed`` when the source is short: nothing moved); ``sent`` -> claim; a
claimed ``receiving`` -> credit (a grant with the same key is never applied twice). To reverse a
``sent`` transfer whose target stays unreachable, it first claims ``cancelled`` in the target,
then refunds the source's charge (once) and says ``reversed``; if the target had already claimed
it, the transfer completes instead.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from functions.credits.store.errors import StoreUnavailable
from functions.credits.store.protocol import CreditsStore
from functions.credits.store.records import (
    AlreadyCharged,
    Charged,
    ChargeIntent,
    ChargeRecord,
    Granted,
    GrantIntent,
)

TRANSFER_METHOD = "TRANSFER"
TRANSFER_KEY_ID = "transfer"
# A transfer never pushes a region's balance over this (the grant's limit): credit is bounded
# by what the source held, so this only guards against a bug multiplying it.
MAX_TRANSFER_BALANCE = 10**15
# The retrier leaves transfers younger than this to the caller that is still driving them.
SETTLE_AFTER = timedelta(seconds=30)


class TransferState(StrEnum):
    OPEN = "open"  # source: nothing moved yet
    SENT = "sent"  # source: debited, in flight
    DONE = "done"  # source: the target has it
    FAILED = "failed"  # source: the debit was refused (short), nothing moved
    REVERSED = "reversed"  # source: cancelled in the target, refunded here
    RECEIVING = "receiving"  # target: claimed, credit under way
    RECEIVED = "received"  # target: credited
    CANCELLED = "cancelled"  # target: the source reversed it; never to be credited


FINISHED_AT_SOURCE = frozenset({TransferState.DONE, TransferState.FAILED, TransferState.REVERSED})


@dataclass(frozen=True, slots=True)
class TransferRecord:
    transfer_id: str
    account_id: str
    source_region: str
    target_region: str
    amount: int
    state: TransferState
    created_at: datetime

    @property
    def request_id(self) -> str:
        """The request id of the source's debit and the idempotency key of the target's grant."""
        return transfer_request_id(self.transfer_id)


def transfer_request_id(transfer_id: str) -> str:
    return f"transfer:{transfer_id}"


class TransferBook(Protocol):
    """One region's durable transfer records (the DynamoDB one lives in the region's credits table)."""

    def create(self, record: TransferRecord) -> TransferRecord:
        """Put ``record`` if its id is new; either way return the record now stored under its id."""

    def get(self, transfer_id: str) -> TransferRecord | None: ...

    def move(self, transfer_id: str, expected: TransferState, new: TransferState) -> bool:
        """Set the state to ``new`` if it is ``expected``; False when it was not."""

    def unfinished(self) -> list[TransferRecord]:
        """Records this region sent that are not finished (open or sent), oldest first."""


class InMemoryTransferBook:
    """The in-memory twin of ``DynamoDBTransferBook`` (same conditions, one lock)."""

    def __init__(self) -> None:
        self._records: dict[str, TransferRecord] = {}
        self._lock = threading.Lock()
        self.unavailable = False

    def _check_available(self) -> None:
        if self.unavailable:
            raise StoreUnavailable("the in-memory transfer book is switched to unavailable")

    def create(self, record: TransferRecord) -> TransferRecord:
        self._check_available()
        with self._lock:
            return self._records.setdefault(record.transfer_id, record)

    def get(self, transfer_id: str) -> TransferRecord | None:
        self._check_available()
        with self._lock:
            return self._records.get(transfer_id)

    def move(self, transfer_id: str, expected: TransferState, new: TransferState) -> bool:
        self._check_available()
        with self._lock:
            record = self._records.get(transfer_id)
            if record is None or record.state is not expected:
                return False
            self._records[transfer_id] = replace(record, state=new)
            return True

    def unfinished(self) -> list[TransferRecord]:
        self._check_available()
        with self._lock:
            return sorted(
                (r for r in self._records.values() if r.state in (TransferState.OPEN, TransferState.SENT)),
                key=lambda record: record.created_at,
            )


@dataclass(frozen=True, slots=True)
class RegionLedgers:
    """A region's two halves: its credits store and its transfer book."""

    store: CreditsStore
    book: TransferBook


class TransferCoordinator:
    """Starts, drives, settles and reverses transfers between the regions it is given."""

    def __init__(
        self,
        regions: Mapping[str, RegionLedgers],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._regions = dict(regions)
        self._clock = clock
        self._new_id = new_id

    @property
    def regions(self) -> Mapping[str, RegionLedgers]:
        """The regions it moves credit between (a retrier elsewhere can be built on the same)."""
        return self._regions

    def start(
        self, account_id: str, source: str, target: str, amount: int, transfer_id: str | None = None
    ) -> TransferRecord:
        """Open a transfer and drive it as far as it goes now (``settle`` finishes the rest)."""
        if amount <= 0 or source == target:
            raise ValueError("a transfer moves a positive amount between two different regions")
        record = TransferRecord(
            transfer_id=transfer_id or self._new_id(),
            account_id=account_id,
            source_region=source,
            target_region=target,
            amount=amount,
            state=TransferState.OPEN,
            created_at=self._clock(),
        )
        stored = self._regions[source].book.create(record)
        return self.drive(stored.transfer_id, source)

    def drive(self, transfer_id: str, source: str) -> TransferRecord:
        """Take one transfer forward from whatever state it is in; a region down stops it there."""
        book = self._regions[source].book
        record = book.get(transfer_id)
        if record is None:
            raise KeyError(f"no transfer {transfer_id} in {source}")
        try:
            if record.state is TransferState.OPEN:
                record = self._debit(record)
            if record.state is TransferState.SENT:
                record = self._deliver(record)
        except StoreUnavailable:
            return book.get(transfer_id) or record
        return record

    def settle(self, source: str, *, reverse_after: timedelta | None = None) -> list[TransferRecord]:
        """The retrier: every unfinished transfer of ``source`` older than ``SETTLE_AFTER`` moves on;
        one still ``sent`` after ``reverse_after`` is reversed instead (unless the target claimed it)."""
        now = self._clock()
        settled = []
        for record in self._regions[source].book.unfinished():
            if now - record.created_at < SETTLE_AFTER:
                continue
            reverse = reverse_after is not None and now - record.created_at >= reverse_after
            try:
                if reverse and record.state is TransferState.SENT:
                    settled.append(self.reverse(record.transfer_id, source))
                else:
                    settled.append(self.drive(record.transfer_id, source))
            except StoreUnavailable:
                # The target arbitrates: while it is unreachable the transfer stays in flight.
                settled.append(record)
        return settled

    def reverse(self, transfer_id: str, source: str) -> TransferRecord:
        """Cancel in the target (its record arbitrates), then give the source its credit back."""
        book = self._regions[source].book
        record = book.get(transfer_id)
        if record is None or record.state is not TransferState.SENT:
            raise ValueError(f"only a sent transfer can be reversed (got {record})")
        target = self._regions[record.target_region]
        claimed = target.book.create(replace(record, state=TransferState.CANCELLED))
        if claimed.state is not TransferState.CANCELLED:
            # The target claimed it first: it is the target's, so it completes.
            return self.drive(transfer_id, source)
        charge = self._regions[source].store.get_charge(record.request_id)
        if charge is not None:
            self._regions[source].store.refund(charge, reason="transfer_reversed", now=self._clock())
        book.move(transfer_id, TransferState.SENT, TransferState.REVERSED)
        return book.get(transfer_id) or record

    def _debit(self, record: TransferRecord) -> TransferRecord:
        store = self._regions[record.source_region].store
        outcome = store.charge(
            ChargeIntent(
                account_id=record.account_id,
                key_id=TRANSFER_KEY_ID,
                request_id=record.request_id,
                amount=record.amount,
                method=TRANSFER_METHOD,
                path=f"/transfers/{record.transfer_id}/{record.target_region}",
                bytes=None,
                now=self._clock(),
            )
        )
        book = self._regions[record.source_region].book
        moved_to = (
            TransferState.SENT if isinstance(outcome, Charged | AlreadyCharged) else TransferState.FAILED
        )
        book.move(record.transfer_id, TransferState.OPEN, moved_to)
        return book.get(record.transfer_id) or record

    def _deliver(self, record: TransferRecord) -> TransferRecord:
        target = self._regions[record.target_region]
        claimed = target.book.create(replace(record, state=TransferState.RECEIVING))
        if claimed.state is TransferState.CANCELLED:
            return record  # reversed by the retrier, which refunds the source
        if claimed.state is TransferState.RECEIVING:
            outcome = target.store.grant(
                GrantIntent(
                    account_id=record.account_id,
                    amount=record.amount,
                    reason=f"transfer from {record.source_region}",
                    idempotency_key=record.request_id,
                    max_balance=MAX_TRANSFER_BALANCE,
                    now=self._clock(),
                )
            )
            if not isinstance(outcome, Granted):
                raise RuntimeError(f"transfer {record.transfer_id} refused by the target: {outcome}")
            target.book.move(record.transfer_id, TransferState.RECEIVING, TransferState.RECEIVED)
        source_book = self._regions[record.source_region].book
        source_book.move(record.transfer_id, TransferState.SENT, TransferState.DONE)
        return source_book.get(record.transfer_id) or record

    def in_flight(self, account_id: str) -> list[TransferRecord]:
        """Transfers of ``account_id`` whose amount is in no region's balance right now.

        A region that cannot be reached is left out as a *source* (its own sends are unknown
        until it answers; whoever sums balances cannot read its balance either, so nothing adds
        up silently) but not as a *target*: a transfer the source sent to it stays in flight.
        """
        flying = []
        for region in self._regions.values():
            try:
                unfinished = region.book.unfinished()
            except StoreUnavailable:
                continue
            for record in unfinished:
                if record.account_id == account_id and self._debited_not_credited(record):
                    flying.append(record)
        return flying

    def _debited_not_credited(self, record: TransferRecord) -> bool:
        charge: ChargeRecord | None = self._regions[record.source_region].store.get_charge(record.request_id)
        if charge is None:
            return False
        if self._regions[record.source_region].store.get_refund(record.request_id) is not None:
            return False
        try:
            target_record = self._regions[record.target_region].book.get(record.transfer_id)
        except StoreUnavailable:
            # The target cannot say it was credited: the source's debit stands, so it is in flight.
            return True
        return target_record is None or target_record.state is not TransferState.RECEIVED
