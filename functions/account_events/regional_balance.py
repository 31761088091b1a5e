"""``balance.low`` with credits regions (fifth session): the totals home's upkeep judged, fired here.

With credits regions an account's balance is home + every region + transfers in flight. Home's
upkeep (functions/credits/regions/low_balance.py) reads that total every run for each account with
credit in a region and, when an armed threshold is above it, writes its judgement on home's
balance item (``regional_low_total``, ``regional_low_at``, ``regional_low_split``). That write
reaches this consumer as a MODIFY of ``sk = balance``; here each armed threshold above the judged
total fires by the alert item's conditional write (functions/credits/store/low_balance_alerts.py),
so exactly one judge wins, and a redelivered record fires again under the same event id.
Such accounts carry ``regional_since`` on home's balance item: the other judges leave them alone
(a refill's debit of home is not a spend). docs/decisions.md, "balance.low across regions".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from functions.account_events.events import AccountEvent, EventType, event_id
from functions.account_events.stream_records import _thresholds, _whole_number, decode_record
from functions.credits.data.models import BALANCE_SK
from functions.credits.store.low_balance_alerts import (
    REGIONAL_LOW_AT,
    REGIONAL_LOW_SPLIT,
    REGIONAL_LOW_TOTAL,
    fire_threshold,
)


@dataclass(frozen=True)
class RegionalJudgement:
    """One judgement the upkeep wrote on home's balance item: the total under a threshold."""

    account_id: str
    record_id: str
    recorded_at: str
    total: int
    thresholds: tuple[int, ...]  # the account's thresholds above the total, highest first
    judged_at: str
    regions: dict[str, int]
    in_flight: int


def regional_judgements(records: Iterable[Mapping[str, Any]]) -> list[RegionalJudgement]:
    """The upkeep's judgements among ``records`` (a new ``regional_low_at`` on a balance item)."""
    judgements = []
    for record in records:
        change = decode_record(record)
        if change is None or change.sort_key != BALANCE_SK or change.old is None or change.new is None:
            continue
        judged_at = change.new.get(REGIONAL_LOW_AT)
        total = _whole_number(change.new.get(REGIONAL_LOW_TOTAL))
        if judged_at is None or total is None or judged_at == change.old.get(REGIONAL_LOW_AT):
            continue
        split = _split(change.new.get(REGIONAL_LOW_SPLIT))
        above = sorted(
            (t for t in _thresholds(change.new.get("alert_thresholds")) if total < t), reverse=True
        )
        judgements.append(
            RegionalJudgement(
                account_id=change.account_id,
                record_id=change.record_id,
                recorded_at=change.recorded_at,
                total=total,
                thresholds=tuple(above),
                judged_at=str(judged_at),
                regions=split[0],
                in_flight=split[1],
            )
        )
    return judgements


def _split(text: Any) -> tuple[dict[str, int], int]:
    """``regional_low_split`` as written by the upkeep; anything else reads as no split."""
    try:
        split = json.loads(str(text))
        regions = {str(region): int(balance) for region, balance in split["regions"].items()}
        return regions, int(split["in_flight"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}, 0


def regional_low_events(records: Iterable[Mapping[str, Any]]) -> list[AccountEvent]:
    """Fire every armed threshold above a judged total (on the credits table bound now)."""
    events = []
    for judgement in regional_judgements(records):
        for threshold in judgement.thresholds:
            if fire_threshold(judgement.account_id, threshold, judgement.record_id):
                events.append(regional_low_event(judgement, threshold))
    return events


def regional_low_event(judgement: RegionalJudgement, threshold: int) -> AccountEvent:
    return AccountEvent(
        id=event_id(judgement.record_id, EventType.BALANCE_LOW, str(threshold)),
        type=EventType.BALANCE_LOW,
        account_id=judgement.account_id,
        occurred_at=judgement.recorded_at,
        detail={
            "threshold": threshold,
            "balance": judgement.total,
            "regions": judgement.regions,
            "in_flight": judgement.in_flight,
            "judged_at": judgement.judged_at,
        },
    )
