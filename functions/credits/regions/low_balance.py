"""Home's upkeep judges ``balance.low`` on the account's total across regions (fifth session).

With credits regions an account's balance is home + every region + transfers in flight; home's
stream consumer sees home's share only (a refill lowers it with no spending; a region's spending
never reaches it). So for every account a region has noted, each upkeep run:
* marks home's balance item ``regional_since`` (before the run's refills, so a refill's debit of
  home already carries it and the consumer leaves it alone); an unsharded account's alert item is
  armed then from the total at the mark (home's balance as the marking write returned it);
* reads the total (``regional_balance``) and the alert item: each threshold the total is at or
  above and not armed is armed; when an armed threshold is above the total, it writes the judgement
  on home's balance item, and the consumer fires and publishes it
  (functions/account_events/regional_balance.py: one conditional write, one winner);
* after the refills, removes the mark of an account no region notes any more (its credit came
  home: home's balance is the total again, the old judges take over).
docs/decisions.md, "balance.low across regions".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from pynamodb.exceptions import PynamoDBException, UpdateError
from pynamodb.expressions.update import Action

from functions.credits.data.binding import TableBinding, bound_to
from functions.credits.data.models import BALANCE_SK, account_pk
from functions.credits.regions.billing import RegionalBalance, regional_balance
from functions.credits.regions.transfers import TransferCoordinator
from functions.credits.store.errors import StoreUnavailable
from functions.credits.store.low_balance_alerts import (
    LowBalanceAlertItem,
    MarkedBalanceItem,
    arm_threshold,
    armed_thresholds,
    fired_marks,
    read_alert_state,
    read_marked_balance,
    update_alerts,
)
from functions.credits.store.protocol import CreditsStore


@dataclass
class LowBalanceRound:
    """What one upkeep run's judge did: accounts judged under a threshold (written for the
    consumer), accounts whose total could not be read (judged next run), marks added and removed."""

    judged_low: list[str] = field(default_factory=list)
    unjudged: list[str] = field(default_factory=list)
    marked: list[str] = field(default_factory=list)
    unmarked: list[str] = field(default_factory=list)


class RegionalLowBalanceJudge:
    """Judges accounts' totals on every region's ``stores``; home's marks and alert items are in the
    credits table ``home_binding`` names."""

    def __init__(
        self,
        *,
        home: str,
        stores: Mapping[str, CreditsStore],
        coordinator: TransferCoordinator,
        home_binding: TableBinding,
    ) -> None:
        self._home = home
        self._stores = stores
        self._coordinator = coordinator
        self._binding = home_binding

    def judge(self, account_ids: Iterable[str], now: datetime, report: LowBalanceRound) -> None:
        for account_id in sorted(set(account_ids)):
            try:
                if self._judge_account(account_id, now, report):
                    report.judged_low.append(account_id)
            except (StoreUnavailable, PynamoDBException):
                # A total without a region's share would raise false alarms: next run.
                report.unjudged.append(account_id)

    def unmark(self, account_ids: Iterable[str], report: LowBalanceRound) -> None:
        """Remove the marks of accounts whose credit is all home again."""
        for account_id in sorted(set(account_ids)):
            item = MarkedBalanceItem(account_pk(account_id), BALANCE_SK)
            actions: list[Action] = [
                MarkedBalanceItem.regional_since.remove(),
                MarkedBalanceItem.regional_low_total.remove(),
                MarkedBalanceItem.regional_low_at.remove(),
                MarkedBalanceItem.regional_low_split.remove(),
            ]
            try:
                with bound_to(self._binding):
                    item.update(actions=actions, condition=MarkedBalanceItem.regional_since.exists())
            except UpdateError as error:
                if error.cause_response_code != "ConditionalCheckFailedException":
                    report.unjudged.append(account_id)
                continue
            except PynamoDBException:
                report.unjudged.append(account_id)
                continue
            report.unmarked.append(account_id)

    def _judge_account(self, account_id: str, now: datetime, report: LowBalanceRound) -> bool:
        with bound_to(self._binding):
            shard_zero = read_marked_balance(account_id)
            if shard_zero is None:
                return False
            marked_now = shard_zero.regional_since is None and self._mark(shard_zero, now)
        if marked_now:
            report.marked.append(account_id)
        thresholds = sorted({int(t) for t in shard_zero.alert_thresholds or ()}, reverse=True)
        if not thresholds:
            return False
        balance = regional_balance(self._stores, self._coordinator, account_id)
        with bound_to(self._binding):
            if marked_now and int(shard_zero.shard_peak or 1) <= 1:
                # Home's balance at the mark, the regions' and in flight as read just after.
                at_mark = int(shard_zero.balance) + balance.total - balance.by_region.get(self._home, 0)
                _set_armed(account_id, {t for t in thresholds if t <= at_mark})
            state = read_alert_state(account_id)
            armed, fired = armed_thresholds(state), fired_marks(state)
            for threshold in thresholds:
                if balance.total >= threshold and threshold not in armed:
                    arm_threshold(account_id, threshold, fired)
            if not any(balance.total < t and t in armed for t in thresholds):
                return False
        balance = self._confirmed(account_id, balance)
        if not any(balance.total < t and t in armed for t in thresholds):
            return False
        with bound_to(self._binding):
            _write_judgement(account_id, balance, now)
        return True

    def _confirmed(self, account_id: str, first: RegionalBalance) -> RegionalBalance:
        """The higher of two reads of the total: the regions are read one after another, so a read
        made while a transfer moves credit can see its debit without its credit (a false low)."""
        second = regional_balance(self._stores, self._coordinator, account_id)
        return second if second.total >= first.total else first

    @staticmethod
    def _mark(shard_zero: MarkedBalanceItem, now: datetime) -> bool:
        """Mark home's balance item; ``shard_zero`` then holds the item as the write left it (its
        balance at the mark). False when another run marked it first."""
        try:
            shard_zero.update(
                actions=[MarkedBalanceItem.regional_since.set(now.isoformat())],
                condition=MarkedBalanceItem.pk.exists() & MarkedBalanceItem.regional_since.does_not_exist(),
            )
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _set_armed(account_id: str, armed: set[int]) -> None:
    # ints, not floats: a number set stores "60", as the consumer's ``contains(armed, 60)`` asks.
    numbers = cast(set[float], armed)
    action = LowBalanceAlertItem.armed.set(numbers) if armed else LowBalanceAlertItem.armed.remove()
    update_alerts(account_id, [action], None)


def _write_judgement(account_id: str, balance: RegionalBalance, now: datetime) -> None:
    """The total under an armed threshold, on home's balance item: the consumer's cue to fire."""
    split = json.dumps({"regions": balance.by_region, "in_flight": balance.in_flight}, sort_keys=True)
    MarkedBalanceItem(account_pk(account_id), BALANCE_SK).update(
        actions=[
            MarkedBalanceItem.regional_low_total.set(balance.total),
            MarkedBalanceItem.regional_low_at.set(now.isoformat()),
            MarkedBalanceItem.regional_low_split.set(split),
        ],
        condition=MarkedBalanceItem.pk.exists(),
    )
