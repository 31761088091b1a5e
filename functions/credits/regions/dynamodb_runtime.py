"""The DynamoDB side of the regional runtime: each region's store, book, lease and registry opened
per instance from a credits Lambda's settings and its ``RegionsTopology`` (issue 15 wiring)."""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import PynamoDBException, UpdateError

from functions.credits.data.binding import bound_to
from functions.credits.data.models import (
    BALANCE_SK,
    KEY_BY_DIGEST_SK,
    BalanceItem,
    KeyByDigestItem,
    KeyByIdItem,
    account_pk,
    key_digest_pk,
    key_sk,
)
from functions.credits.data.tables import bind_tables
from functions.credits.regions.dynamodb_transfers import DynamoDBTransferBook
from functions.credits.regions.regional_items import (
    DynamoDBLeaseBook,
    DynamoDBRegionalAccounts,
    call,
    open_regional_balance,
)
from functions.credits.regions.regional_standing import AccountStatusSet, DynamoDBPendingChanges, KeyRevoked
from functions.credits.regions.runtime import RegionalRuntime, RegionHandles
from functions.credits.regions.topology import RegionsTopology
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.errors import StoreUnavailable
from functions.credits.store.records import ChargeIntent, ChargeOutcome, GrantIntent, GrantOutcome, KeyState


class RegionalDynamoDBCreditsStore(DynamoDBCreditsStore):
    """A credits region's store: the account's balance item is opened (empty, put if absent) before
    the region first charges or credits it, since accounts are created in home only."""

    def __init__(self, settings: Settings, client: Any) -> None:
        super().__init__(settings)
        self._client = client
        self._opened: set[str] = set()
        self._opened_lock = threading.Lock()

    def _open(self, account_id: str) -> None:
        with self._opened_lock:
            if account_id in self._opened:
                return
        account = self.get_account(account_id)  # the users replica: home wrote it
        if account is not None:
            open_regional_balance(self._client, self._settings.credits_table, account_id, account.status)
            with self._opened_lock:
                self._opened.add(account_id)

    def apply_revocation(self, change: KeyRevoked) -> None:
        """Both key copies revoked in this region's users replica, the account's revocation count
        bumped on its balance item here (absent items: nothing to revoke here yet)."""
        key_actions = [KeyByIdItem.status.set(KeyState.REVOKED.value), KeyByIdItem.revoked_at.set(change.at)]
        by_id = KeyByIdItem(account_pk(change.account_id), key_sk(change.key_id))
        by_digest = KeyByDigestItem(key_digest_pk(change.key_digest), KEY_BY_DIGEST_SK)
        with bound_to(self.table_binding):
            _update_if_present(by_id, key_actions, KeyByIdItem.pk.exists())
            _update_if_present(by_digest, key_actions, KeyByDigestItem.pk.exists())
            balance = BalanceItem(account_pk(change.account_id), BALANCE_SK)
            _update_if_present(balance, [BalanceItem.key_revocations.add(1)], BalanceItem.pk.exists())

    def apply_account_status(self, change: AccountStatusSet) -> None:
        """The status every charge here is conditioned on (the profile follows by replication)."""
        balance = BalanceItem(account_pk(change.account_id), BALANCE_SK)
        with bound_to(self.table_binding):
            status = [BalanceItem.account_status.set(change.status)]
            _update_if_present(balance, status, BalanceItem.pk.exists())

    def charge(self, intent: ChargeIntent) -> ChargeOutcome:
        self._open(intent.account_id)
        return super().charge(intent)

    def grant(self, intent: GrantIntent) -> GrantOutcome:
        self._open(intent.account_id)
        return super().grant(intent)


def _update_if_present(item: Any, actions: list[Any], condition: Any) -> None:
    """One conditional update; an absent item is fine, any other failure leaves the region pending."""
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return
        raise StoreUnavailable(f"standing change not applied: {error.cause_response_code}") from error
    except PynamoDBException as error:
        raise StoreUnavailable(f"standing change not applied: {type(error).__name__}") from error


class DynamoDBRegionOpener:
    """Opens one region's handles: boto3 clients and a store bound to that region's tables."""

    def __init__(self, topology: RegionsTopology, settings: Settings) -> None:
        self._topology = topology
        self._settings = settings

    def _config(self) -> Any:
        from botocore.config import Config  # noqa: PLC0415 - only regional deployments pay its import

        return Config(
            connect_timeout=self._settings.dynamodb_connect_timeout_seconds,
            read_timeout=self._settings.dynamodb_read_timeout_seconds,
            retries={"max_attempts": self._settings.dynamodb_max_retry_attempts + 1, "mode": "standard"},
        )

    def _dynamodb(self, region: str) -> Any:
        import boto3  # noqa: PLC0415 - only regional deployments pay its import

        endpoint = self._settings.dynamodb_endpoint
        return boto3.client("dynamodb", region_name=region, endpoint_url=endpoint, config=self._config())

    def _ssm(self, region: str) -> Any:
        import boto3  # noqa: PLC0415 - only regional deployments pay its import

        return boto3.client("ssm", region_name=region, config=self._config())

    def credits_table(self, region: str) -> str:
        """``region``'s credits table; home's from the topology, or from home's SSM parameter."""
        if region == self._settings.region:
            return self._settings.credits_table
        if region != self._topology.home:
            return self._topology.credits_tables[region]
        if self._topology.home_credits_table is not None:
            return self._topology.home_credits_table
        try:
            reply = call(self._ssm(region), "get_parameter", Name=self._topology.home_credits_table_parameter)
        except ClientError as error:
            # Home not deployed yet, or its parameter unreadable: like home unreachable (503).
            raise StoreUnavailable(f"home's credits table is not published: {error}") from error
        name: str = reply["Parameter"]["Value"]
        return name

    def open(self, region: str) -> RegionHandles:
        table = self.credits_table(region)
        client = self._dynamodb(region)
        settings = self._settings
        if region != self._settings.region:
            # Another region's tables: its credits table by name, its ledger by the default
            # derived from it (the stacks name each credits region's ledger so).
            update = {"region": region, "credits_table": table, "ledger_table": None}
            settings = self._settings.model_copy(update=update)
        if region == self._topology.home:
            store = DynamoDBCreditsStore(settings)
            return RegionHandles(store=store, book=DynamoDBTransferBook(client, table))
        regional = RegionalDynamoDBCreditsStore(settings, client)
        return RegionHandles(
            store=regional,
            book=DynamoDBTransferBook(client, table),
            lease=DynamoDBLeaseBook(client, table),
            accounts=DynamoDBRegionalAccounts(client, table),
            standing=regional,
        )

    def pending_changes(self) -> DynamoDBPendingChanges:
        """Home's record of standing changes a region has not taken yet (home's credits table)."""
        home = self._topology.home
        return DynamoDBPendingChanges(self._dynamodb(home), self.credits_table(home))


def dynamodb_runtime(topology: RegionsTopology, settings: Settings) -> RegionalRuntime:
    """Every region's handles for the credits Lambda of ``settings.region`` (home or a credits region).

    Raises ``StoreUnavailable`` when home's table name cannot be read (a credits region whose home
    is unreachable at its cold start): the API answers 503 and the edge tries the next region.
    """
    opener = DynamoDBRegionOpener(topology, settings)
    handles = {region: opener.open(region) for region in topology.regions}
    # Each store's constructor also set the process-wide default binding (bind_tables) to its own
    # tables; code outside a store method reads that default, so it goes back to this function's.
    bind_tables(settings)
    return RegionalRuntime(home=topology.home, handles=handles, pending=opener.pending_changes())
