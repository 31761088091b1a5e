"""Routes of accounts and their keys."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.credits.routes.common import (
    ERROR_RESPONSES,
    AccountIdParam,
    CursorParam,
    KeyIdParam,
    LimitParam,
    created,
    documented,
    new_router,
)
from functions.credits.schemas import Account, CreateAccountRequest, IssuedKey, IssueKeyRequest, Key, KeyList
from functions.credits.service import CreditsService
from functions.credits.telemetry import logger


def accounts_router(service: CreditsService) -> APIGatewayRouter:
    router = new_router()

    @router.post(
        "/v1/accounts",
        summary="Create an account",
        tags=["accounts"],
        responses={201: documented("Created.", Account)} | ERROR_RESPONSES,
    )
    def create_account(request: CreateAccountRequest) -> Response[Account]:
        account = service.create_account(request)
        logger.info("account created", extra={"account_id": account.account_id})
        return created(account)

    @router.get(
        "/v1/accounts/<account_id>", summary="Read an account", tags=["accounts"], responses=ERROR_RESPONSES
    )
    def get_account(account_id: AccountIdParam) -> Account:
        return service.get_account(account_id)

    return router


def keys_router(service: CreditsService) -> APIGatewayRouter:
    router = new_router()

    @router.post(
        "/v1/accounts/<account_id>/keys",
        summary="Issue an API key (shown once)",
        tags=["keys"],
        responses={201: documented("Issued.", IssuedKey)} | ERROR_RESPONSES,
    )
    def issue_key(account_id: AccountIdParam, request: IssueKeyRequest) -> Response[IssuedKey]:
        issued = service.issue_key(account_id, request)
        logger.info("key issued", extra={"account_id": account_id, "key_id": issued.key_id})
        return created(issued)

    @router.get(
        "/v1/accounts/<account_id>/keys", summary="List keys", tags=["keys"], responses=ERROR_RESPONSES
    )
    def list_keys(account_id: AccountIdParam, limit: LimitParam = 50, cursor: CursorParam = None) -> KeyList:
        return service.list_keys(account_id, limit=limit, cursor=cursor)

    @router.delete(
        "/v1/accounts/<account_id>/keys/<key_id>",
        summary="Revoke a key (immediately, idempotently)",
        tags=["keys"],
        responses=ERROR_RESPONSES,
    )
    def revoke_key(account_id: AccountIdParam, key_id: KeyIdParam) -> Key:
        key = service.revoke_key(account_id, key_id)
        logger.info("key revoked", extra={"account_id": account_id, "key_id": key_id})
        return key

    return router
