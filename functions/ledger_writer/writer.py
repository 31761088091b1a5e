"""The ledger writer's core: stream records of balance shards -> ledger-table entries, and
compensation of debits that lost their request id (docs/decisions.md, "The stream-derived ledger").

For every shard write whose ``seq`` moved, the entry is put in the ledger table with a key and
content taken from the stream record alone (a redelivery rewrites the same item). Then, for a
debit, the request id's charge record decides:

* it names this attempt: the charge stands;
* it names another attempt, or is ``voided``: the debit is given back, once (the compensation's
  marker ``request#<rid>`` / ``compensation#<attempt>`` is put IF absent in the same transaction
  that credits the shard, bumps its ``seq`` and sets ``op``, so its entry comes from the stream too);
* it is absent (the authorizer has not put it yet, or crashed between its two writes): the attempt
  is parked and looked at again after the recheck delay; still absent then, the writer puts a
  ``voided`` record IF absent (the arbiter: an authorizer still in flight loses its put and answers
  503) and gives the debit back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError

from functions.credits.data.binding import bound_to
from functions.credits.data.models import (
    BALANCE_SK,
    CHARGE_SK,
    BalanceItem,
    ChargeRecordItem,
    CompensationItem,
    balance_shard_pk,
    compensation_sk,
    request_pk,
)
from functions.credits.data.tables import table_binding
from functions.credits.data.transactions import LabelledTransaction, TransactionCancelled, run_transaction
from functions.credits.settings import Settings
from functions.credits.store.stream_ledger import (
    OperationKind,
    ShardOperation,
    compensation_entry_id,
    ledger_table_entry,
)
from functions.ledger_writer.recheck import ParkedAttempt, RecheckQueue

_SHARD_PREFIXES = ("account#", "balanceshard#")
_CONDITION_FAILED = "ConditionalCheckFailedException"


class Settlement(StrEnum):
    """What became of one debit attempt."""

    KEPT = "kept"  # its record names it: the charge stands
    COMPENSATED = "compensated"  # given back (another attempt won, or the request id was voided)
    PARKED = "parked"  # no record yet: looked at again after the recheck delay


@dataclass(frozen=True, slots=True)
class ShardWrite:
    """A balance shard's write that carries a ledger-bearing operation."""

    shard: int
    seq: int
    op: ShardOperation


def _image_value(image: Mapping[str, Any], name: str, kind: str) -> str | None:
    value = image.get(name)
    return None if not isinstance(value, Mapping) else value.get(kind)


def shard_of(pk: str) -> int:
    """``account#<id>`` is shard 0, ``balanceshard#<id>#<i>`` shard i."""
    return 0 if pk.startswith("account#") else int(pk.rsplit("#", 1)[1])


def shard_write_of(record: Mapping[str, Any]) -> ShardWrite | None:
    """The ledger-bearing write in a stream record (DynamoDB JSON images), or None (most records:
    other items, or shard writes that moved no ``seq``: grants, refunds, moves, standing)."""
    if record.get("eventName") not in {"INSERT", "MODIFY"}:
        return None
    change = record.get("dynamodb", {})
    new = change.get("NewImage", {})
    old = change.get("OldImage", {})
    pk = _image_value(new, "pk", "S") or ""
    if _image_value(new, "sk", "S") != BALANCE_SK or not pk.startswith(_SHARD_PREFIXES):
        return None
    new_seq = _image_value(new, "seq", "N")
    op_text = _image_value(new, "op", "S")
    if new_seq is None or op_text is None or new_seq == _image_value(old, "seq", "N"):
        return None
    return ShardWrite(shard=shard_of(pk), seq=int(new_seq), op=ShardOperation.decode(op_text))


class LedgerWriter:
    """Writes the ledger table from shard writes and settles debit attempts (one per process)."""

    def __init__(
        self,
        settings: Settings,
        recheck_queue: RecheckQueue,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._settings = settings
        self._queue = recheck_queue
        # Its own binding (functions/credits/data/binding.py): a process may hold stores of other
        # tables (the local runtime, tests), and the writer must reach the ones it was given.
        self._binding = table_binding(settings)
        self._connection = self._binding.connection()
        self._now = clock or (lambda: datetime.now(UTC))

    def write_record(self, record: Mapping[str, Any]) -> Settlement | None:
        """One stream record: its ledger entry (if it carries one), then the debit's settlement."""
        with bound_to(self._binding):
            return self._write_record(record)

    def settle(self, parked: ParkedAttempt, *, waited: bool) -> Settlement:
        """Decide a debit attempt by its request id's record (``waited``: the recheck delay is over)."""
        with bound_to(self._binding):
            return self._settle(parked, waited=waited)

    def _write_record(self, record: Mapping[str, Any]) -> Settlement | None:
        write = shard_write_of(record)
        if write is None:
            return None
        ledger_table_entry(write.op, write.shard, write.seq).save()
        if write.op.kind is not OperationKind.CHARGE:
            return None
        parked = ParkedAttempt(
            account_id=write.op.account_id,
            shard=write.shard,
            request_id=write.op.request_id,
            attempt=write.op.attempt,
            amount=-write.op.amount,
        )
        return self._settle(parked, waited=False)

    def _settle(self, parked: ParkedAttempt, *, waited: bool) -> Settlement:
        record = self._record(parked.request_id)
        if record is None and not waited:
            self._queue.park(parked)
            return Settlement.PARKED
        if record is None and self._void(parked):
            self._compensate(parked)
            return Settlement.COMPENSATED
        if record is None:
            record = self._record(parked.request_id)  # the authorizer's put won the race to void
        if record is not None and not record.voided and record.attempt == parked.attempt:
            return Settlement.KEPT
        self._compensate(parked)
        return Settlement.COMPENSATED

    def _record(self, request_id: str) -> ChargeRecordItem | None:
        try:
            return ChargeRecordItem.get(request_pk(request_id), CHARGE_SK, consistent_read=True)
        except DoesNotExist:
            return None

    def _void(self, parked: ParkedAttempt) -> bool:
        """Put the request id's ``voided`` record IF none exists; False when one appeared first."""
        now = self._now()
        voided = ChargeRecordItem(
            request_pk(parked.request_id),
            CHARGE_SK,
            account_id=parked.account_id,
            key_id="",
            entry_id="",
            amount=parked.amount,
            method="",
            path="",
            created_at=now,
            ttl=now + timedelta(days=self._settings.charge_record_ttl_days),
            shard=parked.shard or None,
            attempt=parked.attempt,
            voided=True,
        )
        try:
            voided.save(condition=ChargeRecordItem.pk.does_not_exist())
        except PutError as error:
            if error.cause_response_code != _CONDITION_FAILED:
                raise
            return False
        return True

    def _compensate(self, parked: ParkedAttempt) -> None:
        """Give the debit back to its shard, exactly once (the marker is put IF absent with it)."""
        now = self._now()
        op = ShardOperation(
            kind=OperationKind.COMPENSATION,
            account_id=parked.account_id,
            request_id=parked.request_id,
            attempt=f"compensation:{parked.attempt}",
            entry_id=compensation_entry_id(parked.attempt),
            amount=parked.amount,
            at=now,
            compensates=parked.attempt,
        )
        marker = CompensationItem(
            request_pk(parked.request_id),
            compensation_sk(parked.attempt),
            account_id=parked.account_id,
            shard=parked.shard,
            amount=parked.amount,
            created_at=now,
        )
        shard = BalanceItem(balance_shard_pk(parked.account_id, parked.shard), BALANCE_SK)

        def build() -> LabelledTransaction:
            transaction = LabelledTransaction(self._connection)
            transaction.put("marker", marker, CompensationItem.pk.does_not_exist())
            transaction.update(
                "shard",
                shard,
                [
                    BalanceItem.balance.set(BalanceItem.balance + parked.amount),
                    BalanceItem.seq.set((BalanceItem.seq | 0) + 1),
                    BalanceItem.op.set(op.encode()),
                ],
                BalanceItem.pk.exists(),
            )
            return transaction

        try:
            run_transaction(build, attempts=self._settings.transaction_attempts)
        except TransactionCancelled as cancelled:
            if cancelled.failed("marker") is None:
                raise
            # Compensated before (a redelivered record or message): nothing more to do.
