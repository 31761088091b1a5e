"""One process holds home's DynamoDB store and the regions' at once (issue 15): each store reaches
only its own region's tables, whatever the others do in other threads at the same moment.

The regions are separate databases of one DynamoDB Local (no -sharedDb) with the SAME table
names, so a store whose call went through another store's binding would find that region's
tables, and its data, and these tests would see it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from functions.credits.data.binding import current_binding
from functions.credits.data.models import BalanceItem, CreditsTableModel
from functions.credits.data.tables import bind_tables, create_tables
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.records import (
    AccountRecord,
    Charged,
    ChargeIntent,
    GrantIntent,
    KeyRecord,
    KeyState,
    LedgerKind,
)
from functions.shared.api_keys import hash_api_key
from local.dynamodb_local import DynamoDBLocal
from tests.contract.regions.conftest import regional_stores, regional_tables

REGIONS = ("eu-west-1", "us-east-1", "ap-northeast-1")
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
ACCOUNT = "acct-binding"
THREADS = 6
CHARGES_PER_THREAD = 12


@pytest.fixture
def region_settings(dynamodb_local_per_region: DynamoDBLocal) -> Iterator[dict[str, Settings]]:
    with regional_tables(dynamodb_local_per_region, REGIONS) as settings:
        yield settings


def _funded(store: DynamoDBCreditsStore, amount: int) -> None:
    store.create_account(AccountRecord(account_id=ACCOUNT, name=ACCOUNT, status="active", created_at=NOW))
    store.grant(
        GrantIntent(
            account_id=ACCOUNT,
            amount=amount,
            reason="funding",
            idempotency_key="funding",
            max_balance=10**9,
            now=NOW,
        )
    )


def _charge(store: DynamoDBCreditsStore, request_id: str) -> ChargeIntent:
    return ChargeIntent(
        account_id=ACCOUNT,
        key_id="key-1",
        request_id=request_id,
        amount=1,
        method="GET",
        path="/object",
        bytes=1,
        now=NOW,
    )


def test_stores_of_three_regions_in_one_process_see_only_their_own_tables(
    region_settings: dict[str, Settings],
) -> None:
    stores = regional_stores(region_settings)
    # A different opening balance per region: a read through the wrong binding shows at once.
    opening = {region: 1000 * (number + 1) for number, region in enumerate(REGIONS)}
    for region, store in stores.items():
        _funded(store, opening[region])
    charged: dict[str, list[str]] = {region: [] for region in REGIONS}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(thread: int) -> None:
        # Each thread interleaves the three stores call by call.
        try:
            for number in range(CHARGES_PER_THREAD):
                region = REGIONS[(thread + number) % len(REGIONS)]
                request_id = f"{region}-t{thread}-n{number}"
                outcome = stores[region].charge(_charge(stores[region], request_id))
                assert isinstance(outcome, Charged)
                with lock:
                    charged[region].append(request_id)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(thread,)) for thread in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    for region, store in stores.items():
        assert store.get_balance(ACCOUNT) == opening[region] - len(charged[region])
        # The batch-get path (pynamodb reads its reply under the table name it asked for).
        assert store.get_balances([ACCOUNT]) == {ACCOUNT: opening[region] - len(charged[region])}
        # The query path: the ledger holds this region's charges and nothing of the others'.
        ledger = store.ledger_page(ACCOUNT, start=ALL_TIME[0], end=ALL_TIME[1], limit=1000, cursor=None)
        charge_ids = {entry.request_id for entry in ledger.items if entry.kind is LedgerKind.CHARGE}
        assert charge_ids == set(charged[region])
        for other in REGIONS:
            if other != region:
                assert store.get_charge(charged[other][0]) is None
    # No store left its binding behind in this thread.
    assert current_binding() is None


def test_key_standing_transaction_and_index_follow_the_store(region_settings: dict[str, Settings]) -> None:
    stores = regional_stores(region_settings)
    home, region = REGIONS[0], REGIONS[1]
    for store in stores.values():
        _funded(store, 10)
    digest = hash_api_key("em_binding_test_key")
    key = KeyRecord(
        account_id=ACCOUNT, key_id="key-1", key_digest=digest, status=KeyState.ACTIVE, created_at=NOW
    )
    assert stores[home].put_key(key)
    # TransactGetItems: its items' table names come from the models' (bound) connections.
    home_standing = stores[home].get_key_standing(digest, ACCOUNT)
    assert home_standing is not None
    assert home_standing.key.key_id == "key-1"
    assert stores[region].get_key_standing(digest, ACCOUNT) is None
    # The account-list index, queried on the list's worker threads: an account only the region
    # has (the store made last, whose tables are the process default, has neither).
    stores[region].create_account(
        AccountRecord(account_id="acct-only-here", name="only-here", status="active", created_at=NOW)
    )
    for store, expected in ((stores[region], {ACCOUNT, "acct-only-here"}), (stores[home], {ACCOUNT})):
        listed = store.list_accounts(status=None, name_prefix=None, after=None, limit=10)
        assert {account.account_id for account in listed.accounts} == expected


def test_unbound_callers_keep_the_process_default(region_settings: dict[str, Settings]) -> None:
    """Scripts and modules that bind once per process (bind_tables) and use the models directly
    still reach the tables bound last, as before the per-store binding."""
    stores = regional_stores(region_settings)
    _funded(stores[REGIONS[2]], 7)
    bind_tables(region_settings[REGIONS[2]])
    assert int(BalanceItem.get(f"account#{ACCOUNT}", "balance", consistent_read=True).balance) == 7
    bind_tables(region_settings[REGIONS[0]])
    with pytest.raises(BalanceItem.DoesNotExist):
        BalanceItem.get(f"account#{ACCOUNT}", "balance", consistent_read=True)


def test_tables_are_created_when_a_create_table_is_answered_twice(
    region_settings: dict[str, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow first CreateTable that botocore sends again is answered "preexisting table": the
    table is there, so creating the regions' tables goes on (it broke fixtures on a loaded machine)."""
    existing = CreditsTableModel.exists
    answers = iter([False, False])  # create_tables' check, then create_table's own; then the truth

    def exists(cls: type[CreditsTableModel]) -> bool:
        return next(answers, None) is None and existing()

    monkeypatch.setattr(CreditsTableModel, "exists", classmethod(exists))
    create_tables(region_settings[REGIONS[0]])
    assert next(answers, "used") == "used"
    assert CreditsTableModel.exists()
