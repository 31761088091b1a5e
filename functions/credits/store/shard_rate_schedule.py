"""The deployed shard-rate scheduler (issue 14): the shard count follows each busy account's rate.

An EventBridge rule invokes the credits Lambda every minute with ``FOLLOW_SHARD_RATES_EVENT``; the
handler runs ``follow_shard_rates``: for at most ``MAX_ACCOUNTS_PER_RUN`` accounts on the watch
list (functions/credits/store/hot_accounts.py, no scan), ``ShardRebalancer.follow_rate`` sets the
count their observed rate asks for and evens their credit. An account left on more than one shard
is marked again, so it stays followed until it has merged back to one shard. ``edgemeter shards
follow`` still runs the same policy by hand for one account.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from pynamodb.exceptions import PynamoDBException

from functions.credits.data.tables import table_binding
from functions.credits.settings import Settings
from functions.credits.store.errors import CreditsStoreError
from functions.credits.store.hot_accounts import HotAccountList
from functions.credits.store.rebalancer import ShardRebalancer

logger = logging.getLogger(__name__)

FOLLOW_SHARD_RATES_EVENT = {"edgemeter": "follow_shard_rates"}
# Each follow is a few reads and at most two transactions (tens of ms): a run of 25 stays well
# inside the function's timeout; accounts beyond it wait for the next minute's run.
MAX_ACCOUNTS_PER_RUN = 25


def is_follow_shard_rates_event(event: object) -> bool:
    return isinstance(event, dict) and event.get("edgemeter") == FOLLOW_SHARD_RATES_EVENT["edgemeter"]


@dataclass
class FollowReport:
    """What one run did: the shard count each followed account was left with, and failures."""

    counts: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "followed": len(self.counts),
            "sharded": sum(1 for count in self.counts.values() if count > 1),
            "failed": len(self.failed),
        }


def follow_shard_rates(
    settings: Settings,
    now: datetime,
    *,
    limit: int = MAX_ACCOUNTS_PER_RUN,
    rebalancer: ShardRebalancer | None = None,
) -> FollowReport:
    """Follow the rate of up to ``limit`` watched accounts; one account's failure skips only it."""
    watch_list = HotAccountList(table_binding(settings))
    rebalancer = ShardRebalancer(settings) if rebalancer is None else rebalancer
    report = FollowReport()
    for account_id in watch_list.due(now, limit):
        try:
            layout = rebalancer.follow_rate(account_id, now)
            if layout.count > 1:
                watch_list.mark(account_id, now)
        except (CreditsStoreError, PynamoDBException):
            logger.warning("shard rate not followed", extra={"account_id": account_id}, exc_info=True)
            report.failed.append(account_id)
            continue
        report.counts[account_id] = layout.count
    return report
