"""Billing reads over every region (issue 15 §5): one account's balance split, merged ledger, usage.

Home fans out to each region's store: the balance is home + every region + transfers in flight,
with the per-region split shown; ledger entries of every region are merged newest first; usage
counts what viewers were charged and leaves transfers out (they move credit, they do not spend it).
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from functions.credits.regions.transfers import TRANSFER_METHOD, TransferCoordinator
from functions.credits.store.errors import InvalidCursor
from functions.credits.store.protocol import CreditsStore
from functions.credits.store.records import LedgerKind, LedgerRecord, UsageLine, UsageTotals, usage_totals

_PAGE = 500


@dataclass(frozen=True, slots=True)
class RegionalBalance:
    by_region: dict[str, int]
    in_flight: int

    @property
    def total(self) -> int:
        return sum(self.by_region.values()) + self.in_flight


def regional_balance(
    stores: Mapping[str, CreditsStore], coordinator: TransferCoordinator, account_id: str
) -> RegionalBalance:
    """The account's credit everywhere: each region's balance, and what is between regions."""
    in_flight = sum(record.amount for record in coordinator.in_flight(account_id))
    return RegionalBalance(
        by_region={region: store.get_balance(account_id) or 0 for region, store in stores.items()},
        in_flight=in_flight,
    )


def _region_entries(
    region: str, store: CreditsStore, account_id: str, start: datetime, end: datetime
) -> Iterator[tuple[str, LedgerRecord]]:
    cursor: str | None = None
    while True:
        page = store.ledger_page(account_id, start=start, end=end, limit=_PAGE, cursor=cursor)
        for entry in page.items:
            yield region, entry
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def merged_ledger(
    stores: Mapping[str, CreditsStore], account_id: str, *, start: datetime, end: datetime
) -> Iterator[tuple[str, LedgerRecord]]:
    """Every region's entries in [start, end), newest first, each with its region (a k-way merge)."""
    streams = [_region_entries(region, store, account_id, start, end) for region, store in stores.items()]
    return heapq.merge(*streams, key=lambda pair: pair[1].created_at, reverse=True)


def is_transfer(entry: LedgerRecord) -> bool:
    """A transfer's debit or credit: money moving between regions, not spent."""
    return entry.method == TRANSFER_METHOD or entry.request_id.startswith("grant:transfer:")


def regional_usage(
    stores: Mapping[str, CreditsStore], account_id: str, *, start: datetime, end: datetime
) -> dict[str, int]:
    """Credits viewers spent per region in [start, end): charges less their refunds, no transfers."""
    spent = dict.fromkeys(stores, 0)
    for region, entry in merged_ledger(stores, account_id, start=start, end=end):
        if is_transfer(entry) or entry.reason == "transfer_reversed":
            continue
        if entry.kind in (LedgerKind.CHARGE, LedgerKind.REFUND):
            spent[region] -= entry.amount
    return spent


def ledger_total(stores: Mapping[str, CreditsStore], account_id: str, start: datetime, end: datetime) -> int:
    """The signed sum of every region's ledger: what the audit compares with the balance total."""
    return sum(entry.amount for _, entry in merged_ledger(stores, account_id, start=start, end=end))


@dataclass(frozen=True, slots=True)
class RegionalAudit:
    """One account across regions: what each region holds, what its ledger says, and the problems."""

    balances: dict[str, int]
    ledgers: dict[str, int]
    in_flight: int
    problems: list[str]

    @property
    def clean(self) -> bool:
        return not self.problems


def regional_audit(
    stores: Mapping[str, CreditsStore],
    coordinator: TransferCoordinator,
    account_id: str,
    *,
    start: datetime,
    end: datetime,
) -> RegionalAudit:
    """Per region: the ledger sums to the balance and the balance is not below zero. Across regions:
    sum of balances + in flight = grants - spent (net of refunds); transfers cancel out."""
    balances = {region: store.get_balance(account_id) or 0 for region, store in stores.items()}
    ledgers: dict[str, int] = dict.fromkeys(stores, 0)
    granted = spent = 0
    for region, entry in merged_ledger(stores, account_id, start=start, end=end):
        ledgers[region] += entry.amount
        if is_transfer(entry) or entry.reason == "transfer_reversed":
            continue
        if entry.kind is LedgerKind.GRANT:
            granted += entry.amount
        else:
            spent -= entry.amount
    in_flight = sum(record.amount for record in coordinator.in_flight(account_id))
    problems = [
        f"{region}: ledger {ledgers[region]} != balance {balance}"
        for region, balance in balances.items()
        if ledgers[region] != balance
    ]
    problems += [
        f"{region}: balance {balance} below zero" for region, balance in balances.items() if balance < 0
    ]
    if sum(balances.values()) + in_flight != granted - spent:
        problems.append(
            f"balances {sum(balances.values())} + in flight {in_flight} != granted {granted} - spent {spent}"
        )
    return RegionalAudit(balances=balances, ledgers=ledgers, in_flight=in_flight, problems=problems)


# --- one page of the merged ledger (home's ledger route with regions) ------------------------------

_DONE = ""  # a region whose entries in the period are all on earlier pages


@dataclass(frozen=True, slots=True)
class MergedLedgerPage:
    entries: list[tuple[str, LedgerRecord]]
    next_cursor: str | None


def _decode_cursor(cursor: str | None, regions: list[str]) -> list[str | None]:
    """Per region, in ``regions`` order: the store cursor to resume from (None: its start; "": done)."""
    if cursor is None:
        return [None] * len(regions)
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as error:
        raise InvalidCursor("not a cursor of this ledger") from error
    if not isinstance(decoded, list) or len(decoded) != len(regions):
        raise InvalidCursor("not a cursor of this ledger")
    if not all(value is None or isinstance(value, str) for value in decoded):
        raise InvalidCursor("not a cursor of this ledger")
    return decoded


def _encode_cursor(states: list[str | None]) -> str | None:
    if all(state == _DONE for state in states):
        return None
    return base64.urlsafe_b64encode(json.dumps(states, separators=(",", ":")).encode()).decode().rstrip("=")


def merged_ledger_page(
    stores: Mapping[str, CreditsStore],
    account_id: str,
    *,
    start: datetime,
    end: datetime,
    limit: int,
    cursor: str | None,
) -> MergedLedgerPage:
    """``limit`` entries of every region's ledger in [start, end), newest first, each with its region.

    The cursor holds one store cursor per region. Each region gives up to ``limit`` candidates from
    its cursor; the newest ``limit`` of all are the page; a region that gave ``t`` of them moves on
    by exactly ``t`` (its store's page of ``t`` entries from the same cursor ends there), so the
    next page resumes every region exactly after what was shown.
    """
    regions = list(stores)
    states = _decode_cursor(cursor, regions)
    candidates: list[tuple[str, LedgerRecord]] = []
    for region, state in zip(regions, states, strict=True):
        if state != _DONE:
            page = stores[region].ledger_page(account_id, start=start, end=end, limit=limit, cursor=state)
            candidates.extend((region, entry) for entry in page.items)
    candidates.sort(key=lambda pair: pair[1].created_at, reverse=True)
    shown = candidates[:limit]
    taken = {region: sum(1 for r, _ in shown if r == region) for region in regions}
    next_states: list[str | None] = []
    for region, state in zip(regions, states, strict=True):
        offered = sum(1 for r, _ in candidates if r == region)
        if state == _DONE or (offered == 0):
            next_states.append(_DONE)
        elif taken[region] == 0:
            next_states.append(state)
        else:
            moved = stores[region].ledger_page(
                account_id, start=start, end=end, limit=taken[region], cursor=state
            )
            next_states.append(moved.next_cursor if moved.next_cursor is not None else _DONE)
    return MergedLedgerPage(entries=shown, next_cursor=_encode_cursor(next_states))


def merged_usage(
    stores: Mapping[str, CreditsStore], account_id: str, *, start: datetime, end: datetime
) -> UsageTotals:
    """The account's usage across regions: every region's entries, transfers left out (they move
    credit between regions; neither a spend nor a grant)."""
    return usage_totals(
        UsageLine(entry.kind, entry.amount, entry.method, entry.bytes)
        for _, entry in merged_ledger(stores, account_id, start=start, end=end)
        if not (is_transfer(entry) or entry.reason == "transfer_reversed")
    )
