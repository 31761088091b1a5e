"""The cost model's arithmetic: billed durations, prices per line, weighting a traffic mix."""

from __future__ import annotations

import pytest

from bench.cost import (
    API_GATEWAY_REST_PER_MILLION_REQUESTS,
    CLOUDFRONT_HTTPS_PER_TEN_THOUSAND,
    DYNAMODB_PER_MILLION_READ_UNITS,
    DYNAMODB_PER_MILLION_WRITE_UNITS,
    LAMBDA_PER_MILLION_REQUESTS,
    S3_GET_PER_THOUSAND,
    CostBreakdown,
    CostLine,
    RequestCounts,
    bare_origin_per_million_requests,
    billed_ms,
    cost_per_million_requests,
    gb_seconds,
    weighted_breakdown,
)


def counts(**overrides: float) -> RequestCounts:
    fields: dict[str, float] = {
        "cloudfront_requests": 1.0,
        "viewer_request_invocations": 1.0,
        "viewer_request_ms": 0.0,
        "origin_response_invocations": 0.0,
        "origin_response_ms": 0.0,
        "credits_api_calls": 0.0,
        "credits_lambda_ms": 0.0,
        "dynamodb_write_units": 0.0,
        "dynamodb_read_units": 0.0,
        "s3_gets": 0.0,
        **overrides,
    }
    return RequestCounts(**fields)


def line(breakdown: CostBreakdown, item: str) -> CostLine:
    return next(candidate for candidate in breakdown.lines if candidate.item == item)


@pytest.mark.parametrize(
    ("measured", "billed"), [(0.0, 1.0), (0.2, 1.0), (1.0, 1.0), (1.01, 2.0), (7.5, 8.0)]
)
def test_lambda_bills_every_started_millisecond_with_a_one_millisecond_minimum(
    measured: float, billed: float
):
    assert billed_ms(measured) == billed


def test_gb_seconds_follow_memory_and_billed_duration():
    # 1,000 invocations of 2.5 ms (billed 3 ms) at 1024 MB: 3 GB-s.
    assert gb_seconds(1_000, 2.5, 1024) == pytest.approx(3.0)
    assert gb_seconds(1_000, 2.5, 128) == pytest.approx(3.0 / 8)


def test_each_counted_unit_is_priced_at_its_list_price():
    breakdown = cost_per_million_requests(
        "one credits call",
        counts(
            credits_api_calls=1.0,
            dynamodb_write_units=6.0,
            dynamodb_read_units=0.5,
            s3_gets=0.1,
            s3_heads=0.02,
        ),
    )
    assert line(breakdown, "API Gateway REST requests").dollars_per_million_requests == pytest.approx(
        API_GATEWAY_REST_PER_MILLION_REQUESTS
    )
    assert line(breakdown, "Lambda (credits) requests").dollars_per_million_requests == pytest.approx(
        LAMBDA_PER_MILLION_REQUESTS
    )
    assert line(breakdown, "DynamoDB write units").dollars_per_million_requests == pytest.approx(
        6 * DYNAMODB_PER_MILLION_WRITE_UNITS
    )
    assert line(breakdown, "DynamoDB read units").dollars_per_million_requests == pytest.approx(
        0.5 * DYNAMODB_PER_MILLION_READ_UNITS
    )
    s3 = line(breakdown, "S3 GET/HEAD requests")
    assert s3.units_per_million_requests == pytest.approx(120_000)
    assert s3.dollars_per_million_requests == pytest.approx(120 * S3_GET_PER_THOUSAND)
    assert line(breakdown, "CloudFront requests (HTTPS)").dollars_per_million_requests == pytest.approx(
        100 * CLOUDFRONT_HTTPS_PER_TEN_THOUSAND
    )
    assert breakdown.total == pytest.approx(
        sum(item.dollars_per_million_requests for item in breakdown.lines)
    )


def test_a_request_refused_before_any_credits_call_costs_only_cloudfront_and_the_edge():
    breakdown = cost_per_million_requests("negative cache hit", counts(viewer_request_ms=0.1))
    paid = {item.item for item in breakdown.lines if item.dollars_per_million_requests > 0}
    assert paid == {"CloudFront requests (HTTPS)", "Lambda@Edge requests", "Lambda@Edge GB-s"}


def test_weighted_breakdown_adds_lines_by_item_in_proportion_to_the_shares():
    allowed = cost_per_million_requests("allowed", counts(credits_api_calls=1.0, dynamodb_write_units=6.0))
    refused = bare_origin_per_million_requests(1.0, scenario="refused")
    mix = weighted_breakdown("mix", [(0.75, allowed), (0.25, refused)])
    assert mix.total == pytest.approx(0.75 * allowed.total + 0.25 * refused.total)
    assert [item.item for item in mix.lines] == [item.item for item in allowed.lines]
    s3 = line(mix, "S3 GET/HEAD requests")
    assert s3.units_per_million_requests == pytest.approx(250_000)
    writes = line(mix, "DynamoDB write units")
    assert writes.units_per_million_requests == pytest.approx(4_500_000)


def test_no_edgemeter_pays_cloudfront_and_the_origin_gets_only():
    bare = bare_origin_per_million_requests(0.1)
    assert [item.item for item in bare.lines] == ["CloudFront requests (HTTPS)", "S3 GET/HEAD requests"]
    assert bare.total == pytest.approx(100 * CLOUDFRONT_HTTPS_PER_TEN_THOUSAND + 100 * S3_GET_PER_THOUSAND)
