"""A DynamoDB credits store whose new accounts start split: the contract suite's sharded layout."""

from __future__ import annotations

from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.rebalancer import ShardRebalancer
from functions.credits.store.records import AccountRecord


class ShardedOnCreateStore(DynamoDBCreditsStore):
    """Every account it creates is spread over ``shards`` balance shards at once."""

    def __init__(self, settings: Settings, *, shards: int) -> None:
        super().__init__(settings)
        self._rebalancer = ShardRebalancer(settings)
        self._shards = shards

    def create_account(self, account: AccountRecord) -> None:
        super().create_account(account)
        assert self._rebalancer.set_count(account.account_id, self._shards)
