"""What the credits handler calls when ``EDGEMETER_CREDITS_REGIONS`` is set (issue 15 wiring).

- ``regional_service``: home's plain service, or a credits region's ``RegionalEdgeService`` over
  a store that opens the account's balance item in the region on first use; plus the runtime
  (every region opened, per instance) built once per container on first use.
- ``regional_routers``: home's billing read across regions (``GET /v1/accounts/{id}/regions``).
- ``run_regional_upkeep``: home's scheduled round (settle, leases, refills, idle returns).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.credits.regions.dynamodb_runtime import RegionalDynamoDBCreditsStore, dynamodb_runtime
from functions.credits.regions.home_service import HomeRegionalService
from functions.credits.regions.routes import regions_router
from functions.credits.regions.runtime import RegionalEdgeService, RegionalRuntime
from functions.credits.regions.topology import RegionsTopology
from functions.credits.service import CreditsService, ObjectsCatalog, Telemetry
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore


@dataclass(frozen=True)
class RegionalWiring:
    service: CreditsService
    runtime: Callable[[], RegionalRuntime]
    routers: tuple[APIGatewayRouter, ...]


def _own_dynamodb_client(settings: Settings) -> Any:
    import boto3  # noqa: PLC0415 - only regional deployments pay its import here

    return boto3.client("dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint)


def regional_service(
    settings: Settings,
    topology: RegionsTopology,
    *,
    telemetry: Telemetry | None = None,
    catalog: ObjectsCatalog | None = None,
) -> RegionalWiring:
    """This credits Lambda's service, runtime and extra routes, by whether it runs in home."""
    runtime = functools.cache(lambda: dynamodb_runtime(topology, settings))
    if settings.region == topology.home:
        home_store = DynamoDBCreditsStore(settings)
        service = HomeRegionalService(
            home_store, settings, runtime=runtime, telemetry=telemetry, catalog=catalog
        )
        return RegionalWiring(service=service, runtime=runtime, routers=(regions_router(service, runtime),))
    store = RegionalDynamoDBCreditsStore(settings, _own_dynamodb_client(settings))
    regional = RegionalEdgeService(store, settings, runtime=runtime, telemetry=telemetry, catalog=catalog)
    return RegionalWiring(service=regional, runtime=runtime, routers=())


def run_regional_upkeep(settings: Settings, topology: RegionsTopology | None) -> dict[str, Any]:
    """Home's scheduled round; anywhere else (or without regions) it does nothing and says so."""
    if topology is None or settings.region != topology.home:
        return {"upkeep": "skipped"}
    report = dynamodb_runtime(topology, settings).upkeep()
    return {
        "settled": len(report.settled),
        "renewed": report.renewed,
        "moves": [
            {"source": r.source_region, "target": r.target_region, "amount": r.amount, "state": str(r.state)}
            for r in report.moves
        ],
        "unreachable": sorted(set(report.unreachable)),
    }
