"""How far AWS regions are from each other: the one home of the round-trip table (standard library only).

Used at deploy time (stacks/ bakes each edge region's ordered list of credits regions into the edge
settings), by the local runtime and the benchmarks (local/regions.py draws and injects round trips
from it), and by tests. The edge itself never reads this table: it reads the list baked for it.

Sources (see docs/decisions.md, "Benchmarks and reliability"):

- *Where Lambda@Edge runs:* CloudFront runs viewer triggers in the AWS region of the regional edge
  cache that serves the viewer (``AWS_REGION`` names it); regional edge caches are in the 12 regions
  of ``EDGE_REGIONS`` (CloudFront Developer Guide, "How CloudFront works with regional edge caches").
- *Median round trips (p50):* cloudping.co's inter-region matrix (EC2 to EC2, one year of samples),
  rounded to 0.1 ms. The brief's figures agree (to eu-west-1: us-east-1 70, ap-northeast-1 201,
  ap-southeast-2 256, sa-east-1 178 ms).
- *99th percentiles are estimated:* no published p99 matrix was found; ``P99_FACTOR`` x p50 +
  ``P99_EXTRA_MS`` (long-haul backbone paths are steady; the tail is queueing and retransmits).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

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
P50_MS: Mapping[str, tuple[float, ...]] = {
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

# An edge tries at most this many credits regions per request: three attempts fit the 5 s
# viewer-request limit with the per-attempt budgets of docs/decisions.md ("Regional credits").
MAX_REGION_ATTEMPTS = 3


class RoundTripMs(NamedTuple):
    p50_ms: float
    p99_ms: float  # estimated (see the module docstring)


def round_trip_ms(from_region: str, to_region: str) -> RoundTripMs:
    """The round trip between two regions of ``EDGE_REGIONS`` (KeyError for others)."""
    p50 = P50_MS[from_region][EDGE_REGIONS.index(to_region)]
    return RoundTripMs(p50_ms=p50, p99_ms=p50 * P99_FACTOR + P99_EXTRA_MS)


def regions_by_distance(from_region: str, candidates: Iterable[str]) -> list[str]:
    """``candidates`` nearest first (median round trip; ties keep the given order)."""
    return sorted(candidates, key=lambda candidate: round_trip_ms(from_region, candidate).p50_ms)


def credits_region_order(edge_region: str, home: str, credits_regions: Iterable[str]) -> list[str]:
    """Where an edge in ``edge_region`` sends a charge: the nearest regions first, home always among them.

    At most ``MAX_REGION_ATTEMPTS`` regions: the nearest ones; when home is not among them it takes
    the last place, because home is the region that can always answer (it holds the home pool and
    can transfer from every region), so the last resort must be home.
    """
    ordered = regions_by_distance(edge_region, dict.fromkeys([*credits_regions, home]))
    chosen = ordered[:MAX_REGION_ATTEMPTS]
    if home not in chosen:
        chosen[-1] = home
    return chosen


def region_order_table(home: str, credits_regions: Iterable[str]) -> dict[str, list[str]]:
    """``credits_region_order`` for every edge region: what the deploy bakes into the edge settings."""
    regions = list(credits_regions)
    return {edge_region: credits_region_order(edge_region, home, regions) for edge_region in EDGE_REGIONS}
