"""Cost model: counted AWS calls per download -> dollars per million downloads at list prices.

Every per-download figure fed in here is counted by the benchmark run (DynamoDB units from
ReturnConsumedCapacity, calls from botocore hooks and fake transports, cache hits from the local
CDN); only the prices and the deployed memory sizes are constants, and each names its source.
Data transfer out is left out: it is the same with or without edgemeter.
"""

from __future__ import annotations

import math
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
S3_GET_PER_THOUSAND = 0.0004
S3_PUT_PER_THOUSAND = 0.005
CLOUDFRONT_HTTPS_PER_TEN_THOUSAND = 0.0100  # US/Europe HTTPS requests
PRICES_RECORDED_ON = "2026-11-21"

# --- deployed shapes ----------------------------------------------------------------------------
EDGE_VIEWER_MEMORY_MB = 128  # Lambda@Edge viewer triggers: 128 MB maximum
EDGE_ORIGIN_RESPONSE_MEMORY_MB = 128  # stacks/constructs/edge_functions.py uses the viewer size
CREDITS_LAMBDA_MEMORY_MB = 1024  # stacks/constructs/credits_api.py
BILLING_GRANULARITY_MS = 1.0  # Lambda and Lambda@Edge bill duration per started millisecond
MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class DownloadCounts:
    """What one download costs in billable units (averages over a counted run)."""

    cloudfront_requests: float  # viewer requests per download (1)
    viewer_request_invocations: float  # Lambda@Edge viewer-request per download (1: runs on hits too)
    viewer_request_ms: float  # billed duration of one viewer-request invocation
    origin_response_invocations: float  # Lambda@Edge origin-response: only on cache misses
    origin_response_ms: float
    credits_api_calls: float  # API Gateway requests == credits Lambda invocations
    credits_lambda_ms: float  # billed duration of one credits Lambda invocation
    dynamodb_write_units: float
    dynamodb_read_units: float
    s3_gets: float  # origin GETs per download (the CDN cache's miss ratio)


@dataclass(frozen=True, slots=True)
class CostLine:
    item: str
    units_per_million_downloads: float
    dollars_per_million_downloads: float


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    scenario: str
    lines: tuple[CostLine, ...]

    @property
    def total(self) -> float:
        return sum(line.dollars_per_million_downloads for line in self.lines)

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


def cost_per_million_downloads(scenario: str, counts: DownloadCounts) -> CostBreakdown:
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
        CostLine("S3 GET requests", counts.s3_gets * m, counts.s3_gets * m / 1000 * S3_GET_PER_THOUSAND),
    )
    return CostBreakdown(scenario=scenario, lines=lines)


def bare_origin_per_million_downloads(s3_gets_per_download: float) -> CostBreakdown:
    """The same downloads served by CloudFront straight from S3: no edgemeter at all (no metering)."""
    m = MILLION
    return CostBreakdown(
        scenario="CloudFront + S3, no edgemeter",
        lines=(
            CostLine("CloudFront requests (HTTPS)", m, m / 10_000 * CLOUDFRONT_HTTPS_PER_TEN_THOUSAND),
            CostLine(
                "S3 GET requests",
                s3_gets_per_download * m,
                s3_gets_per_download * m / 1000 * S3_GET_PER_THOUSAND,
            ),
        ),
    )
