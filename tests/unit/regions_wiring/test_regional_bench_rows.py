"""`make bench`'s regional section (issue 15): per edge region, today vs regional wall time and the
corrected model's cost per million allowed downloads, with the Must-show verdict where it applies."""

from __future__ import annotations

from bench.cost import OperatingCounts, RequestCounts
from bench.regional_wait import RegionalWait, corrected_cost, regional_rows

PER_DOWNLOAD = RequestCounts(
    cloudfront_requests=1.0,
    viewer_request_invocations=1.0,
    viewer_request_ms=5.0,
    origin_response_invocations=0.1,
    origin_response_ms=1.0,
    credits_api_calls=1.0,
    credits_lambda_ms=4.0,
    dynamodb_write_units=6.0,
    dynamodb_read_units=1.0,
    s3_gets=0.1,
)
OPERATING = OperatingCounts(
    edge_wait_ms=0.0, credits_log_bytes=0.0, access_log_bytes=0.0, edge_log_bytes=0.0, stored_byte_months=0.0
)


def _wait(edge_region: str, regional_p50: float, service_p50: float = 12.0) -> RegionalWait:
    return RegionalWait(
        edge_region=edge_region,
        regional_credits_region=edge_region,
        today_p50_ms=215.0,
        today_p99_ms=250.0,
        regional_p50_ms=regional_p50,
        regional_p99_ms=regional_p50 + 30,
        service_p50_ms=service_p50,
    )


def test_a_shorter_wait_costs_less_under_the_corrected_model() -> None:
    wait = _wait("ap-northeast-1", 20.0)
    today = corrected_cost(wait, PER_DOWNLOAD, OPERATING, regional=False)
    regional = corrected_cost(wait, PER_DOWNLOAD, OPERATING, regional=True)
    assert regional < today


def test_configured_regions_get_the_must_show_verdict_others_only_figures() -> None:
    rows = regional_rows(
        [_wait("ap-northeast-1", 20.0), _wait("us-east-1", 40.0), _wait("sa-east-1", 124.0)],
        PER_DOWNLOAD,
        OPERATING,
    )
    verdicts = {row.figure.split()[2]: row.verdict for row in rows}
    # ap-northeast-1: 8 ms over the service time passes; us-east-1: 28 ms fails; sa-east-1 has no
    # configured region of its own, so no target applies.
    assert verdicts == {"ap-northeast-1": "pass", "us-east-1": "FAIL", "sa-east-1": ""}
    assert rows[0].value.startswith("20.0/50.0 ms, $")
    assert rows[0].baseline.startswith("today 215.0/250.0 ms, $")
