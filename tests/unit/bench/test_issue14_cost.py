"""Issue 14's cost side by side (bench/scale_must_show.py): what changes from today's model, line by line."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.cost import (
    DYNAMODB_PER_MILLION_WRITE_UNITS,
    LAMBDA_PER_MILLION_REQUESTS,
    OperatingCounts,
    RequestCounts,
)
from bench.scale_must_show import (
    FixedRateTrial,
    Issue14Figures,
    issue14_cost_lines,
    issue14_costs,
    issue14_rows,
)
from local.ledger_writer import WriteUnitsPerDownload

PER_DOWNLOAD = RequestCounts(
    cloudfront_requests=1.0,
    viewer_request_invocations=1.0,
    viewer_request_ms=10.0,
    origin_response_invocations=0.6,  # the run's own hit ratio: replaced by 90%
    origin_response_ms=1.0,
    credits_api_calls=1.0,
    credits_lambda_ms=8.0,
    dynamodb_write_units=6.0,
    dynamodb_read_units=0.5,
    s3_gets=0.6,
)
OPERATING = OperatingCounts(
    edge_wait_ms=60.0,
    credits_log_bytes=700.0,
    access_log_bytes=350.0,
    edge_log_bytes=300.0,
    stored_byte_months=900.0,
)


def lines(breakdown: object) -> dict[str, float]:
    return {line.item: line.dollars_per_million_requests for line in breakdown.lines}  # type: ignore[attr-defined]


def test_issue14_swaps_rest_for_the_http_api_and_adds_the_ledger_writer() -> None:
    today, sharded = issue14_costs(
        PER_DOWNLOAD, OPERATING, sharded_write_units=3.0, sharded_read_units=1.5, writer_ms_per_record=2.0
    )
    today_lines, sharded_lines = lines(today), lines(sharded)

    assert today_lines["API Gateway REST requests"] == pytest.approx(3.50)
    assert "API Gateway REST requests" not in sharded_lines
    assert sharded_lines["API Gateway HTTP API requests (edge routes)"] == pytest.approx(1.00)
    assert today_lines["DynamoDB write units"] == pytest.approx(6.0 * DYNAMODB_PER_MILLION_WRITE_UNITS)
    assert sharded_lines["DynamoDB write units"] == pytest.approx(3.0 * DYNAMODB_PER_MILLION_WRITE_UNITS)
    # One invocation per batch of 100 records, and its GB-s at 512 MB arm64.
    assert sharded_lines["Lambda (ledger writer) requests"] == pytest.approx(
        LAMBDA_PER_MILLION_REQUESTS / 100
    )
    assert sharded_lines["Lambda (ledger writer) GB-s, arm64"] > 0
    # 90% CDN hits in both: S3 is asked for one download in ten.
    assert today_lines["S3 GET/HEAD requests"] == sharded_lines["S3 GET/HEAD requests"]
    # Everything else is the same: the difference is the API price, 3 fewer WRU, the writer's reads
    # and the writer itself.
    writer = sum(dollars for item, dollars in sharded_lines.items() if "ledger writer" in item)
    reads = sharded_lines["DynamoDB read units"] - today_lines["DynamoDB read units"]
    assert today.total - sharded.total == pytest.approx(
        2.50 + 3.0 * DYNAMODB_PER_MILLION_WRITE_UNITS - writer - reads
    )


def test_the_line_by_line_table_shows_lines_either_side_has() -> None:
    today, sharded = issue14_costs(
        PER_DOWNLOAD, OPERATING, sharded_write_units=3.0, sharded_read_units=1.5, writer_ms_per_record=2.0
    )
    rows = {row.figure: (row.value, row.baseline) for row in issue14_cost_lines(today, sharded)}
    assert rows["API Gateway REST requests"] == ("$3.50", "$0.00")
    assert rows["API Gateway HTTP API requests (edge routes)"] == ("$0.00", "$1.00")


def _trial(layout: str, *, throttled: int, unavailable: int) -> FixedRateTrial:
    return FixedRateTrial(
        layout=layout,
        rate_at_scale=100.0,
        real_rate=10_000.0,
        seconds=4.0,
        charges=400,
        allowed=400 - unavailable,
        throttled_attempts=throttled,
        service_unavailable=unavailable,
        other_refusals=0,
        achieved_rate_at_scale=90.0,
        hottest_partition="balanceshard#",
        hottest_write_units_per_second=2.0,
        hottest_share_of_partition_limit=0.2,
        hottest_share_of_writes=0.015,
        hottest_share_of_limit_at_offered_rate=0.25,
    )


def test_the_rows_judge_the_sharded_trial_and_the_counted_write_units() -> None:
    figures = Issue14Figures(
        sharded=_trial("64 balance shards", throttled=0, unavailable=0),
        today=_trial("today: one balance item", throttled=900, unavailable=150),
        write_units=WriteUnitsPerDownload(downloads=100, shards=64, write_units=300.0, read_units=100.0),
        ledger_writer_ms_per_record=2.0,
    )
    rows = issue14_rows(figures, None)
    verdicts = [row.verdict for row in rows if row.verdict]
    assert verdicts == ["pass", "pass"]
    assert any("150 x 503" in row.baseline for row in rows)
    # A clean trial whose driver did not keep the offered pace is no pass.
    slow = replace(figures, sharded=replace(figures.sharded, achieved_rate_at_scale=21.0))
    assert [row.verdict for row in issue14_rows(slow, None) if row.verdict] == ["driver-limited", "pass"]
