"""Issue 15's bench: the viewer-request wall time per edge region, today (every charge in home) versus
regional credits (the nearest configured region first), and the Lambda@Edge cost that wait bills.

Run: ``python -m bench.regional_wait [--requests N]`` (starts its own DynamoDB Local).

Each edge region's requests go through the real edge handler and the real ``RegionalCreditsClient``
routing (the baked order of ``functions/shared/region_latency.py``); each credits call waits one
round trip drawn from local/regions.py's model between the edge region and the region it is sent to,
then is answered by the credits service in this process (the same service for every region: the
service time is the same, the round trip is what differs). Today and regional requests alternate,
so both see the machine in the same moment.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

from bench.cost import (
    LAMBDA_EDGE_PER_GB_SECOND,
    LAMBDA_EDGE_PER_MILLION_REQUESTS,
    OperatingCounts,
    RequestCounts,
    corrected_cost_per_million_requests,
)
from bench.edge_bench import viewer_request_event
from bench.inprocess import HandlerTransport
from bench.report import Row, verdict
from bench.scale_harness import scale_credits
from bench.stats import percentile
from functions.edge_auth import runtime, viewer_request
from functions.edge_auth.credits_client import CreditsTransport, TransportResponse
from functions.edge_auth.settings import CreditsApiSettings, EdgeSettings, RegionalCreditsSettings
from functions.shared.region_latency import EDGE_REGIONS, credits_region_order, region_order_table
from functions.shared.sigv4 import static_credentials
from local.cdn.events import new_request_id
from local.dynamodb_local import DynamoDBLocal
from local.regions import RegionLatency

HOME = "eu-west-1"
CREDITS_REGIONS = ("us-east-1", "ap-northeast-1")
VIEWER_REQUEST_MEMORY_GB = 128 / 1024


@dataclass
class EdgePlace:
    """Where the simulated viewer-request runs (what AWS_REGION would say)."""

    region: str = HOME
    # Off: no round trip at all, what the credits service and the edge code cost on this machine.
    network: bool = True


@dataclass
class LatencyTransport:
    """One credits region's API as seen from the edge: a drawn round trip, then the service."""

    inner: HandlerTransport
    latency: RegionLatency
    place: EdgePlace
    credits_region: str

    def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, deadline: float
    ) -> TransportResponse:
        if self.place.network:
            self.latency.wait(self.place.region, self.credits_region)
        return self.inner.send(method, path, headers, body, deadline)


@dataclass(frozen=True, slots=True)
class RegionalWait:
    edge_region: str
    regional_credits_region: str
    today_p50_ms: float
    today_p99_ms: float
    regional_p50_ms: float
    regional_p99_ms: float
    service_p50_ms: float  # no round trip: the service time the regional p50 is compared with

    @staticmethod
    def cost_per_million(wall_ms: float) -> float:
        """Lambda@Edge's bill for a million viewer-request invocations of this wall time (128 MB)."""
        gb_seconds = wall_ms / 1000 * VIEWER_REQUEST_MEMORY_GB
        return LAMBDA_EDGE_PER_MILLION_REQUESTS + 1_000_000 * gb_seconds * LAMBDA_EDGE_PER_GB_SECOND


def _settings(regional: bool) -> EdgeSettings:
    home_api = CreditsApiSettings(url="https://home.execute-api.eu-west-1.amazonaws.com/live", region=HOME)
    if not regional:
        return EdgeSettings(credits_api=home_api)
    order = region_order_table(HOME, CREDITS_REGIONS)
    return EdgeSettings(
        credits_api=home_api,
        regional_credits=RegionalCreditsSettings(
            apis=tuple(
                CreditsApiSettings(url=f"https://r.execute-api.{region}.amazonaws.com/live", region=region)
                for region in CREDITS_REGIONS
            ),
            order=tuple((edge, tuple(regions)) for edge, regions in order.items()),
        ),
    )


def _configure(regional: bool, transports: Mapping[str, CreditsTransport], place: EdgePlace) -> None:
    runtime.configure(
        _settings(regional),
        transport=transports[HOME],
        regional_transports={region: transports[region] for region in CREDITS_REGIONS},
        credentials_loader=lambda: static_credentials("AKIDBENCH", "bench-secret", "bench-token"),
        edge_region=lambda: place.region,
    )


def _wall_ms(api_key: str) -> float:
    began = time.perf_counter()
    result = viewer_request.handler(viewer_request_event(api_key, new_request_id()))
    wall = (time.perf_counter() - began) * 1000
    if "status" in result:
        raise RuntimeError(f"a bench request was refused: {result['status']}")
    return wall


def measure(dynamodb_endpoint: str, *, requests: int) -> list[RegionalWait]:
    place = EdgePlace()
    waits = []
    with scale_credits(dynamodb_endpoint) as credits:
        ((_, api_key),) = credits.funded_keys(1, 3 * requests * len(EDGE_REGIONS) + 20, "regional-wait")
        inner = HandlerTransport(credits.admin)
        latency = RegionLatency()
        transports: dict[str, CreditsTransport] = {
            region: LatencyTransport(inner, latency, place, region) for region in (HOME, *CREDITS_REGIONS)
        }
        try:
            for edge_region in EDGE_REGIONS:
                place.region = edge_region
                today: list[float] = []
                regional: list[float] = []
                service: list[float] = []
                for _ in range(requests):
                    _configure(False, transports, place)
                    today.append(_wall_ms(api_key))
                    _configure(True, transports, place)
                    regional.append(_wall_ms(api_key))
                    place.network = False
                    service.append(_wall_ms(api_key))
                    place.network = True
                waits.append(
                    RegionalWait(
                        edge_region=edge_region,
                        regional_credits_region=credits_region_order(edge_region, HOME, CREDITS_REGIONS)[0],
                        today_p50_ms=percentile(today, 0.5),
                        today_p99_ms=percentile(today, 0.99),
                        regional_p50_ms=percentile(regional, 0.5),
                        regional_p99_ms=percentile(regional, 0.99),
                        service_p50_ms=percentile(service, 0.5),
                    )
                )
        finally:
            runtime.reset_runtime()
    return waits


def report(waits: list[RegionalWait]) -> str:
    lines = [
        f"home {HOME}, credits regions {', '.join(CREDITS_REGIONS)}; viewer-request wall time (ms) "
        "and Lambda@Edge $ per million allowed downloads (128 MB, requests + GB-s)",
        f"{'edge region':<16}{'charged in':<16}{'today p50/p99':>16}{'regional p50/p99':>20}"
        f"{'service p50':>13}{'$/M today':>12}{'$/M regional':>14}",
    ]
    for wait in waits:
        lines.append(
            f"{wait.edge_region:<16}{wait.regional_credits_region:<16}"
            f"{wait.today_p50_ms:>8.1f}/{wait.today_p99_ms:<7.1f}"
            f"{wait.regional_p50_ms:>12.1f}/{wait.regional_p99_ms:<7.1f}"
            f"{wait.service_p50_ms:>13.1f}"
            f"{RegionalWait.cost_per_million(wait.today_p50_ms):>12.2f}"
            f"{RegionalWait.cost_per_million(wait.regional_p50_ms):>14.2f}"
        )
    return "\n".join(lines)


def corrected_cost(
    wait: RegionalWait, per_download: RequestCounts, operating: OperatingCounts, *, regional: bool
) -> float:
    """$ per million allowed downloads under the corrected model (issue 13), with this edge region's
    added wait (p50 minus the no-network p50) instead of the weighted one."""
    p50 = wait.regional_p50_ms if regional else wait.today_p50_ms
    waited = replace(operating, edge_wait_ms=max(0.0, p50 - wait.service_p50_ms))
    label = "regional" if regional else "today"
    return corrected_cost_per_million_requests(label, per_download, waited).total


def regional_rows(
    waits: list[RegionalWait], per_download: RequestCounts, operating: OperatingCounts
) -> list[Row]:
    """``make bench``'s regional section: per edge region, today vs regional wall time and cost."""
    rows = []
    for wait in waits:
        added = wait.regional_p50_ms - wait.service_p50_ms
        # Issue 15: a viewer whose nearest region is configured (its own) waits <= 10 ms + service.
        configured = wait.edge_region in (HOME, *CREDITS_REGIONS)
        rows.append(
            Row(
                "regions",
                f"viewer-request from {wait.edge_region} (charged in {wait.regional_credits_region}): "
                "p50/p99 ms, $/M allowed downloads (corrected)",
                f"{wait.regional_p50_ms:.1f}/{wait.regional_p99_ms:.1f} ms, "
                f"${corrected_cost(wait, per_download, operating, regional=True):.2f}",
                baseline=f"today {wait.today_p50_ms:.1f}/{wait.today_p99_ms:.1f} ms, "
                f"${corrected_cost(wait, per_download, operating, regional=False):.2f}",
                ratio=f"{wait.today_p50_ms / wait.regional_p50_ms:.1f}x" if wait.regional_p50_ms else "",
                target="p50 <= service + 10 ms" if configured else "",
                verdict=verdict(added <= 10.0) if configured else "",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=30, help="requests per edge region and layout")
    arguments = parser.parse_args()
    with DynamoDBLocal() as dynamodb_local:
        print(report(measure(dynamodb_local.endpoint_url, requests=arguments.requests)))


if __name__ == "__main__":
    main()
