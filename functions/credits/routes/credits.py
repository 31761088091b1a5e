"""Routes of an account's credits: grants, the ledger, usage."""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.credits.routes.common import (
    ERROR_RESPONSES,
    AccountIdParam,
    CursorParam,
    FromParam,
    LimitParam,
    ToParam,
    created,
    documented,
    json_response,
    new_router,
)
from functions.credits.schemas import Grant, GrantRequest, LedgerPage, Usage
from functions.credits.service import CreditsService
from functions.credits.telemetry import logger


def credits_router(service: CreditsService) -> APIGatewayRouter:
    router = new_router()

    @router.post(
        "/v1/accounts/<account_id>/grants",
        summary="Grant credits (idempotent by idempotency_key)",
        tags=["credits"],
        responses={201: documented("Granted.", Grant), 200: documented("Granted before (replayed).", Grant)}
        | ERROR_RESPONSES,
    )
    def grant(account_id: AccountIdParam, request: GrantRequest) -> Response[Grant]:
        granted = service.grant(account_id, request)
        logger.info(
            "grant",
            extra={"account_id": account_id, "amount": granted.amount, "replayed": granted.replayed},
        )
        if granted.replayed:
            return json_response(HTTPStatus.OK, granted.model_dump(mode="json"))
        return created(granted)

    @router.get(
        "/v1/accounts/<account_id>/ledger",
        summary="Ledger entries, newest first, paged",
        tags=["credits"],
        responses=ERROR_RESPONSES,
    )
    def ledger(
        account_id: AccountIdParam,
        from_: FromParam = None,
        to: ToParam = None,
        limit: LimitParam = 50,
        cursor: CursorParam = None,
    ) -> LedgerPage:
        return service.ledger(account_id, start=from_, end=to, limit=limit, cursor=cursor)

    @router.get(
        "/v1/accounts/<account_id>/usage",
        summary="Usage in a period (default: this calendar month so far, UTC)",
        tags=["credits"],
        responses=ERROR_RESPONSES,
    )
    def usage(account_id: AccountIdParam, from_: FromParam = None, to: ToParam = None) -> Usage:
        return service.usage(account_id, start=from_, end=to)

    return router
