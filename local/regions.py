"""AWS regions as edgemeter sees them: where Lambda@Edge runs, and how far each region is from another.

One table for the benchmarks, the tests, the local runtime and the deploy (which orders each edge
region's credits regions by it); the table itself lives in functions/shared/region_latency.py, where
stacks/ can read it: ``round_trip(from_region, to_region)`` gives the published median round trip between
two regions and an estimated 99th percentile; ``RegionLatency`` draws round trips from them and
injects them into calls (a DynamoDB client of another region, the edge's credits call).

Sources (see docs/decisions.md, "Benchmarks and reliability"):

- *Where Lambda@Edge runs:* CloudFront runs viewer triggers in the AWS region of the regional edge
  cache that serves the viewer (``AWS_REGION`` names it); regional edge caches are in the 12 regions
  of ``EDGE_REGIONS`` (CloudFront Developer Guide, "How CloudFront works with regional edge caches";
  the list of regions is from CloudFront's locations page as collected in "Which AWS regions are
  Lambda@Edge functions executed in", dev.to/aws-builders).
- *Median round trips (p50):* cloudping.co's inter-region matrix (EC2 to EC2, one year of samples),
  as snapshotted in commonwarexyz/monorepo examples/estimator/src/p50.json; rounded to 0.1 ms. The
  brief's figures agree (to eu-west-1: us-east-1 70, ap-northeast-1 201, ap-southeast-2 256,
  sa-east-1 178 ms).
- *99th percentiles are estimated:* no published p99 matrix was found; ``P99_FACTOR`` x p50 +
  ``P99_EXTRA_MS`` (both in functions/shared/region_latency.py; long-haul backbone paths are steady,
  the tail is queueing and retransmits).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# The table's one home is functions/shared/region_latency.py: the deploy orders credits regions by it.
from functions.shared.region_latency import EDGE_REGIONS, round_trip_ms
from local.dynamodb_capacity.client_hook import hook_new_dynamodb_clients

__all__ = [
    "DEFAULT_CREDITS_REGION",
    "DEFAULT_VIEWER_TRAFFIC_SPLIT",
    "EDGE_REGIONS",
    "RegionLatency",
    "RoundTrip",
    "dynamodb_region_latency",
    "nearest_region",
    "round_trip",
]

# Today's single credits region: cdk.json's ``edgemeter:region`` default.
DEFAULT_CREDITS_REGION = "eu-west-1"

# The traffic split the cost model weights Lambda@Edge's wall time by (a stated assumption, not a
# measurement: roughly CloudFront's request mix for a global audience, North America and Europe first).
DEFAULT_VIEWER_TRAFFIC_SPLIT: Mapping[str, float] = {
    "us-east-1": 0.22,
    "us-east-2": 0.06,
    "us-west-2": 0.10,
    "ap-south-1": 0.06,
    "ap-northeast-1": 0.08,
    "ap-northeast-2": 0.04,
    "ap-southeast-1": 0.06,
    "ap-southeast-2": 0.04,
    "eu-central-1": 0.12,
    "eu-west-1": 0.08,
    "eu-west-2": 0.09,
    "sa-east-1": 0.05,
}


@dataclass(frozen=True, slots=True)
class RoundTrip:
    p50_ms: float
    p99_ms: float  # estimated (see the module docstring)

    def sample_ms(self, rng: random.Random) -> float:
        """A round trip drawn from a log-normal distribution with this median and 99th percentile."""
        sigma = math.log(self.p99_ms / self.p50_ms) / 2.3263478740408408  # z of the 99th percentile
        return self.p50_ms * math.exp(rng.gauss(0.0, sigma))


def round_trip(from_region: str, to_region: str) -> RoundTrip:
    """The round trip between two regions of ``EDGE_REGIONS`` (KeyError for others)."""
    table_round_trip = round_trip_ms(from_region, to_region)
    return RoundTrip(p50_ms=table_round_trip.p50_ms, p99_ms=table_round_trip.p99_ms)


def nearest_region(from_region: str, candidates: tuple[str, ...]) -> str:
    """The candidate with the smallest median round trip from ``from_region``."""
    return min(candidates, key=lambda candidate: round_trip(from_region, candidate).p50_ms)


@dataclass
class RegionLatency:
    """Sleeps one sampled round trip per call between two regions; seeded for repeatable runs."""

    seed: int = 13
    sleep: Callable[[float], Any] = time.sleep
    _rng: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def delay_ms(self, from_region: str, to_region: str) -> float:
        """A round trip drawn for one call (an in-region call draws the in-region figure)."""
        with self._lock:
            return round_trip(from_region, to_region).sample_ms(self._rng)

    def wait(self, from_region: str, to_region: str) -> float:
        delay = self.delay_ms(from_region, to_region)
        if delay:
            self.sleep(delay / 1000)
        return delay


@contextmanager
def dynamodb_region_latency(
    caller_region: str, latency: RegionLatency | None = None
) -> Iterator[RegionLatency]:
    """Every DynamoDB client created inside the block waits one round trip from ``caller_region`` to its
    own region on every HTTP attempt. A client of the caller's own region waits nothing: that is the
    latency DynamoDB Local already has."""
    model = latency or RegionLatency()

    def attach(client: Any) -> None:
        target = client.meta.region_name or caller_region
        if target == caller_region:
            return

        def before_send(**_: Any) -> None:
            model.wait(caller_region, target)

        client.meta.events.register("before-send.dynamodb", before_send)

    with hook_new_dynamodb_clients(attach):
        yield model
