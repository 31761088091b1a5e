"""Regional credits in the local runtime (issue 15): a credits server per region, latency between them.

With ``credits_regions`` in the local config (``make run ARGS="--credits-regions us-east-1,ap-northeast-1"``),
the supervisor starts one more credits server per region, each on its own port (from
``regional_credits_port`` up), with its own credits table (``edgemeter-credits-<region>``) in DynamoDB
Local. The users table is shared: one DynamoDB Local database stands for the users global table
and its replicas (replication is instant here). The home region is the config's ``region``.

The edge containers get the regional settings (each region's API, the order per edge region from
functions/shared/region_latency.py) and, per credits call, wait one round trip drawn by
local/regions.py from the request's edge region to the region called. Which edge region a request
comes from is the **local-only** header ``x-edgemeter-local-edge-region`` (default: home); the
local edge container reads and removes it before the viewer-request handler runs, so neither the
handler, the cache key nor the origin request ever sees it. The deployed edge has no such header:
``AWS_REGION`` says where it runs.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from functions.credits.settings import Settings
from functions.edge_auth.credits_client import CreditsTransport, HttpCreditsTransport, TransportResponse
from functions.shared.environment_variables import EDGEMETER_CREDITS_REGIONS, EDGEMETER_CREDITS_TABLE
from functions.shared.region_latency import EDGE_REGIONS, region_order_table
from local.config import LocalConfig
from local.regions import RegionLatency

LOCAL_EDGE_REGION_HEADER = "x-edgemeter-local-edge-region"

logger = logging.getLogger("edgemeter.local.regions")

# The edge region of the viewer-request being handled in this container (None: home).
CURRENT_EDGE_REGION: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "edgemeter_local_edge_region", default=None
)

Handler = Callable[[Any, Any], Any]


def regional_credits_table(region: str) -> str:
    return f"edgemeter-credits-{region}"


def regional_configs(config: LocalConfig) -> dict[str, LocalConfig]:
    """Each credits region's server config: its port, its region (what it signs and verifies for)
    and its own credits table; everything else as home's."""
    return {
        region: config.model_copy(
            update={
                "credits_port": config.regional_credits_port + index,
                "region": region,
                "credits_environment": {
                    **config.credits_environment,
                    EDGEMETER_CREDITS_TABLE: regional_credits_table(region),
                },
            }
        )
        for index, region in enumerate(config.credits_regions)
    }


def regional_topology(config: LocalConfig) -> dict[str, Any]:
    """``EDGEMETER_CREDITS_REGIONS`` for every local credits server (functions/credits/regions/
    topology.py): home's table by name (one DynamoDB Local holds every region's tables)."""
    return {
        "home": config.region,
        "credits_tables": {region: regional_credits_table(region) for region in config.credits_regions},
        "home_credits_table": config.credits_environment.get(
            EDGEMETER_CREDITS_TABLE, Settings().credits_table
        ),
    }


def with_regional_topology(config: LocalConfig) -> LocalConfig:
    """The config whose credits servers (home's and, through ``regional_configs``, each region's)
    know the regions; unchanged without credits regions."""
    if not config.credits_regions:
        return config
    environment = {
        **config.credits_environment,
        EDGEMETER_CREDITS_REGIONS: json.dumps(regional_topology(config)),
    }
    return config.model_copy(update={"credits_environment": environment})


def regional_edge_settings(config: LocalConfig) -> dict[str, Any]:
    """The edge settings' ``regional_credits`` section for this runtime (empty without regions)."""
    if not config.credits_regions:
        return {}
    return {
        "apis": [
            {"url": regional.credits_url, "region": region, "service": "execute-api"}
            for region, regional in regional_configs(config).items()
        ],
        "order": region_order_table(config.region, config.credits_regions),
    }


def validate_regions(config: LocalConfig) -> None:
    """Fail at start: every region must be in the round-trip table, none twice, home not among them."""
    unknown = [r for r in (config.region, *config.credits_regions) if r not in EDGE_REGIONS]
    if unknown:
        raise ValueError(
            f"credits regions {unknown} are not in the round-trip table ({', '.join(EDGE_REGIONS)})"
        )
    if config.region in config.credits_regions or len(set(config.credits_regions)) != len(
        config.credits_regions
    ):
        raise ValueError("credits regions must be distinct and must not include home (the config's region)")


class LatencyTransport:
    """A credits region's API as the local edge sees it: one drawn round trip from the request's edge
    region, then the real HTTP exchange."""

    def __init__(
        self, inner: CreditsTransport, credits_region: str, home: str, latency: RegionLatency
    ) -> None:
        self._inner = inner
        self._credits_region = credits_region
        self._home = home
        self._latency = latency

    def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, deadline: float
    ) -> TransportResponse:
        edge_region = CURRENT_EDGE_REGION.get() or self._home
        injected_ms = self._latency.wait(edge_region, self._credits_region)
        # The figure a deployed edge would wait, in the CDN's log (what the regional e2e test reads).
        logger.info(
            "credits call %s %s from edge region %s to credits region %s: %.1f ms round trip injected",
            method,
            path,
            edge_region,
            self._credits_region,
            injected_ms,
        )
        return self._inner.send(method, path, headers, body, deadline)


def regional_transports(
    config: LocalConfig, latency: RegionLatency
) -> tuple[CreditsTransport, dict[str, CreditsTransport]]:
    """Home's transport and each credits region's, all with injected round trips."""
    home = LatencyTransport(HttpCreditsTransport(config.credits_url), config.region, config.region, latency)
    regions: dict[str, CreditsTransport] = {
        region: LatencyTransport(HttpCreditsTransport(regional.credits_url), region, config.region, latency)
        for region, regional in regional_configs(config).items()
    }
    return home, regions


def from_local_edge_region(handler: Handler) -> Handler:
    """Wrap the viewer-request handler: read and remove the local-only edge-region header first."""

    def handle(event: Any, context: Any) -> Any:
        region: str | None = None
        try:
            request = event["Records"][0]["cf"]["request"]
            values = request["headers"].pop(LOCAL_EDGE_REGION_HEADER, None)
        except (KeyError, IndexError, TypeError, AttributeError):
            values = None
        if isinstance(values, list) and values and isinstance(values[0], dict):
            candidate = values[0].get("value")
            region = candidate if candidate in EDGE_REGIONS else None
        token = CURRENT_EDGE_REGION.set(region)
        try:
            return handler(event, context)
        finally:
            CURRENT_EDGE_REGION.reset(token)

    return handle


def regional_banner_lines(config: LocalConfig) -> list[str]:
    """What `make run` prints about the credits regions (nothing without them)."""
    if not config.credits_regions:
        return []
    ports = ", ".join(
        f"{region} {regional.credits_url}" for region, regional in regional_configs(config).items()
    )
    topology = config.credits_environment.get(EDGEMETER_CREDITS_REGIONS, "")
    return [
        "",
        f"Credits regions (home {config.region}): {ports}; home's upkeep every few seconds.",
        f'  curl -i -H "x-api-key: $EDGEMETER_KEY" -H "{LOCAL_EDGE_REGION_HEADER}: '
        f'{config.credits_regions[-1]}" {config.cdn_url}/hello.txt   # a request "from" that edge region',
        f"  EDGEMETER_CREDITS_REGIONS='{topology}' .venv/bin/edgemeter audit   # every region",
    ]
