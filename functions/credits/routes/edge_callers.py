"""The edge-only rule inside the credits function (issue 14 §6).

``POST /v1/authorize`` and ``/v1/refunds`` are for the edge functions' roles only. IAM enforces
it at API Gateway through the roles' identity policies; HTTP APIs have no resource policy to
say it a second time, so the routes say it here: when the deployment names the edge roles
(``EDGEMETER_EDGE_ROLES``) and API Gateway's IAM authorization put the caller's ARN in the
request context, a caller that is none of those roles is refused with a 403 before anything is
read or charged. This also covers the REST API's copy of the routes (its proxy reaches them),
which an account administrator's wide ``execute-api:*`` could otherwise call. Locally, and when
no principal is in the event, IAM has nothing to say and neither does this check.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from functions.credits.routes.common import error_response
from functions.credits.telemetry import logger
from functions.shared.environment_variables import EDGEMETER_EDGE_ROLES
from functions.shared.errors import ErrorCode

# A role's session ARN, as IAM authorization reports an assumed role (Lambda's execution role):
#   arn:aws:sts::123456789012:assumed-role/<role name>/<session name>
_ASSUMED_ROLE_MARKER = ":assumed-role/"


def edge_role_names(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The role names the deployment gave the edge functions (empty: no check)."""
    raw = (os.environ if environ is None else environ).get(EDGEMETER_EDGE_ROLES, "")
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


def caller_role_name(user_arn: str) -> str | None:
    """The role name of an assumed-role session ARN; None for users and anything else."""
    _, marker, rest = user_arn.partition(_ASSUMED_ROLE_MARKER)
    if not marker:
        return None
    role_name = rest.split("/", 1)[0]
    return role_name or None


def is_edge_caller(user_arn: str | None, allowed_roles: frozenset[str]) -> bool:
    """True unless both the edge roles and the caller are known and the caller is not one of them."""
    if not allowed_roles or not user_arn:
        return True
    return caller_role_name(user_arn) in allowed_roles


def caller_arn(event: Mapping[str, Any]) -> str | None:
    """The IAM caller's ARN in a proxy event: ``identity.userArn`` (REST, and HTTP API payload 1.0),
    else ``authorizer.iam.userArn`` (where HTTP APIs report IAM callers in payload 2.0)."""
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        return None
    for holder in (context.get("identity"), (context.get("authorizer") or {}).get("iam")):
        if isinstance(holder, Mapping) and isinstance(holder.get("userArn"), str) and holder["userArn"]:
            return str(holder["userArn"])
    return None


def refuse_non_edge_callers(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Route middleware of the edge routes: 403 ``forbidden`` for an IAM caller that is no edge role."""
    user_arn = caller_arn(app.current_event.raw_event)
    if is_edge_caller(user_arn, edge_role_names()):
        return next_middleware(app)
    # A principal's ARN names who called, not a secret; it is what an operator needs to find them.
    logger.warning(
        "an edge route was called by a principal that is not an edge role", extra={"caller": user_arn}
    )
    return error_response(
        HTTPStatus.FORBIDDEN, ErrorCode.FORBIDDEN, "this route is for the edge functions only"
    )
