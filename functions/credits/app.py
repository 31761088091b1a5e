"""The HTTP surface of the credits service: routes, validation, and the one error mapping.

Routes are thin: they take validated models (Powertools' event handler with pydantic
validation), call ``CreditsService`` and return its models. Every error becomes the JSON
error shape ``{"error": {"code", "message"}}`` here, in ``_register_error_handlers``:
domain errors by their status and code, validation errors as 400/422, unknown routes as
404, DynamoDB throttling as 503 with Retry-After, anything else as a logged 500 that says
nothing about the cause.

``build_api`` returns a ``CreditsApi``; ``handle`` is what a Lambda invocation calls. The
resolver keeps the current event in class-level state, so one process serves one
invocation at a time, exactly as Lambda runs it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime
from pynamodb.exceptions import PynamoDBException

from functions.credits.config import Settings
from functions.credits.data.transactions import RETRYABLE_ERRORS
from functions.credits.errors import CreditsError, ServiceBusy
from functions.credits.ids import ACCOUNT_ID_PATTERN, KEY_ID_PATTERN
from functions.credits.schemas import (
    Account,
    AuthorizeRequest,
    CreateAccountRequest,
    Decision,
    ErrorResponse,
    Grant,
    GrantRequest,
    IssuedKey,
    IssueKeyRequest,
    Key,
    KeyList,
    LedgerPage,
    Refund,
    RefundRequest,
    Usage,
)
from functions.credits.service import CreditsService
from functions.credits.telemetry import logger, tracer
from functions.shared.errors import ErrorCode, error_document

API_TITLE = "edgemeter credits API"
API_VERSION = "1.0.0"
OPENAPI_PATH = "/v1/openapi.json"

AccountIdParam = Annotated[str, Path(pattern=ACCOUNT_ID_PATTERN, description="An account id.")]
KeyIdParam = Annotated[str, Path(pattern=KEY_ID_PATTERN, description="A key id.")]
CursorParam = Annotated[
    str | None,
    Query(max_length=1024, pattern=r"^[A-Za-z0-9_-]+$", description="`next_cursor` of the previous page."),
]
LimitParam = Annotated[int, Query(ge=1, le=100, description="Page size.")]
FromParam = Annotated[
    AwareDatetime | None, Query(alias="from", description="Inclusive start (ISO 8601 with offset).")
]
ToParam = Annotated[
    AwareDatetime | None, Query(alias="to", description="Exclusive end (ISO 8601 with offset).")
]


def _documented(description: str, model: type[Any]) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": model}}}


_ERROR_RESPONSES: dict[int, OpenAPIResponse] = {
    status: _documented(description, ErrorResponse)
    for status, description in (
        (400, "Malformed request."),
        (404, "No such resource."),
        (409, "Conflicts with an earlier request."),
        (413, "Body too large."),
        (422, "Validation failed."),
        (503, "Busy; retry after Retry-After seconds."),
    )
}


def _json(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=dict(body),
        headers=dict(headers or {}),
    )


def _error(
    status: int, code: ErrorCode | str, message: str, headers: Mapping[str, str] | None = None, **details: Any
) -> Response[Any]:
    return _json(status, error_document(code, message, **details), headers)


def _created(model: Any) -> Response[Any]:
    return _json(HTTPStatus.CREATED, model.model_dump(mode="json", by_alias=True))


def _register_error_handlers(app: APIGatewayRestResolver) -> None:
    """The one mapping of errors to HTTP replies."""

    def _domain_error(error: CreditsError) -> Response[Any]:
        headers = {"Retry-After": str(error.retry_after)} if isinstance(error, ServiceBusy) else None
        return _error(error.status, error.code, error.message, headers, **error.details)

    def _invalid(error: RequestValidationError) -> Response[Any]:
        problems = error.errors()
        if any(problem.get("type") == "json_invalid" for problem in problems):
            return _error(HTTPStatus.BAD_REQUEST, ErrorCode.BAD_REQUEST, "the body is not valid JSON")
        # loc, type and msg only: the input may hold what must not be echoed (a key digest).
        details = [
            {
                "loc": [str(part) for part in problem.get("loc", ())],
                "type": problem.get("type"),
                "msg": problem.get("msg"),
            }
            for problem in problems
        ]
        return _error(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            ErrorCode.VALIDATION_ERROR,
            "the request is invalid",
            details=details,
        )

    def _unsupported(_: RequestUnsupportedContentType) -> Response[Any]:
        return _error(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, ErrorCode.BAD_REQUEST, "send the body as application/json"
        )

    def _no_route(_: NotFoundError) -> Response[Any]:
        return _error(HTTPStatus.NOT_FOUND, ErrorCode.NOT_FOUND, "no such route")

    def _dynamodb(error: PynamoDBException) -> Response[Any]:
        if error.cause_response_code in RETRYABLE_ERRORS:
            logger.warning("DynamoDB is throttling or busy", extra={"code": error.cause_response_code})
            return _domain_error(ServiceBusy())
        logger.exception("DynamoDB call failed", extra={"code": error.cause_response_code})
        return _error(HTTPStatus.INTERNAL_SERVER_ERROR, ErrorCode.INTERNAL_ERROR, "internal error")

    def _unexpected(_: Exception) -> Response[Any]:
        logger.exception("unhandled error")
        return _error(HTTPStatus.INTERNAL_SERVER_ERROR, ErrorCode.INTERNAL_ERROR, "internal error")

    app.exception_handler(CreditsError)(_domain_error)
    app.exception_handler(RequestValidationError)(_invalid)
    app.exception_handler(RequestUnsupportedContentType)(_unsupported)
    app.exception_handler(NotFoundError)(_no_route)
    app.exception_handler(PynamoDBException)(_dynamodb)
    app.exception_handler(Exception)(_unexpected)


def build_resolver(service: CreditsService) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)
    app.configure_openapi(
        title=API_TITLE,
        version=API_VERSION,
        description=(
            "Accounts, API keys, credits and the ledger of edgemeter. Every route is IAM-authorized "
            "(SigV4) in AWS. `/v1/authorize` and `/v1/refunds` are for the edge function only."
        ),
        security_schemes={
            "sigv4": APIKey(
                name="Authorization",
                in_=APIKeyIn.header,
                description="AWS Signature Version 4 (IAM authorization of API Gateway).",
            )
        },
        security=[{"sigv4": []}],
    )
    _register_error_handlers(app)

    # accounts ----------------------------------------------------------------------------

    @app.post(
        "/v1/accounts",
        summary="Create an account",
        tags=["accounts"],
        responses={201: _documented("Created.", Account)} | _ERROR_RESPONSES,
    )
    def create_account(request: CreateAccountRequest) -> Response[Account]:
        account = service.create_account(request)
        logger.info("account created", extra={"account_id": account.account_id})
        return _created(account)

    @app.get(
        "/v1/accounts/<account_id>", summary="Read an account", tags=["accounts"], responses=_ERROR_RESPONSES
    )
    def get_account(account_id: AccountIdParam) -> Account:
        return service.get_account(account_id)

    # keys --------------------------------------------------------------------------------

    @app.post(
        "/v1/accounts/<account_id>/keys",
        summary="Issue an API key (shown once)",
        tags=["keys"],
        responses={201: _documented("Issued.", IssuedKey)} | _ERROR_RESPONSES,
    )
    def issue_key(account_id: AccountIdParam, request: IssueKeyRequest) -> Response[IssuedKey]:
        issued = service.issue_key(account_id, request)
        logger.info("key issued", extra={"account_id": account_id, "key_id": issued.key_id})
        return _created(issued)

    @app.get("/v1/accounts/<account_id>/keys", summary="List keys", tags=["keys"], responses=_ERROR_RESPONSES)
    def list_keys(account_id: AccountIdParam, limit: LimitParam = 50, cursor: CursorParam = None) -> KeyList:
        return service.list_keys(account_id, limit=limit, cursor=cursor)

    @app.delete(
        "/v1/accounts/<account_id>/keys/<key_id>",
        summary="Revoke a key (immediately, idempotently)",
        tags=["keys"],
        responses=_ERROR_RESPONSES,
    )
    def revoke_key(account_id: AccountIdParam, key_id: KeyIdParam) -> Key:
        key = service.revoke_key(account_id, key_id)
        logger.info("key revoked", extra={"account_id": account_id, "key_id": key_id})
        return key

    # credits -----------------------------------------------------------------------------

    @app.post(
        "/v1/accounts/<account_id>/grants",
        summary="Grant credits (idempotent by idempotency_key)",
        tags=["credits"],
        responses={201: _documented("Granted.", Grant), 200: _documented("Granted before (replayed).", Grant)}
        | _ERROR_RESPONSES,
    )
    def grant(account_id: AccountIdParam, request: GrantRequest) -> Response[Grant]:
        granted = service.grant(account_id, request)
        logger.info(
            "grant",
            extra={"account_id": account_id, "amount": granted.amount, "replayed": granted.replayed},
        )
        if granted.replayed:
            return _json(HTTPStatus.OK, granted.model_dump(mode="json"))
        return _created(granted)

    @app.get(
        "/v1/accounts/<account_id>/ledger",
        summary="Ledger entries, newest first, paged",
        tags=["credits"],
        responses=_ERROR_RESPONSES,
    )
    def ledger(
        account_id: AccountIdParam,
        from_: FromParam = None,
        to: ToParam = None,
        limit: LimitParam = 50,
        cursor: CursorParam = None,
    ) -> LedgerPage:
        return service.ledger(account_id, start=from_, end=to, limit=limit, cursor=cursor)

    @app.get(
        "/v1/accounts/<account_id>/usage",
        summary="Usage in a period (default: this calendar month so far, UTC)",
        tags=["credits"],
        responses=_ERROR_RESPONSES,
    )
    def usage(account_id: AccountIdParam, from_: FromParam = None, to: ToParam = None) -> Usage:
        return service.usage(account_id, start=from_, end=to)

    # the edge ----------------------------------------------------------------------------

    @app.post(
        "/v1/authorize",
        summary="Authorize and charge one CDN request (edge only)",
        tags=["edge"],
        responses=_ERROR_RESPONSES,
    )
    def authorize(request: AuthorizeRequest) -> Decision:
        decision = service.authorize(request)
        tracer.put_annotation("decision", decision.decision)
        # Allows at DEBUG: every one is in the ledger already (request id, key, path, bytes) and
        # counted in the metrics; a line per download would cost CloudWatch Logs and handler time
        # on the hot path (docs/decisions.md). Denials are the ones an operator looks for.
        log = logger.debug if decision.decision == "allow" else logger.info
        log(
            "authorization",
            extra={
                "request_id": request.request_id,
                "method": request.method,
                "decision": decision.decision,
                "reason": decision.reason,
                "account_id": decision.account_id,
                "charged": decision.charged,
                "replayed": decision.replayed,
            },
        )
        return decision

    @app.post(
        "/v1/refunds",
        summary="Refund one earlier charge, once (edge only)",
        tags=["edge"],
        responses=_ERROR_RESPONSES,
    )
    def refund(request: RefundRequest) -> Refund:
        refunded = service.refund(request)
        logger.info(
            "refund",
            extra={
                "request_id": request.request_id,
                "account_id": refunded.account_id,
                "refunded": refunded.refunded,
                "replayed": refunded.replayed,
            },
        )
        return refunded

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def serve_openapi() -> Response[Any]:
        return Response(
            status_code=HTTPStatus.OK,
            content_type=content_types.APPLICATION_JSON,
            body=app.get_openapi_json_schema(title=API_TITLE, version=API_VERSION),
        )

    return app


def openapi_document(app: APIGatewayRestResolver) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(app.get_openapi_json_schema(title=API_TITLE, version=API_VERSION))
    return document


def _body_size(event: Mapping[str, Any]) -> int:
    body = event.get("body") or ""
    if not isinstance(body, str):
        return 0
    if event.get("isBase64Encoded"):
        try:
            return len(base64.b64decode(body, validate=True))
        except ValueError:
            return len(body)
    return len(body.encode("utf-8", errors="surrogatepass"))


class CreditsApi:
    """One Lambda container's API: the resolver plus checks that must run before it."""

    def __init__(self, service: CreditsService, settings: Settings) -> None:
        self.resolver = build_resolver(service)
        self._max_body_bytes = settings.max_body_bytes

    def handle(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        if _body_size(event) > self._max_body_bytes:
            return {
                "statusCode": HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "headers": {"Content-Type": content_types.APPLICATION_JSON},
                "multiValueHeaders": {},
                "body": json.dumps(
                    error_document(
                        ErrorCode.PAYLOAD_TOO_LARGE,
                        f"the body is larger than {self._max_body_bytes} bytes",
                    )
                ),
                "isBase64Encoded": False,
            }
        return self.resolver.resolve(event, context)

    def openapi(self) -> dict[str, Any]:
        return openapi_document(self.resolver)


__all__ = ["CreditsApi", "build_resolver", "openapi_document"]
