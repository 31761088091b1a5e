"""The inter-region round-trip table and the latency model drawn from it (local/regions.py)."""

from __future__ import annotations

import random

import pytest

from local.regions import (
    DEFAULT_CREDITS_REGION,
    DEFAULT_VIEWER_TRAFFIC_SPLIT,
    EDGE_REGIONS,
    RegionLatency,
    nearest_region,
    round_trip,
)


@pytest.mark.parametrize(
    ("edge_region", "brief_p50_ms"),
    [("us-east-1", 70), ("ap-northeast-1", 201), ("ap-southeast-2", 256), ("sa-east-1", 178)],
)
def test_the_table_agrees_with_the_briefs_cloudping_figures(edge_region: str, brief_p50_ms: float) -> None:
    assert round_trip(edge_region, "eu-west-1").p50_ms == pytest.approx(brief_p50_ms, abs=2)


def test_every_edge_region_reaches_every_other_and_itself_is_nearest() -> None:
    for source in EDGE_REGIONS:
        for target in EDGE_REGIONS:
            trip = round_trip(source, target)
            assert 0 < trip.p50_ms < trip.p99_ms
            # A published matrix measures each direction; the two agree within a few percent.
            assert trip.p50_ms == pytest.approx(round_trip(target, source).p50_ms, rel=0.1, abs=3)
        assert nearest_region(source, EDGE_REGIONS) == source


def test_the_traffic_split_covers_the_edge_regions_and_adds_up_to_one() -> None:
    assert set(DEFAULT_VIEWER_TRAFFIC_SPLIT) == set(EDGE_REGIONS)
    assert sum(DEFAULT_VIEWER_TRAFFIC_SPLIT.values()) == pytest.approx(1.0)
    assert DEFAULT_CREDITS_REGION in EDGE_REGIONS


def test_sampled_round_trips_have_the_tables_median_and_99th_percentile() -> None:
    trip = round_trip("ap-southeast-2", "eu-west-1")
    rng = random.Random(7)
    samples = sorted(trip.sample_ms(rng) for _ in range(20_000))
    assert samples[len(samples) // 2] == pytest.approx(trip.p50_ms, rel=0.03)
    assert samples[int(len(samples) * 0.99)] == pytest.approx(trip.p99_ms, rel=0.05)


def test_the_latency_model_sleeps_one_round_trip_per_call() -> None:
    slept: list[float] = []
    latency = RegionLatency(sleep=slept.append)
    in_region = latency.wait("eu-west-1", "eu-west-1")
    far = latency.wait("sa-east-1", "eu-west-1")
    assert slept == [in_region / 1000, far / 1000]
    assert 0 < in_region < 20
    assert 100 < far < 400
