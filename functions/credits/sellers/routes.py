"""Routes of the sellers' features (issue 16): one Powertools ``Router``, joined in
``functions/credits/app.py`` like the others. Thin: validated models in, ``SellersService`` out."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.credits.routes.common import (
    ERROR_RESPONSES,
    AccountIdParam,
    CursorParam,
    LimitParam,
    created,
    documented,
    new_router,
)
from functions.credits.schemas import MAX_BALANCE
from functions.credits.sellers.lifecycle import AccountStatus, principal_from_request_context
from functions.credits.sellers.schemas import (
    AccountList,
    AccountStatusReply,
    AccountStatusRequest,
    Alerts,
    AlertsRequest,
    CreateLinkRequest,
    Link,
)
from functions.credits.sellers.service import SellersService
from functions.credits.telemetry import logger

NamePrefixParam = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Accounts whose name starts with this (case-insensitive).",
    ),
]
StatusParam = Annotated[AccountStatus | None, Query(description="Only accounts with this status.")]
BalanceBelowParam = Annotated[
    int | None,
    Query(ge=1, le=MAX_BALANCE + 1, description="Only accounts whose balance is below this many credits."),
]


def sellers_router(sellers: SellersService) -> APIGatewayRouter:
    router = new_router()
    _add_account_routes(router, sellers)
    _add_link_and_alert_routes(router, sellers)
    return router


def _add_account_routes(router: APIGatewayRouter, sellers: SellersService) -> None:
    """List accounts; suspend, resume or close one."""

    @router.get(
        "/v1/accounts",
        summary="List accounts by name, paged (filters: name_prefix, status, balance_below)",
        tags=["accounts"],
        responses={200: documented("One page of accounts.", AccountList)} | ERROR_RESPONSES,
    )
    def list_accounts(
        name_prefix: NamePrefixParam = None,
        status: StatusParam = None,
        balance_below: BalanceBelowParam = None,
        limit: LimitParam = 50,
        cursor: CursorParam = None,
    ) -> AccountList:
        return sellers.list_accounts(
            status=status, name_prefix=name_prefix, balance_below=balance_below, limit=limit, cursor=cursor
        )

    @router.patch(
        "/v1/accounts/<account_id>",
        summary="Suspend, resume or close an account (closed is terminal)",
        tags=["accounts"],
        responses={200: documented("The account after the change.", AccountStatusReply)} | ERROR_RESPONSES,
    )
    def change_status(account_id: AccountIdParam, request: AccountStatusRequest) -> AccountStatusReply:
        principal = principal_from_request_context(router.current_event.raw_event.get("requestContext"))
        reply = sellers.change_status(account_id, request, principal)
        logger.info(
            "account status",
            extra={"account_id": account_id, "status": reply.status.value, "changed": reply.changed},
        )
        return reply


def _add_link_and_alert_routes(router: APIGatewayRouter, sellers: SellersService) -> None:
    """Signed download links; low-balance alert thresholds."""

    @router.post(
        "/v1/accounts/<account_id>/links",
        summary="Make a signed download link for one of the account's keys",
        tags=["links"],
        responses={201: documented("Made.", Link)} | ERROR_RESPONSES,
    )
    def create_link(account_id: AccountIdParam, request: CreateLinkRequest) -> Response[Link]:
        link = sellers.create_link(account_id, request)
        logger.info("link made", extra={"account_id": account_id, "link_id": link.link_id})
        return created(link)

    @router.put(
        "/v1/accounts/<account_id>/alerts",
        summary="Set the account's low-balance alert thresholds",
        tags=["accounts"],
        responses={200: documented("The thresholds now set.", Alerts)} | ERROR_RESPONSES,
    )
    def set_alerts(account_id: AccountIdParam, request: AlertsRequest) -> Alerts:
        return sellers.set_alerts(account_id, request)

    @router.get(
        "/v1/accounts/<account_id>/alerts",
        summary="Read the account's low-balance alert thresholds",
        tags=["accounts"],
        responses={200: documented("The thresholds set.", Alerts)} | ERROR_RESPONSES,
    )
    def get_alerts(account_id: AccountIdParam) -> Alerts:
        return sellers.get_alerts(account_id)
