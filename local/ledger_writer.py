"""The ledger writer on this machine: DynamoDB Local's credits-table stream -> the same core.

`make run` starts one ``LocalLedgerWriter`` thread in the supervisor (as local/events.py does for
account events): it reads the credits table's stream through the Streams API, hands each record to
functions/ledger_writer (which the deployed Lambda runs), and keeps parked attempts in an
in-process delayed queue instead of SQS. Tests drain it, so their ledgers are complete.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from functions.credits.settings import Settings
from functions.ledger_writer.recheck import ParkedAttempt
from functions.ledger_writer.writer import LedgerWriter
from local.config import LocalConfig
from local.credits_environment import credits_settings
from local.dynamodb_local import LOCAL_REGION
from local.events import (
    DEFAULT_POLL_SECONDS,
    StartPosition,
    StreamPollingThread,
    StreamReader,
    ensure_stream,
    local_clients,
)

logger = logging.getLogger("edgemeter.local.ledger_writer")

# The deployed queue's delivery delay (SQS DelaySeconds on the recheck queue).
RECHECK_DELAY_SECONDS = 60.0


class DelayedRecheckQueue:
    """SQS's delayed delivery in process: a parked attempt is due ``delay_seconds`` after parking."""

    def __init__(self, delay_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._delay = delay_seconds
        self._clock = clock
        self._heap: list[tuple[float, int, ParkedAttempt]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()

    def park(self, attempt: ParkedAttempt) -> None:
        with self._lock:
            heapq.heappush(self._heap, (self._clock() + self._delay, next(self._order), attempt))

    def take_due(self, *, all_now: bool = False) -> list[ParkedAttempt]:
        """The attempts whose delay is over (every one when ``all_now``)."""
        now = self._clock()
        due: list[ParkedAttempt] = []
        with self._lock:
            while self._heap and (all_now or self._heap[0][0] <= now):
                due.append(heapq.heappop(self._heap)[2])
        return due

    def __len__(self) -> int:
        with self._lock:
            return len(self._heap)


class LocalLedgerWriter(StreamPollingThread):
    """A daemon thread polling the credits table's stream into the ledger writer; a context manager."""

    transient_errors = (PynamoDBException, BotoCoreError, ClientError)
    poll_failed_message = "the ledger writer's pass failed: %s"
    drain_failed_message = "the last ledger entries could not be written: %s"

    def __init__(
        self,
        settings: Settings,
        *,
        region: str = LOCAL_REGION,
        start: StartPosition = "TRIM_HORIZON",
        recheck_delay_seconds: float = RECHECK_DELAY_SECONDS,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
    ) -> None:
        if settings.dynamodb_endpoint is None:
            raise ValueError("the local ledger writer reads DynamoDB Local: settings need its endpoint")
        dynamodb, streams = local_clients(settings.dynamodb_endpoint, region)
        # TRIM_HORIZON by default: every step is idempotent, so reading old records again is harmless
        # and nothing written before the thread started is left out of the ledger.
        self.reader = StreamReader(streams, ensure_stream(dynamodb, settings.credits_table), start)
        self.queue = DelayedRecheckQueue(recheck_delay_seconds)
        self.writer = LedgerWriter(settings, self.queue)
        self.records_read = 0
        self._waiting: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        super().__init__(thread_name="ledger-writer", poll_seconds=poll_seconds, thread_logger=logger)

    def poll_once(self, *, settle_all_parked: bool = False) -> int:
        """One pass: the stream's new records, then the parked attempts that are due; how many of
        both were handled."""
        with self._lock:
            records = self.reader.poll()
            pending = [*self._waiting, *records]
            self._waiting = []
            for position, record in enumerate(pending):
                try:
                    self.writer.write_record(record)
                except (PynamoDBException, BotoCoreError, ClientError) as error:
                    # As Lambda redelivers a failed record: keep it and what follows for the next pass.
                    logger.warning("a stream record will be written again: %s", error)
                    self._waiting = pending[position:]
                    break
            due = self.queue.take_due(all_now=settle_all_parked)
            for parked in due:
                self.writer.settle(parked, waited=True)
            self.records_read += len(records)
            return len(records) + len(due)

    def drain(self, *, settle_all_parked: bool = False, max_passes: int = 200) -> None:
        """Read until a pass finds no record (a compensation writes one more, so loop).

        ``settle_all_parked``: treat every parked attempt as due now (tests that need the
        recheck's outcome without waiting for its delay).
        """
        for _ in range(max_passes):
            handled = self.poll_once(settle_all_parked=settle_all_parked)
            if handled == 0 and not self._waiting:
                return
        raise RuntimeError("the credits table's stream did not quiet down")

    def _pass(self) -> bool:
        return self.poll_once() > 0


def start_local_ledger_writer(config: LocalConfig) -> LocalLedgerWriter:
    """`make run`'s ledger writer over the credits table's stream, started."""
    return LocalLedgerWriter(credits_settings(config), region=config.region).start()


@dataclass(frozen=True, slots=True)
class WriteUnitsPerDownload:
    """Write units DynamoDB would charge for ``downloads`` allowed downloads of one split account,
    the ledger writer's included (counted by the partition-faithful layer, local/dynamodb_capacity)."""

    downloads: int
    shards: int
    write_units: float
    read_units: float

    @property
    def per_download(self) -> float:
        return self.write_units / self.downloads


def measure_write_units_per_download(
    settings: Settings, *, downloads: int = 100, shards: int = 4
) -> WriteUnitsPerDownload:
    """Charge ``downloads`` one-credit downloads on an account split over ``shards`` shards, let the
    ledger writer write their entries, and count every write unit on the way (set-up excluded).

    For `make bench` and the tests: ``settings`` name tables on DynamoDB Local that exist.
    """
    # Imported here: the store pulls in the credits service's dependencies, which `make run`'s
    # supervisor does not need for its writer thread.
    from functions.credits.store.dynamodb import DynamoDBCreditsStore  # noqa: PLC0415
    from functions.credits.store.rebalancer import ShardRebalancer  # noqa: PLC0415
    from functions.credits.store.records import AccountRecord, Charged, ChargeIntent, GrantIntent  # noqa: PLC0415
    from local.dynamodb_capacity.layer import partition_capacity  # noqa: PLC0415

    with partition_capacity() as layer:
        store = DynamoDBCreditsStore(settings)
        writer = LocalLedgerWriter(settings, region=settings.region)
        account_id = f"acct_wru{secrets.token_hex(8)}"
        with layer.limits_paused():
            now = datetime.now(UTC)
            store.create_account(AccountRecord(account_id, "write units", "active", now))
            store.grant(GrantIntent(account_id, downloads * 2, "bench", f"wru-{account_id}", 10**9, now))
            rebalancer = ShardRebalancer(settings)
            rebalancer.set_count(account_id, shards)
            rebalancer.rebalance(account_id)
            # The container learns the layout on its first charge; that one is set-up too.
            store.charge(ChargeIntent(account_id, "key_wru", f"warm-{account_id}", 1, "GET", "/w", 1, now))
            writer.drain(settle_all_parked=True)
        layer.reset()
        for number in range(downloads):
            intent = ChargeIntent(
                account_id, "key_wru", f"wru-{account_id}-{number}", 1, "GET", "/w", 1, datetime.now(UTC)
            )
            if not isinstance(store.charge(intent), Charged):
                raise RuntimeError(f"download {number} was not charged")
        writer.drain(settle_all_parked=True)
        snapshot = layer.snapshot()
    return WriteUnitsPerDownload(
        downloads=downloads,
        shards=shards,
        write_units=snapshot.total("write"),
        read_units=snapshot.total("read"),
    )
