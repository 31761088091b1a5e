"""The credits Lambda's entry point (API Gateway REST proxy integration).

The first invocation validates the configuration once (a bad one fails with a clear message)
and wires handler -> logic -> credits store. Each invocation is logged with the
API Gateway request id as correlation id; the event itself is never logged (it carries
key digests), and the tracer never records responses (a new key's reply carries the key).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.catalog.authorize_guard import CatalogGuard
from functions.credits.app import CreditsApi
from functions.credits.regions.void_notices import (
    apply_void_notices,
    is_apply_void_notices_event,
    void_notice_book_from_environment,
)
from functions.credits.service import CreditsService
from functions.credits.settings import Settings, settings_from_env
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.telemetry import PowertoolsTelemetry, logger, metrics, tracer


def build_api(settings: Settings) -> CreditsApi:
    service = CreditsService(
        DynamoDBCreditsStore(settings),
        settings,
        telemetry=PowertoolsTelemetry(),
        # None unless EDGEMETER_CATALOG is set (functions/catalog/settings.py).
        catalog=CatalogGuard.from_environment(),
    )
    # Regional credits (issue 15): a retry from another region posts a void notice here.
    void_notices = void_notice_book_from_environment(settings.region, settings.dynamodb_endpoint)
    return CreditsApi(service, settings, void_notices=void_notices)


@functools.cache
def container_api() -> CreditsApi:
    """The API of this execution environment, built on its first invocation and kept.

    Built on first use rather than at import, so importing the module (tests, tooling,
    the OpenAPI export) never reads the environment; a bad configuration fails every
    invocation with the same clear message until it is fixed.
    """
    return build_api(settings_from_env())


def apply_void_notices_now(settings: Settings) -> dict[str, Any]:
    """The scheduled applier of a credits region (issue 15): refund what its void notices name."""
    book = void_notice_book_from_environment(settings.region, settings.dynamodb_endpoint)
    if book is None:
        return {"applied": 0}
    # Once a minute: a store bound for this run (the same tables the API's store is bound to).
    store = DynamoDBCreditsStore(settings)
    applied = apply_void_notices(book, settings.region, store, datetime.now(UTC))
    for notice in applied:
        logger.info("void_notice_applied", extra={"request_id": notice.request_id})
    return {"applied": len(applied)}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_apply_void_notices_event(event):
        return apply_void_notices_now(settings_from_env())
    # The API Gateway request id as correlation id, read directly: Powertools' correlation_id_path
    # evaluates a JMESPath expression on every invocation for the same one lookup.
    request_context = event.get("requestContext")
    logger.set_correlation_id(request_context.get("requestId") if isinstance(request_context, dict) else None)
    return container_api().handle(event, context)
