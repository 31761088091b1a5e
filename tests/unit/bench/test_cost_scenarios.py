"""The traffic mix and how counted scenario figures become per-request counts and mix prices."""

from __future__ import annotations

import pytest

from bench.cost import MILLION, S3_GET_PER_THOUSAND
from bench.cost_scenarios import (
    ALLOWED,
    MISSING_OBJECT,
    UNKNOWN_KEY,
    WITH_CACHES_AND_CATALOG,
    WITHOUT_CACHES_AND_CATALOG,
    ConfigurationFigures,
    CostScenarioFigures,
    EdgemeterConfiguration,
    KindFigures,
    MixCosts,
    StageCounts,
    TrafficMix,
    price_mix,
)


def stage(
    invocations: int = 0,
    credits_calls: int = 0,
    write_units: float = 0.0,
    read_units: float = 0.0,
    handler_ms: float = 1.0,
) -> StageCounts:
    return StageCounts(
        invocations=invocations,
        handler_ms_median=handler_ms,
        credits_calls=credits_calls,
        dynamodb_requests=credits_calls,
        dynamodb_operations={},
        billed_read_units=read_units,
        billed_write_units=write_units,
    )


def kind(
    name: str,
    requests: int,
    viewer: StageCounts,
    *,
    origin: StageCounts | None = None,
    origin_gets: int = 0,
    origin_heads: int = 0,
) -> KindFigures:
    return KindFigures(
        kind=name,
        requests=requests,
        viewer_request=viewer,
        origin_response=origin or stage(),
        origin_gets=origin_gets,
        origin_heads=origin_heads,
        credits_call_ms_median=2.0,
        viewer_statuses={},
    )


def configuration(
    which: EdgemeterConfiguration, *, missing_charged: int, missing_requests: int = 100
) -> ConfigurationFigures:
    """100 requests of each kind; ``missing_charged`` of the missing-object ones reach the origin."""
    return ConfigurationFigures(
        configuration=which,
        allowed=kind(ALLOWED, 100, stage(100, 100, 600.0, 50.0), origin=stage(100), origin_gets=100),
        unknown_key_call=kind(UNKNOWN_KEY, 100, stage(100, 100, read_units=100.0)),
        missing_object=kind(
            MISSING_OBJECT,
            missing_requests,
            stage(missing_requests, missing_requests, 6.0 * missing_charged, 1.5 * missing_requests),
            origin=stage(missing_charged, missing_charged, 6.0 * missing_charged, 2.0 * missing_charged),
            origin_gets=missing_charged,
            origin_heads=missing_charged if which.catalog else 0,
        ),
    )


def scenario_figures(mix: TrafficMix) -> CostScenarioFigures:
    return CostScenarioFigures(
        mix=mix,
        with_caches_and_catalog=configuration(WITH_CACHES_AND_CATALOG, missing_charged=1),
        without_caches_and_catalog=configuration(WITHOUT_CACHES_AND_CATALOG, missing_charged=100),
    )


def test_the_default_mix_is_mostly_allowed_downloads_and_adds_up_to_one():
    mix = TrafficMix()
    assert mix.allowed_share + mix.unknown_key_share + mix.missing_object_share == pytest.approx(1.0)
    assert mix.allowed_share > 0.5
    assert "90% allowed" in mix.describe()


@pytest.mark.parametrize(
    ("shares", "problem"),
    [
        ("0.9,0.05", "three shares"),
        ("0.9,0.2,0.05", "add up to 1"),
        ("1.2,-0.1,-0.1", "between 0 and 1"),
        ("a,b,c", "could not convert"),
    ],
)
def test_a_mix_whose_shares_are_not_three_fractions_adding_up_to_one_is_refused(shares: str, problem: str):
    with pytest.raises(ValueError, match=problem):
        TrafficMix.parse(shares)


def test_a_mix_parses_from_the_command_line_form():
    mix = TrafficMix.parse("0.8,0.1,0.1", requests_per_missing_object=10)
    assert (mix.allowed_share, mix.unknown_key_share, mix.missing_object_share) == (0.8, 0.1, 0.1)
    assert mix.requests_per_missing_object == 10
    with pytest.raises(ValueError, match="at least once"):
        TrafficMix.parse("0.8,0.1,0.1", requests_per_missing_object=0)


def test_the_cdn_miss_ratio_scales_only_what_happens_at_and_after_the_origin():
    figures = kind(
        ALLOWED, 100, stage(100, 100, 600.0, 50.0), origin=stage(100, 10, 60.0, 20.0), origin_gets=100
    )
    per_request = figures.request_counts(origin_fetch_ratio=0.1)
    assert per_request.s3_gets == pytest.approx(0.1)
    assert per_request.origin_response_invocations == pytest.approx(0.1)
    assert per_request.viewer_request_invocations == pytest.approx(1.0)
    assert per_request.credits_api_calls == pytest.approx(1.0 + 0.1 * 0.1)
    assert per_request.dynamodb_write_units == pytest.approx(6.0 + 0.1 * 0.6)
    assert per_request.dynamodb_read_units == pytest.approx(0.5 + 0.1 * 0.2)


def test_the_negative_cache_ratio_scales_the_viewer_triggers_credits_calls_and_their_reads():
    figures = kind(UNKNOWN_KEY, 100, stage(100, 100, read_units=100.0, handler_ms=2.5))
    cached = figures.request_counts(credits_call_ratio=0.01)
    assert cached.credits_api_calls == pytest.approx(0.01)
    assert cached.dynamodb_read_units == pytest.approx(0.01)
    # The edge's own 0.5 ms stays; the 2 ms credits call is paid on 1% of the requests.
    assert cached.viewer_request_ms == pytest.approx(0.5 + 0.02)
    assert figures.request_counts().viewer_request_ms == pytest.approx(2.5)


def priced_mix(mix: TrafficMix) -> MixCosts:
    """``mix`` priced from the canned scenario figures: 90% CDN hits, 1% of unknown keys uncached."""
    return price_mix(
        mix,
        scenario_figures(mix),
        cdn_hit_ratio=0.9,
        unknown_key_calls_per_request_cached=0.01,
        unknown_key_calls_per_request_uncached=1.0,
    )


def test_the_mix_is_each_kind_priced_and_weighted_by_its_share():
    costs = priced_mix(TrafficMix(0.9, 0.05, 0.05))
    for total, index in (
        (costs.with_caches_and_catalog.total, 0),
        (costs.without_caches_and_catalog.total, 1),
    ):
        expected = (
            0.9 * costs.by_kind[ALLOWED][index].total
            + 0.05 * costs.by_kind[UNKNOWN_KEY][index].total
            + 0.05 * costs.by_kind[MISSING_OBJECT][index].total
        )
        assert total == pytest.approx(expected)
    # The catalog and the negative cache make refused traffic cheaper; downloads cost the same here.
    assert costs.by_kind[MISSING_OBJECT][0].total < costs.by_kind[MISSING_OBJECT][1].total
    assert costs.by_kind[UNKNOWN_KEY][0].total < costs.by_kind[UNKNOWN_KEY][1].total
    assert costs.by_kind[ALLOWED][0].total == pytest.approx(costs.by_kind[ALLOWED][1].total)
    assert costs.ratio_without_to_with > 1.0
    assert costs.no_edgemeter.total < costs.with_caches_and_catalog.total


def test_without_edgemeter_unknown_keys_are_served_and_missing_objects_reach_s3_every_time():
    costs = priced_mix(TrafficMix(0.8, 0.1, 0.1))
    s3 = next(line for line in costs.no_edgemeter.lines if line.item == "S3 GET/HEAD requests")
    expected_gets = (0.8 + 0.1) * 0.1 + 0.1
    assert s3.units_per_million_requests == pytest.approx(expected_gets * MILLION)
    assert s3.dollars_per_million_requests == pytest.approx(
        expected_gets * MILLION / 1000 * S3_GET_PER_THOUSAND
    )
    document = costs.to_json_dict()
    assert set(document) == {
        "with_caches_and_catalog",
        "without_caches_and_catalog",
        "no_edgemeter",
        "ratio_without_to_with",
        "by_kind",
    }
