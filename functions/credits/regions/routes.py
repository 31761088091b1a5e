"""Home's billing read over every region (issue 15 §5): ``GET /v1/accounts/{id}/regions``.

The balance is home + each credits region + transfers in flight, with the split and the transfers
themselves shown. Registered only in home's API, and only when regions are configured (the
handler adds the router), so a single-region deployment's API is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, ConfigDict

from functions.credits.regions.runtime import RegionalRuntime
from functions.credits.regions.transfers import TransferRecord, TransferState
from functions.credits.routes.common import ERROR_RESPONSES, AccountIdParam, new_router
from functions.credits.service import CreditsService
from functions.credits.store.errors import StoreUnavailable


class _Reply(BaseModel):
    model_config = ConfigDict(frozen=True)


class RegionBalance(_Reply):
    region: str
    # None: the region could not be read now (its share is then missing from the total).
    balance: int | None
    home: bool


class TransferInFlight(_Reply):
    transfer_id: str
    source_region: str
    target_region: str
    amount: int
    state: str
    created_at: datetime


class RegionalAccountBalance(_Reply):
    account_id: str
    # home + every region read + in flight: what the account holds (complete when no region is missing).
    balance: int
    complete: bool
    regions: list[RegionBalance]
    in_flight: int
    transfers: list[TransferInFlight]
    unreachable_regions: list[str]


def _balances(runtime: RegionalRuntime, account_id: str) -> dict[str, int | None]:
    balances: dict[str, int | None] = {}
    for region, store in runtime.stores.items():
        try:
            balances[region] = store.get_balance(account_id) or 0
        except StoreUnavailable:
            balances[region] = None
    return balances


def _credited(runtime: RegionalRuntime, record: TransferRecord) -> bool:
    """Whether the target holds the transfer; a target that cannot answer has not (yet)."""
    try:
        target = runtime.handles[record.target_region].book.get(record.transfer_id)
    except StoreUnavailable:
        return False
    return target is not None and target.state is TransferState.RECEIVED


def transfers_in_flight(runtime: RegionalRuntime, account_id: str) -> tuple[list[TransferRecord], list[str]]:
    """Transfers of the account debited at their source and not credited at their target; and the
    regions whose books could not be read (their outgoing transfers are then not listed)."""
    flying: list[TransferRecord] = []
    unreadable: list[str] = []
    for region, handles in runtime.handles.items():
        try:
            unfinished = [r for r in handles.book.unfinished() if r.account_id == account_id]
            debited = [r for r in unfinished if handles.store.get_charge(r.request_id) is not None]
            open_debits = [r for r in debited if handles.store.get_refund(r.request_id) is None]
        except StoreUnavailable:
            unreadable.append(region)
            continue
        flying.extend(record for record in open_debits if not _credited(runtime, record))
    return flying, unreadable


def account_regions(runtime: RegionalRuntime, account_id: str) -> RegionalAccountBalance:
    """The split read from home, tolerant of a region down: it is named, never guessed."""
    balances = _balances(runtime, account_id)
    flying, unreadable = transfers_in_flight(runtime, account_id)
    in_flight = sum(record.amount for record in flying)
    unreachable = sorted({r for r, b in balances.items() if b is None} | set(unreadable))
    return RegionalAccountBalance(
        account_id=account_id,
        balance=sum(b for b in balances.values() if b is not None) + in_flight,
        complete=not unreachable,
        regions=[
            RegionBalance(region=region, balance=balance, home=region == runtime.home)
            for region, balance in balances.items()
        ],
        in_flight=in_flight,
        transfers=[
            TransferInFlight(
                transfer_id=record.transfer_id,
                source_region=record.source_region,
                target_region=record.target_region,
                amount=record.amount,
                state=str(record.state),
                created_at=record.created_at,
            )
            for record in flying
        ],
        unreachable_regions=unreachable,
    )


def regions_router(service: CreditsService, runtime: Callable[[], RegionalRuntime]) -> APIGatewayRouter:
    """``runtime`` is built on first use: a cold start never waits on the other regions."""
    router = new_router()

    @router.get(
        "/v1/accounts/<account_id>/regions",
        summary="The account's balance split over home and every credits region, and transfers in flight",
        tags=["accounts"],
        responses=ERROR_RESPONSES,
    )
    def get_account_regions(account_id: AccountIdParam) -> RegionalAccountBalance:
        service.get_account(account_id)  # 404 for an unknown account, like the other account routes
        return account_regions(runtime(), account_id)

    return router
