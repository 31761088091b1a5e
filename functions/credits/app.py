"""The HTTP surface of the credits service: routes, validation, and the one error mapping.

The routes live in ``functions/credits/routes/``, one Powertools ``Router`` per area
(accounts, keys, credits, edge), joined here with ``include_router``; they take validated
models, call ``CreditsService`` and return its models. Every error becomes the JSON error
shape ``{"error": {"code", "message"}}`` here, in ``_register_error_handlers``: domain
errors by their status and code, validation errors as 400/422, unknown routes as 404, a
busy credits store (DynamoDB throttling) as 503 with Retry-After, anything else as a logged
500 that says nothing about the cause.

``build_api`` returns a ``CreditsApi``; ``handle`` is what a Lambda invocation calls. The
resolver keeps the current event in class-level state, so one process serves one
invocation at a time, exactly as Lambda runs it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.credits.errors import CreditsError, ServiceBusy
from functions.credits.regions.void_notices import VoidNoticeBook
from functions.credits.routes.accounts import accounts_router, keys_router
from functions.credits.routes.common import error_response
from functions.credits.routes.credits import credits_router
from functions.credits.routes.edge import edge_router
from functions.credits.sellers.routes import sellers_router
from functions.credits.service import CreditsService
from functions.credits.settings import Settings
from functions.credits.store.errors import CreditsStoreError, StoreUnavailable
from functions.credits.telemetry import logger
from functions.shared.errors import ErrorCode, error_document

API_TITLE = "edgemeter credits API"
API_VERSION = "1.0.0"
OPENAPI_PATH = "/v1/openapi.json"


def _domain_error(error: CreditsError) -> Response[Any]:
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, ServiceBusy) else None
    return error_response(error.status, error.code, error.message, headers, **error.details)


def _invalid(error: RequestValidationError) -> Response[Any]:
    problems = error.errors()
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return error_response(HTTPStatus.BAD_REQUEST, ErrorCode.BAD_REQUEST, "the body is not valid JSON")
    # loc, type and msg only: the input may hold what must not be echoed (a key digest).
    details = [
        {
            "loc": [str(part) for part in problem.get("loc", ())],
            "type": problem.get("type"),
            "msg": problem.get("msg"),
        }
        for problem in problems
    ]
    return error_response(
        HTTPStatus.UNPROCESSABLE_ENTITY, ErrorCode.VALIDATION_ERROR, "the request is invalid", details=details
    )


def _unsupported(_: RequestUnsupportedContentType) -> Response[Any]:
    return error_response(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE, ErrorCode.BAD_REQUEST, "send the body as application/json"
    )


def _no_route(_: NotFoundError) -> Response[Any]:
    return error_response(HTTPStatus.NOT_FOUND, ErrorCode.NOT_FOUND, "no such route")


def _store_failure(error: CreditsStoreError) -> Response[Any]:
    if isinstance(error, StoreUnavailable):
        logger.warning("the credits store is throttling or busy", extra={"cause": str(error)})
        return _domain_error(ServiceBusy())
    logger.exception("the credits store failed")
    return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, ErrorCode.INTERNAL_ERROR, "internal error")


def _unexpected(_: Exception) -> Response[Any]:
    logger.exception("unhandled error")
    return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, ErrorCode.INTERNAL_ERROR, "internal error")


def _register_error_handlers(app: APIGatewayRestResolver) -> None:
    """The one mapping of errors to HTTP replies."""
    app.exception_handler(CreditsError)(_domain_error)
    app.exception_handler(RequestValidationError)(_invalid)
    app.exception_handler(RequestUnsupportedContentType)(_unsupported)
    app.exception_handler(NotFoundError)(_no_route)
    app.exception_handler(CreditsStoreError)(_store_failure)
    app.exception_handler(Exception)(_unexpected)


def _configure_openapi(app: APIGatewayRestResolver) -> None:
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


def build_resolver(
    service: CreditsService, *, void_notices: VoidNoticeBook | None = None, region: str | None = None
) -> APIGatewayRestResolver:
    """The resolver: OpenAPI settings, the error mapping, and one router per area.

    ``void_notices``/``region``: a credits region's book of void notices (issue 15).
    """
    app = APIGatewayRestResolver(enable_validation=True)
    _configure_openapi(app)
    _register_error_handlers(app)
    for router in (
        accounts_router(service),
        keys_router(service),
        credits_router(service),
        edge_router(service, void_notices, region),
        sellers_router(service.sellers),  # sellers (issue 16)
    ):
        app.include_router(router)

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

    def __init__(
        self, service: CreditsService, settings: Settings, void_notices: VoidNoticeBook | None = None
    ) -> None:
        self.resolver = build_resolver(service, void_notices=void_notices, region=settings.region)
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
