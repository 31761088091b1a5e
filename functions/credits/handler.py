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
from functions.credits.regions.topology import topology_from_environment
from functions.credits.regions.upkeep_event import is_regional_upkeep_event
from functions.credits.regions.void_notices import (
    apply_void_notices,
    is_apply_void_notices_event,
    void_notice_book_from_environment,
)
from functions.credits.regions.wiring import regional_service, run_regional_upkeep
from functions.credits.service import CreditsService
from functions.credits.settings import Settings, settings_from_env
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.hot_accounts import WatchedCreditsStore
from functions.credits.store.shard_rate_schedule import follow_shard_rates, is_follow_shard_rates_event
from functions.credits.telemetry import PowertoolsTelemetry, logger, metrics, tracer


def build_api(settings: Settings) -> CreditsApi:
    # None unless EDGEMETER_CATALOG is set (functions/catalog/settings.py).
    catalog = CatalogGuard.from_environment()
    # Regional credits (issue 15): with EDGEMETER_CREDITS_REGIONS, a credits region authorizes
    # through the regional authorizer and home adds the read across regions.
    topology = topology_from_environment()
    if topology is not None:
        wiring = regional_service(settings, topology, telemetry=PowertoolsTelemetry(), catalog=catalog)
        service, routers = wiring.service, wiring.routers
    else:
        # The DynamoDB store that also marks busy accounts for the shard-rate scheduler (issue 14).
        store = WatchedCreditsStore(settings)
        service = CreditsService(store, settings, telemetry=PowertoolsTelemetry(), catalog=catalog)
        routers = ()
    # Regional credits (issue 15): a retry from another region posts a void notice here.
    void_notices = void_notice_book_from_environment(settings.region, settings.dynamodb_endpoint)
    api = CreditsApi(service, settings, void_notices=void_notices)
    for router in routers:
        api.resolver.include_router(router)
    return api


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
    if is_follow_shard_rates_event(event):
        # issue 14: the scheduled shard-rate follower over the watched (busy) accounts.
        return follow_shard_rates(settings_from_env(), datetime.now(UTC)).summary()
    if is_regional_upkeep_event(event):
        # Home's regional round (issue 15): settle transfers, renew leases, refill, return idle.
        return run_regional_upkeep(settings_from_env(), topology_from_environment())
    # The API Gateway request id as correlation id, read directly: Powertools' correlation_id_path
    # evaluates a JMESPath expression on every invocation for the same one lookup.
    request_context = event.get("requestContext")
    logger.set_correlation_id(request_context.get("requestId") if isinstance(request_context, dict) else None)
    return container_api().handle(event, context)
