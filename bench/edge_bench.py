"""Edge function figures: package size, cold start and warm CPU per allow decision.

- Package size and cold start come from ``bench.edge_package`` (the edge engineer's harness):
  each package zipped as stacks/ bundles it (sources and their bytecode, compiled by this
  interpreter); fresh isolated interpreters (``-I -B``) started in the unzipped package with its
  baked settings import both handler modules, then run a first invocation (a 401) and a first
  keyed request (which pays what the import defers: http.client, botocore, credentials,
  signing); the same package without bytecode alongside, in the same run; several runs,
  median; botocore's own import measured alone alongside.
- Warm decision: the real ``viewer_request.handler`` on prebuilt CloudFront events, the credits
  call answered by an in-process fake that returns a canned allow document, so the CPU time is
  the edge's own work: reading the event, hashing the key, signing the call with SigV4, parsing
  the reply, rewriting the request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.edge_package import PACKAGES, cold_start_samples, package_zip
from bench.stats import median
from functions.edge_auth import runtime, viewer_request
from functions.edge_auth.credits_client import CreditsTransport, TransportResponse
from functions.edge_auth.settings import CacheSettings, CreditsApiSettings, EdgeSettings
from functions.shared.api_keys import generate_api_key
from functions.shared.sigv4 import static_credentials

TARGET_DECISION_MICROSECONDS = 100.0
TARGET_COLD_IMPORT_MS = 30.0
BENCH_CREDITS_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod"


@dataclass(frozen=True, slots=True)
class EdgeFigures:
    # As deployed: sources plus bytecode.
    package_zip_bytes: dict[str, int]
    package_sources_only_zip_bytes: dict[str, int]
    cold_import_runs: int
    # The package as bundled, with bytecode (what deploys); then the same package without it.
    cold_import_median_ms: float
    cold_import_sources_only_median_ms: float
    # With bytecode, in an interpreter started without site (-S): nothing preloaded.
    cold_import_bare_median_ms: float
    first_call_median_ms: float
    # The first request with a key: http.client, botocore, credentials, signing, TLS context.
    first_keyed_request_median_ms: float
    botocore_import_median_ms: float
    decisions: int
    cpu_microseconds_per_decision: float
    wall_microseconds_per_decision: float

    @property
    def meets_decision_target(self) -> bool:
        return self.cpu_microseconds_per_decision < TARGET_DECISION_MICROSECONDS

    @property
    def meets_cold_import_target(self) -> bool:
        return self.cold_import_median_ms < TARGET_COLD_IMPORT_MS


@dataclass(frozen=True, slots=True)
class ColdStartMedians:
    import_ms: float
    import_sources_only_ms: float
    import_bare_ms: float
    first_call_ms: float
    first_keyed_request_ms: float
    botocore_import_ms: float


def cold_start_medians(runs: int) -> ColdStartMedians:
    """Medians over ``runs`` fresh interpreters of each cold-start figure (bench.edge_package)."""
    samples = cold_start_samples(runs)
    return ColdStartMedians(
        import_ms=median([figures["import_ms"] for figures in samples.with_bytecode]),
        import_sources_only_ms=median([figures["import_ms"] for figures in samples.sources_only]),
        import_bare_ms=median([figures["import_ms"] for figures in samples.bare_with_bytecode]),
        first_call_ms=median([figures["first_call_ms"] for figures in samples.with_bytecode]),
        first_keyed_request_ms=median(
            [figures["first_keyed_request_ms"] for figures in samples.with_bytecode]
        ),
        botocore_import_ms=median([figures["import_ms"] for figures in samples.botocore_alone]),
    )


class CannedTransport:
    """One credits API reply, from memory (the cheapest possible credits call); counts the calls."""

    def __init__(self, reply: Mapping[str, object]) -> None:
        self.calls = 0
        self._reply = TransportResponse(status=200, body=json.dumps(reply).encode())

    def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, deadline: float
    ) -> TransportResponse:
        self.calls += 1
        return self._reply


# The credits API's reply to an unknown key.
DENY_UNKNOWN_KEY_REPLY: Mapping[str, object] = {
    "decision": "deny",
    "reason": "invalid_api_key",
    "account_id": None,
    "price": 1,
    "charged": 0,
    "balance": None,
    "entry_id": None,
    "retry_after": None,
    "replayed": False,
}
# The credits API's allow reply.
ALLOW_REPLY: Mapping[str, object] = {
    "decision": "allow",
    "reason": None,
    "account_id": "acct_0123456789abcdef0123",
    "price": 1,
    "charged": 1,
    "balance": 41,
    "entry_id": "le_0123456789abcdef01234567",
    "retry_after": None,
    "replayed": False,
}


@dataclass(frozen=True, slots=True)
class DenialFigures:
    """Credits API calls for the same unknown-key traffic, with and without the negative cache."""

    requests: int
    distinct_keys: int
    credits_calls_cached: int
    credits_calls_uncached: int


def configure_bench_edge(transport: CreditsTransport, cache: CacheSettings | None = None) -> None:
    """A warm edge container whose credits calls go to ``transport``, signed with fixed credentials."""
    runtime.configure(
        EdgeSettings(
            credits_api=CreditsApiSettings(url=BENCH_CREDITS_URL, region="us-east-1"),
            cache=cache or CacheSettings(),
        ),
        transport=transport,
        credentials_loader=lambda: static_credentials("AKIDBENCH", "bench-secret", "bench-session-token"),
    )


def credits_calls_for_unknown_keys(requests: int, distinct_keys: int, *, cache_ttl_seconds: int) -> int:
    """Credits API calls one warm container makes for ``requests`` from ``distinct_keys`` unknown keys."""
    transport = CannedTransport(DENY_UNKNOWN_KEY_REPLY)
    configure_bench_edge(transport, CacheSettings(unknown_key_ttl_seconds=cache_ttl_seconds))
    try:
        keys = [generate_api_key() for _ in range(distinct_keys)]
        for index in range(requests):
            result = viewer_request.handler(
                viewer_request_event(keys[index % distinct_keys], f"deny-{index:08d}")
            )
            if result.get("status") != "403":
                raise RuntimeError(f"an unknown key was not refused: {result}")
    finally:
        runtime.reset_runtime()
    return transport.calls


def run_denial_bench(*, requests: int, distinct_keys: int) -> DenialFigures:
    return DenialFigures(
        requests=requests,
        distinct_keys=distinct_keys,
        credits_calls_cached=credits_calls_for_unknown_keys(
            requests, distinct_keys, cache_ttl_seconds=CacheSettings().unknown_key_ttl_seconds
        ),
        credits_calls_uncached=credits_calls_for_unknown_keys(requests, distinct_keys, cache_ttl_seconds=0),
    )


def viewer_request_event(api_key: str, request_id: str) -> dict[str, Any]:
    """A CloudFront viewer-request event for a GET with an API key (CloudFront's shape)."""
    domain = "d111111abcdef8.cloudfront.net"
    return {
        "Records": [
            {
                "cf": {
                    "config": {
                        "distributionDomainName": domain,
                        "distributionId": "EDFDVBD6EXAMPLE",
                        "eventType": "viewer-request",
                        "requestId": request_id,
                    },
                    "request": {
                        "clientIp": "203.0.113.178",
                        "headers": {
                            "host": [{"key": "Host", "value": domain}],
                            "user-agent": [{"key": "User-Agent", "value": "curl/8.5.0"}],
                            "x-api-key": [{"key": "x-api-key", "value": api_key}],
                        },
                        "method": "GET",
                        "querystring": "",
                        "uri": "/data/object-0001.bin",
                    },
                }
            }
        ]
    }


def warm_decision_microseconds(decisions: int) -> tuple[float, float]:
    """(CPU, wall) microseconds per allow decision of a warm container."""
    transport = CannedTransport(ALLOW_REPLY)
    configure_bench_edge(transport)
    try:
        api_key = generate_api_key()
        warm_up = [viewer_request_event(api_key, f"warm-{index:08d}") for index in range(200)]
        events = [viewer_request_event(api_key, f"bench-{index:08d}") for index in range(decisions)]
        for event in warm_up:
            viewer_request.handler(event)
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        for event in events:
            result = viewer_request.handler(event)
        cpu_seconds = time.process_time() - cpu_started
        wall_seconds = time.perf_counter() - wall_started
        # The last result must be the forwarded request, not a generated response.
        if "status" in result or transport.calls != len(warm_up) + decisions:
            raise RuntimeError(f"the edge did not allow: {result}")
    finally:
        runtime.reset_runtime()
    return cpu_seconds / decisions * 1e6, wall_seconds / decisions * 1e6


def run_edge_bench(*, decisions: int, import_runs: int) -> EdgeFigures:
    cpu_us, wall_us = warm_decision_microseconds(decisions)
    cold_start = cold_start_medians(import_runs)
    return EdgeFigures(
        package_zip_bytes={package: len(package_zip(package)) for package in PACKAGES},
        package_sources_only_zip_bytes={
            package: len(package_zip(package, bytecode=False)) for package in PACKAGES
        },
        cold_import_runs=import_runs,
        cold_import_median_ms=cold_start.import_ms,
        cold_import_sources_only_median_ms=cold_start.import_sources_only_ms,
        cold_import_bare_median_ms=cold_start.import_bare_ms,
        first_call_median_ms=cold_start.first_call_ms,
        first_keyed_request_median_ms=cold_start.first_keyed_request_ms,
        botocore_import_median_ms=cold_start.botocore_import_ms,
        decisions=decisions,
        cpu_microseconds_per_decision=cpu_us,
        wall_microseconds_per_decision=wall_us,
    )
