"""The corrected, itemized cost model (issue 13) and the scale section's report helpers."""

from __future__ import annotations

import pytest

from bench.cost import (
    CLOUDWATCH_LOGS_INGESTION_PER_GB,
    DYNAMODB_PITR_PER_GB_MONTH,
    DYNAMODB_STORAGE_PER_GB_MONTH,
    LAMBDA_ARM64_PER_GB_SECOND,
    LAMBDA_EDGE_PER_GB_SECOND,
    LAMBDA_PER_GB_SECOND,
    XRAY_PER_MILLION_TRACES_RECORDED,
    OperatingCounts,
    RequestCounts,
    corrected_cost_per_million_requests,
    cost_per_million_requests,
)
from bench.operating_costs import _stored_items, access_log_line_bytes
from bench.scale import partition_kind
from bench.scale_report import weighted_edge_wait_ms
from local.regions import DEFAULT_CREDITS_REGION, DEFAULT_VIEWER_TRAFFIC_SPLIT, round_trip

COUNTS = RequestCounts(
    cloudfront_requests=1.0,
    viewer_request_invocations=1.0,
    viewer_request_ms=10.0,
    origin_response_invocations=0.0,
    origin_response_ms=1.0,
    credits_api_calls=1.0,
    credits_lambda_ms=8.0,
    dynamodb_write_units=6.0,
    dynamodb_read_units=0.5,
    s3_gets=0.0,
)
OPERATING = OperatingCounts(
    edge_wait_ms=100.0,
    credits_log_bytes=700.0,
    access_log_bytes=350.0,
    edge_log_bytes=500.0,
    stored_byte_months=6_000.0,
)


def lines(counts: RequestCounts, operating: OperatingCounts) -> dict[str, float]:
    breakdown = corrected_cost_per_million_requests("test", counts, operating)
    return {line.item: line.dollars_per_million_requests for line in breakdown.lines}


def test_lambda_edge_is_billed_for_its_wall_time_including_the_wait() -> None:
    priced = lines(COUNTS, OPERATING)
    # 110 ms at 128 MB, a million times.
    assert priced["Lambda@Edge GB-s, wall time incl. the credits wait"] == pytest.approx(
        1_000_000 * 0.110 * 0.125 * LAMBDA_EDGE_PER_GB_SECOND
    )


def test_the_credits_lambda_is_priced_at_the_arm64_rate() -> None:
    old = {
        line.item: line.dollars_per_million_requests for line in cost_per_million_requests("t", COUNTS).lines
    }
    new = lines(COUNTS, OPERATING)["Lambda (credits) GB-s, arm64"]
    assert new == pytest.approx(
        old["Lambda (credits) GB-s"] * LAMBDA_ARM64_PER_GB_SECOND / LAMBDA_PER_GB_SECOND
    )
    assert new < old["Lambda (credits) GB-s"]


def test_the_new_lines_price_traces_logs_and_storage() -> None:
    priced = lines(COUNTS, OPERATING)
    assert priced["X-Ray traces recorded (sampled)"] == pytest.approx(0.05 * XRAY_PER_MILLION_TRACES_RECORDED)
    assert priced["CloudWatch Logs: API Gateway access logs"] == pytest.approx(
        350e6 / 1e9 * CLOUDWATCH_LOGS_INGESTION_PER_GB
    )
    assert priced["CloudWatch Logs: credits Lambda"] == pytest.approx(
        700e6 / 1e9 * CLOUDWATCH_LOGS_INGESTION_PER_GB
    )
    assert priced["CloudWatch Logs: Lambda@Edge"] == pytest.approx(
        500e6 / 1e9 * CLOUDWATCH_LOGS_INGESTION_PER_GB
    )
    assert priced["DynamoDB storage (GB-months)"] == pytest.approx(6.0 * DYNAMODB_STORAGE_PER_GB_MONTH)
    assert priced["DynamoDB PITR (GB-months)"] == pytest.approx(6.0 * DYNAMODB_PITR_PER_GB_MONTH)


def test_a_request_that_never_calls_credits_pays_no_credits_side_lines() -> None:
    refused = RequestCounts(
        cloudfront_requests=1.0,
        viewer_request_invocations=1.0,
        viewer_request_ms=1.0,
        origin_response_invocations=0.0,
        origin_response_ms=0.0,
        credits_api_calls=0.0,
        credits_lambda_ms=0.0,
        dynamodb_write_units=0.0,
        dynamodb_read_units=0.0,
        s3_gets=0.0,
    )
    priced = lines(refused, OPERATING)
    assert priced["X-Ray traces recorded (sampled)"] == 0.0
    assert priced["CloudWatch Logs: API Gateway access logs"] == 0.0


def test_the_weighted_wait_falls_back_to_the_tables_round_trips() -> None:
    wait, source = weighted_edge_wait_ms(None)
    expected = sum(
        share * round_trip(region, DEFAULT_CREDITS_REGION).p50_ms
        for region, share in DEFAULT_VIEWER_TRAFFIC_SPLIT.items()
    )
    assert wait == pytest.approx(expected)
    assert "table" in source


def test_partition_kinds_name_what_a_partition_is_never_which() -> None:
    assert partition_kind("S:account#acct_123") == "account#"
    assert partition_kind("S:keydigest#" + "ab" * 32) == "keydigest#"
    assert partition_kind("S:plain") == "plain"


def test_an_access_log_line_is_a_few_hundred_bytes() -> None:
    assert 250 < access_log_line_bytes() < 600


def test_stored_items_are_sized_per_charge_by_kind() -> None:
    put = {"Put": {"Item": {"pk": {"S": "account#1"}, "sk": {"S": "ledger#2026#e1"}}}}
    record = {"Put": {"Item": {"pk": {"S": "request#1"}, "sk": {"S": "charge"}}}}
    update = {"Update": {"Key": {"pk": {"S": "account#1"}, "sk": {"S": "balance"}}}}
    sent = [("TransactWriteItems", {"TransactItems": [put, record, update]})] * 2 + [("GetItem", {})]
    stored = _stored_items(sent)
    assert set(stored) == {"ledger#", "charge"}
    assert stored["charge"] == len("pk") + len("request#1") + len("sk") + len("charge") + 100
