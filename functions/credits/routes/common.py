"""What every router of the credits API shares: path and query parameters, documented error
replies, and JSON ``Response`` builders."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import AwareDatetime

from functions.credits.ids import ACCOUNT_ID_PATTERN, KEY_ID_PATTERN
from functions.credits.schemas import ErrorResponse
from functions.shared.errors import ErrorCode, error_document

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


def documented(description: str, model: type[Any]) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": model}}}


ERROR_RESPONSES: dict[int, OpenAPIResponse] = {
    status: documented(description, ErrorResponse)
    for status, description in (
        (400, "Malformed request."),
        (404, "No such resource."),
        (409, "Conflicts with an earlier request."),
        (413, "Body too large."),
        (422, "Validation failed."),
        (503, "Busy; retry after Retry-After seconds."),
    )
}


def json_response(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=dict(body),
        headers=dict(headers or {}),
    )


def error_response(
    status: int, code: ErrorCode | str, message: str, headers: Mapping[str, str] | None = None, **details: Any
) -> Response[Any]:
    return json_response(status, error_document(code, message, **details), headers)


def created(model: Any) -> Response[Any]:
    return json_response(HTTPStatus.CREATED, model.model_dump(mode="json", by_alias=True))


def new_router() -> APIGatewayRouter:
    """A router for one area of the API (joined to the resolver with ``include_router``)."""
    return APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated
