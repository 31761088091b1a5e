"""AWS regions as edgemeter sees them: where Lambda@Edge runs, and how far each region is from another.

One table for the benchmarks, the tests and the local runtime (and for choosing the nearest credits
region later): ``round_trip(from_region, to_region)`` gives the published median round trip between
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
  ``P99_EXTRA_MS`` (long-haul backbone paths are steady; the tail is queueing and retransmits).
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

from local.dynamodb_capacity.client_hook import hook_new_dynamodb_clients

# Regions hosting CloudFront regional edge caches: where Lambda@Edge viewer triggers run.
EDGE_REGIONS: tuple[str, ...] = (
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "sa-east-1",
)

# p50 round trip in ms, from (row) -> to (column), columns in EDGE_REGIONS order (cloudping.co).
_P50_MS: Mapping[str, tuple[float, ...]] = {
    "us-east-1": (5.5, 15.1, 64.4, 192.5, 149.7, 179.8, 219.6, 199.8, 93.2, 69.6, 78.0, 115.3),
    "us-east-2": (16.5, 5.4, 51.2, 204.7, 136.5, 167.4, 204.5, 188.6, 104.2, 80.7, 88.9, 126.0),
    "us-west-2": (64.0, 50.5, 3.2, 222.2, 98.2, 123.6, 160.2, 141.0, 142.8, 118.3, 128.9, 174.6),
    "ap-south-1": (189.7, 199.8, 222.2, 3.2, 133.3, 134.5, 63.8, 154.7, 129.0, 125.4, 117.1, 301.0),
    "ap-northeast-1": (149.5, 135.6, 98.6, 134.3, 2.8, 36.3, 70.6, 106.9, 227.6, 202.5, 213.0, 258.3),
    "ap-northeast-2": (179.5, 165.3, 123.8, 135.2, 36.4, 4.0, 73.9, 145.2, 231.6, 233.2, 243.9, 289.4),
    "ap-southeast-1": (219.0, 203.6, 160.9, 64.5, 70.9, 74.2, 3.7, 94.8, 161.2, 179.1, 169.9, 327.8),
    "ap-southeast-2": (199.7, 188.0, 141.1, 154.9, 105.8, 146.1, 94.8, 4.1, 251.6, 255.6, 266.3, 312.1),
    "eu-central-1": (92.7, 103.3, 142.4, 129.3, 227.0, 230.8, 160.4, 251.3, 4.0, 27.0, 17.6, 204.0),
    "eu-west-1": (69.7, 80.2, 118.6, 125.9, 202.3, 232.6, 178.5, 255.7, 27.5, 3.2, 14.1, 178.2),
    "eu-west-2": (77.5, 88.1, 128.9, 117.6, 212.9, 243.1, 169.5, 266.1, 17.8, 13.5, 3.3, 186.8),
    "sa-east-1": (115.4, 125.4, 175.2, 301.8, 258.9, 289.7, 327.7, 312.4, 205.0, 178.6, 187.3, 3.3),
}
P99_FACTOR = 1.25
P99_EXTRA_MS = 5.0

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
    p50 = _P50_MS[from_region][EDGE_REGIONS.index(to_region)]
    return RoundTrip(p50_ms=p50, p99_ms=p50 * P99_FACTOR + P99_EXTRA_MS)


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
