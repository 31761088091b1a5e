"""Cost model: counted AWS calls per viewer request -> dollars per million requests at list prices.

Every per-request figure fed in here is counted by the benchmark run (DynamoDB units billed by
AWS's rules from the requests botocore sent, calls from botocore hooks and fake transports, cache
hits from the local CDN); only the prices and the deployed memory sizes are constants, and each
names its source. A traffic mix is priced kind by kind and the breakdowns are weighted by each
kind's share (``weighted_breakdown``). Data transfer out is left out: it is the same with or
without edgemeter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

# --- public list prices, USD, us-east-1 -------------------------------------------------------
# Sources: aws.amazon.com/lambda/pricing, /api-gateway/pricing, /dynamodb/pricing/on-demand,
# /s3/pricing, /cloudfront/pricing. Figures as listed on those pages and in issue 7, recorded
# 2026-11-21; on-demand DynamoDB reflects the 2024-11-01 price reduction.
LAMBDA_EDGE_PER_MILLION_REQUESTS = 0.60
LAMBDA_EDGE_PER_GB_SECOND = 0.00005001
API_GATEWAY_REST_PER_MILLION_REQUESTS = 3.50  # first 333 million requests a month
LAMBDA_PER_MILLION_REQUESTS = 0.20
LAMBDA_PER_GB_SECOND = 0.0000166667  # x86
DYNAMODB_PER_MILLION_WRITE_UNITS = 0.625  # on-demand write request units
DYNAMODB_PER_MILLION_READ_UNITS = 0.125  # on-demand read request units
S3_GET_PER_THOUSAND = 0.0004  # GET, HEAD and all other read requests (S3 Standard)
S3_PUT_PER_THOUSAND = 0.005
CLOUDFRONT_HTTPS_PER_TEN_THOUSAND = 0.0100  # US/Europe HTTPS requests
PRICES_RECORDED_ON = "2026-11-21"

# --- prices of the corrected, itemized model (issue 13), USD, us-east-1, recorded 2026-12-05 ---------
# Lambda arm64 duration: aws.amazon.com/lambda/pricing (first 7.5 billion GB-s a month; the x86 rate
# above is 25% higher); the credits function deploys arm64 by default (stacks/settings.py).
LAMBDA_ARM64_PER_GB_SECOND = 0.0000133334
# X-Ray: aws.amazon.com/xray/pricing, $5.00 per million traces recorded (after 100,000 a month free);
# the default sampling rule records the first request each second and 5% of the rest
# (docs.aws.amazon.com/xray/latest/devguide/xray-console-sampling.html): 5% at any real rate.
XRAY_PER_MILLION_TRACES_RECORDED = 5.00
XRAY_DEFAULT_SAMPLED_SHARE = 0.05
# CloudWatch Logs: aws.amazon.com/cloudwatch/pricing, Standard log class ingestion $0.50 per GB
# (eu-west-1 lists $0.57); storage ($0.03 per GB-month) is left out: retention is the operator's.
CLOUDWATCH_LOGS_INGESTION_PER_GB = 0.50
# DynamoDB Standard table class: aws.amazon.com/dynamodb/pricing/on-demand, storage $0.25 per
# GB-month (the first 25 GB free), continuous backups (PITR, enabled by the stack) $0.20 per GB-month;
# DynamoDB counts 100 bytes of overhead per stored item.
DYNAMODB_STORAGE_PER_GB_MONTH = 0.25
DYNAMODB_PITR_PER_GB_MONTH = 0.20
DYNAMODB_ITEM_STORAGE_OVERHEAD_BYTES = 100
CORRECTED_PRICES_RECORDED_ON = "2026-12-05"
GB = 1_000_000_000  # AWS bills logs and storage in decimal-ish GB; the difference is < 7%

# --- deployed shapes ----------------------------------------------------------------------------
EDGE_VIEWER_MEMORY_MB = 128  # Lambda@Edge viewer triggers: 128 MB maximum
EDGE_ORIGIN_RESPONSE_MEMORY_MB = 128  # stacks/constructs/edge_functions.py uses the viewer size
CREDITS_LAMBDA_MEMORY_MB = 1024  # stacks/constructs/credits_api.py
BILLING_GRANULARITY_MS = 1.0  # Lambda and Lambda@Edge bill duration per started millisecond
MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class RequestCounts:
    """What one viewer request of a kind costs in billable units (averages over a counted run)."""

    cloudfront_requests: float  # viewer requests per request (1)
    viewer_request_invocations: float  # Lambda@Edge viewer-request per request (1: runs on hits too)
    viewer_request_ms: float  # billed duration of one viewer-request invocation
    origin_response_invocations: float  # Lambda@Edge origin-response: only on cache misses
    origin_response_ms: float
    credits_api_calls: float  # API Gateway requests == credits Lambda invocations
    credits_lambda_ms: float  # billed duration of one credits Lambda invocation
    dynamodb_write_units: float
    dynamodb_read_units: float
    s3_gets: float  # origin GETs per request (for downloads: the CDN cache's miss ratio)
    s3_heads: float = 0.0  # origin HEADs per request (the catalog checks a 403 with one)


@dataclass(frozen=True, slots=True)
class CostLine:
    item: str
    units_per_million_requests: float
    dollars_per_million_requests: float


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    scenario: str
    lines: tuple[CostLine, ...]

    @property
    def total(self) -> float:
        return sum(line.dollars_per_million_requests for line in self.lines)

    def to_json_dict(self) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "total": self.total,
            "lines": [asdict(line) for line in self.lines],
        }


def billed_ms(measured_ms: float) -> float:
    """Lambda rounds every invocation up to the next millisecond (minimum 1 ms)."""
    return max(
        BILLING_GRANULARITY_MS, math.ceil(measured_ms / BILLING_GRANULARITY_MS) * BILLING_GRANULARITY_MS
    )


def gb_seconds(invocations: float, measured_ms: float, memory_mb: int) -> float:
    return invocations * billed_ms(measured_ms) / 1000 * memory_mb / 1024


def cost_per_million_requests(scenario: str, counts: RequestCounts) -> CostBreakdown:
    m = MILLION
    viewer_gbs = gb_seconds(
        counts.viewer_request_invocations * m, counts.viewer_request_ms, EDGE_VIEWER_MEMORY_MB
    )
    origin_gbs = gb_seconds(
        counts.origin_response_invocations * m, counts.origin_response_ms, EDGE_ORIGIN_RESPONSE_MEMORY_MB
    )
    credits_gbs = gb_seconds(counts.credits_api_calls * m, counts.credits_lambda_ms, CREDITS_LAMBDA_MEMORY_MB)
    edge_invocations = (counts.viewer_request_invocations + counts.origin_response_invocations) * m
    lines = (
        CostLine(
            "CloudFront requests (HTTPS)",
            counts.cloudfront_requests * m,
            counts.cloudfront_requests * m / 10_000 * CLOUDFRONT_HTTPS_PER_TEN_THOUSAND,
        ),
        CostLine(
            "Lambda@Edge requests", edge_invocations, edge_invocations / m * LAMBDA_EDGE_PER_MILLION_REQUESTS
        ),
        CostLine(
            "Lambda@Edge GB-s", viewer_gbs + origin_gbs, (viewer_gbs + origin_gbs) * LAMBDA_EDGE_PER_GB_SECOND
        ),
        CostLine(
            "API Gateway REST requests",
            counts.credits_api_calls * m,
            counts.credits_api_calls * API_GATEWAY_REST_PER_MILLION_REQUESTS,
        ),
        CostLine(
            "Lambda (credits) requests",
            counts.credits_api_calls * m,
            counts.credits_api_calls * LAMBDA_PER_MILLION_REQUESTS,
        ),
        CostLine("Lambda (credits) GB-s", credits_gbs, credits_gbs * LAMBDA_PER_GB_SECOND),
        CostLine(
            "DynamoDB write units",
            counts.dynamodb_write_units * m,
            counts.dynamodb_write_units * DYNAMODB_PER_MILLION_WRITE_UNITS,
        ),
        CostLine(
            "DynamoDB read units",
            counts.dynamodb_read_units * m,
            counts.dynamodb_read_units * DYNAMODB_PER_MILLION_READ_UNITS,
        ),
        s3_read_requests_line(counts.s3_gets + counts.s3_heads),
    )
    return CostBreakdown(scenario=scenario, lines=lines)


def s3_read_requests_line(requests_per_request: float) -> CostLine:
    requests = requests_per_request * MILLION
    return CostLine("S3 GET/HEAD requests", requests, requests / 1000 * S3_GET_PER_THOUSAND)


def bare_origin_per_million_requests(
    s3_gets_per_request: float, scenario: str = "CloudFront + S3, no edgemeter"
) -> CostBreakdown:
    """The same requests served by CloudFront straight from S3: no edgemeter at all (no metering)."""
    m = MILLION
    return CostBreakdown(
        scenario=scenario,
        lines=(
            CostLine("CloudFront requests (HTTPS)", m, m / 10_000 * CLOUDFRONT_HTTPS_PER_TEN_THOUSAND),
            s3_read_requests_line(s3_gets_per_request),
        ),
    )


def weighted_breakdown(scenario: str, parts: Sequence[tuple[float, CostBreakdown]]) -> CostBreakdown:
    """A traffic mix: each kind's breakdown weighted by its share of the requests, line by line.

    Lines with the same item add up (units and dollars); items keep the order they first appear in.
    """
    units: dict[str, float] = {}
    dollars: dict[str, float] = {}
    for share, breakdown in parts:
        for line in breakdown.lines:
            units[line.item] = units.get(line.item, 0.0) + share * line.units_per_million_requests
            dollars[line.item] = dollars.get(line.item, 0.0) + share * line.dollars_per_million_requests
    return CostBreakdown(
        scenario=scenario, lines=tuple(CostLine(item, units[item], dollars[item]) for item in units)
    )


# --- the corrected, itemized model (issue 13) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OperatingCounts:
    """What the first model left out, per viewer request (measured by ``bench.scale`` and
    ``bench.operating_costs``; the traffic split and retention are stated assumptions)."""

    edge_wait_ms: float  # added to a viewer-request invocation by the credits call's round trip
    credits_log_bytes: float  # CloudWatch Logs bytes per credits Lambda invocation
    access_log_bytes: float  # API Gateway access-log bytes per credits API request
    edge_log_bytes: float  # CloudWatch Logs bytes per Lambda@Edge invocation
    stored_byte_months: float  # DynamoDB item bytes x months kept, per request
    xray_sampled_share: float = XRAY_DEFAULT_SAMPLED_SHARE


def corrected_cost_per_million_requests(
    scenario: str, counts: RequestCounts, operating: OperatingCounts
) -> CostBreakdown:
    """The first model's lines with Lambda@Edge billed for its wall time (the wait included) and the
    credits Lambda at the arm64 rate, then X-Ray, log ingestion, and DynamoDB storage and PITR."""
    m = MILLION
    waited = RequestCounts(
        **{**asdict(counts), "viewer_request_ms": counts.viewer_request_ms + operating.edge_wait_ms}
    )
    base = cost_per_million_requests(scenario, waited)
    credits_gbs = gb_seconds(counts.credits_api_calls * m, counts.credits_lambda_ms, CREDITS_LAMBDA_MEMORY_MB)
    lines = [
        CostLine("Lambda (credits) GB-s, arm64", credits_gbs, credits_gbs * LAMBDA_ARM64_PER_GB_SECOND)
        if line.item == "Lambda (credits) GB-s"
        else CostLine(
            "Lambda@Edge GB-s, wall time incl. the credits wait",
            line.units_per_million_requests,
            line.dollars_per_million_requests,
        )
        if line.item == "Lambda@Edge GB-s"
        else line
        for line in base.lines
    ]
    traces = counts.credits_api_calls * m * operating.xray_sampled_share
    edge_invocations = (counts.viewer_request_invocations + counts.origin_response_invocations) * m
    log_bytes = {
        "CloudWatch Logs: API Gateway access logs": counts.credits_api_calls * m * operating.access_log_bytes,
        "CloudWatch Logs: credits Lambda": counts.credits_api_calls * m * operating.credits_log_bytes,
        "CloudWatch Logs: Lambda@Edge": edge_invocations * operating.edge_log_bytes,
    }
    stored_gb_months = operating.stored_byte_months * m / GB
    lines += [
        CostLine("X-Ray traces recorded (sampled)", traces, traces / m * XRAY_PER_MILLION_TRACES_RECORDED),
        *(
            CostLine(item, size, size / GB * CLOUDWATCH_LOGS_INGESTION_PER_GB)
            for item, size in log_bytes.items()
        ),
        CostLine(
            "DynamoDB storage (GB-months)", stored_gb_months, stored_gb_months * DYNAMODB_STORAGE_PER_GB_MONTH
        ),
        CostLine(
            "DynamoDB PITR (GB-months)", stored_gb_months, stored_gb_months * DYNAMODB_PITR_PER_GB_MONTH
        ),
    ]
    return CostBreakdown(scenario=scenario, lines=tuple(lines))
