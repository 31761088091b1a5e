"""A DynamoDB credits store whose new accounts start split: the contract suite's sharded layout."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from functions.credits.sellers.records import BalanceFacts
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.rebalancer import ShardRebalancer
from functions.credits.store.records import AccountRecord, LedgerRecord, Page, UsageTotals
from local.ledger_writer import LocalLedgerWriter


class ShardedOnCreateStore(DynamoDBCreditsStore):
    """Every account it creates is spread over ``shards`` balance shards at once.

    Its charges take the two-write path (issue 14 §4), whose ledger entries and compensations
    come from the ledger writer: every read here first drains the writer over DynamoDB Local's
    stream, so the contract is checked on the state the writer settles to (deployed, seconds
    later). Parked attempts keep their 60 s delay: a contract read never voids an attempt.
    """

    def __init__(self, settings: Settings, *, shards: int) -> None:
        super().__init__(settings)
        self._rebalancer = ShardRebalancer(settings)
        self._shards = shards
        self.ledger_writer = LocalLedgerWriter(settings, region=settings.region)

    def create_account(self, account: AccountRecord) -> None:
        super().create_account(account)
        assert self._rebalancer.set_count(account.account_id, self._shards)

    def get_balance(self, account_id: str) -> int | None:
        self.ledger_writer.drain()
        return super().get_balance(account_id)

    def get_balances(self, account_ids: Sequence[str]) -> dict[str, int]:
        self.ledger_writer.drain()
        return super().get_balances(account_ids)

    def get_balance_facts(self, account_id: str) -> BalanceFacts | None:
        self.ledger_writer.drain()
        return super().get_balance_facts(account_id)

    def ledger_page(
        self, account_id: str, *, start: datetime, end: datetime, limit: int, cursor: str | None
    ) -> Page[LedgerRecord]:
        self.ledger_writer.drain()
        return super().ledger_page(account_id, start=start, end=end, limit=limit, cursor=cursor)

    def usage(self, account_id: str, *, start: datetime, end: datetime) -> UsageTotals:
        self.ledger_writer.drain()
        return super().usage(account_id, start=start, end=end)
