"""CloudFront event documents, trigger-result validation and the edge cache (no network)."""

from __future__ import annotations

import base64

import pytest

from local.cdn.cache import ResponseCache, cache_key, ttl_seconds
from local.cdn.events import (
    VIEWER_GENERATED_RESPONSE_LIMIT,
    CustomOriginDescription,
    DistributionConfig,
    EdgeRequest,
    EdgeResponse,
    EdgeResultError,
    EventType,
    S3OriginDescription,
    build_request_event,
    build_response_event,
    parse_request_trigger_result,
    parse_response_trigger_result,
)
from local.config import CacheConfig

DISTRIBUTION = DistributionConfig(distribution_domain_name="127.0.0.1:8080")


def _request() -> EdgeRequest:
    return EdgeRequest(
        method="GET",
        uri="/a%20b.txt",
        querystring="x=1",
        client_ip="127.0.0.1",
        headers=[("Host", "127.0.0.1:8080"), ("X-Api-Key", "em_secret"), ("Connection", "keep-alive")],
    )


def test_viewer_request_event_has_cloudfronts_shape_without_hop_by_hop_headers() -> None:
    event = build_request_event(EventType.VIEWER_REQUEST, DISTRIBUTION, "req-1", _request())
    record = event["Records"][0]["cf"]
    assert record["config"] == {
        "distributionDomainName": "127.0.0.1:8080",
        "distributionId": "EDGEMETERLOCAL",
        "eventType": "viewer-request",
        "requestId": "req-1",
    }
    assert record["request"] == {
        "clientIp": "127.0.0.1",
        "headers": {
            "host": [{"key": "Host", "value": "127.0.0.1:8080"}],
            "x-api-key": [{"key": "X-Api-Key", "value": "em_secret"}],
        },
        "method": "GET",
        "querystring": "x=1",
        "uri": "/a%20b.txt",
    }


def test_origin_events_carry_the_origin_object() -> None:
    s3 = build_request_event(
        EventType.ORIGIN_REQUEST,
        DISTRIBUTION,
        "r",
        _request(),
        S3OriginDescription(domain_name="127.0.0.1:9000", region="us-east-1"),
    )
    assert s3["Records"][0]["cf"]["request"]["origin"]["s3"]["domainName"] == "127.0.0.1:9000"
    custom = build_response_event(
        EventType.ORIGIN_RESPONSE,
        DISTRIBUTION,
        "r",
        request=_request(),
        response=EdgeResponse(503, "Service Unavailable", [("Content-Type", "application/xml")]),
        origin=CustomOriginDescription(domain_name="127.0.0.1", port=9333, protocol="http", path="/bucket"),
    )
    record = custom["Records"][0]["cf"]
    assert record["response"]["status"] == "503"
    assert record["request"]["origin"]["custom"]["path"] == "/bucket"


def test_a_generated_response_over_40_kb_is_rejected() -> None:
    small = {"status": "403", "body": "x" * 100, "headers": {}}
    assert isinstance(
        parse_request_trigger_result(small, _request(), generated_limit=VIEWER_GENERATED_RESPONSE_LIMIT),
        EdgeResponse,
    )
    large = {"status": "403", "body": "x" * (VIEWER_GENERATED_RESPONSE_LIMIT + 1)}
    with pytest.raises(EdgeResultError, match="limit"):
        parse_request_trigger_result(large, _request(), generated_limit=VIEWER_GENERATED_RESPONSE_LIMIT)


@pytest.mark.parametrize(
    "result",
    [
        "not an object",
        {"status": "99"},
        {"status": "200", "bodyEncoding": "gzip", "body": ""},
        {"status": "200", "bodyEncoding": "base64", "body": "***"},
        {"uri": "no-slash"},
        {"method": "POST", "uri": "/a"},
        {"uri": "/a", "headers": {"x-a": [{"key": "X-B", "value": "1"}]}},
    ],
)
def test_invalid_trigger_results_are_rejected(result: object) -> None:
    with pytest.raises(EdgeResultError):
        parse_request_trigger_result(result, _request(), generated_limit=VIEWER_GENERATED_RESPONSE_LIMIT)


def test_a_modified_request_and_a_replaced_response_body_are_read_back() -> None:
    forwarded = parse_request_trigger_result(
        {"uri": "/b", "querystring": "", "headers": {"host": [{"key": "Host", "value": "h"}]}},
        _request(),
        generated_limit=VIEWER_GENERATED_RESPONSE_LIMIT,
    )
    assert isinstance(forwarded, EdgeRequest)
    assert (forwarded.uri, forwarded.headers) == ("/b", [("Host", "h")])
    original = EdgeResponse(200, "OK", [("ETag", '"e"')])
    untouched = parse_response_trigger_result({"status": "200"}, original, generated_limit=1024)
    assert untouched.body is None
    assert untouched.headers == original.headers
    replaced = parse_response_trigger_result(
        {"status": "500", "body": base64.b64encode(b"\x00\x01").decode(), "bodyEncoding": "base64"},
        original,
        generated_limit=1024,
    )
    assert (replaced.status, replaced.body) == (500, b"\x00\x01")


def test_cache_key_never_contains_headers_or_credential_parameters() -> None:
    assert cache_key("/a", "api_key=em_x&b=2", include_query_string=True) == "/a?b=2"
    assert cache_key("/a", "b=2&a=1", include_query_string=True) == "/a?a=1&b=2"
    assert cache_key("/a", "b=2", include_query_string=False) == "/a"


@pytest.mark.parametrize(
    ("cache_control", "expected"),
    [
        ("max-age=60", 60),
        ("s-maxage=30, max-age=60", 30),
        ("no-store", 0),
        ("private, max-age=60", 0),
        ("max-age=999999999", 1000),
        (None, 500),
    ],
)
def test_ttl_comes_from_headers_within_the_policy(cache_control: str | None, expected: int) -> None:
    policy = CacheConfig(default_ttl_seconds=500, min_ttl_seconds=0, max_ttl_seconds=1000)
    headers = [("Cache-Control", cache_control)] if cache_control else []
    assert ttl_seconds(headers, policy, now=0.0) == expected


def test_cache_evicts_least_recently_used_under_its_size_cap_and_expires_entries() -> None:
    now = [0.0]
    cache = ResponseCache(CacheConfig(max_bytes=25, max_object_bytes=10), clock=lambda: now[0])
    for key in ("a", "b"):
        assert cache.put(key, 200, [("Cache-Control", "max-age=10")], b"x" * 10)
    assert cache.get("a") is not None  # "b" is now the least recently used
    assert cache.put("c", 200, [("Cache-Control", "max-age=10")], b"x" * 10)
    assert sorted(cache.keys()) == ["a", "c"]
    assert cache.size_bytes == 20
    assert not cache.put("big", 200, [], b"x" * 11)  # over max_object_bytes
    now[0] = 11.0
    assert cache.get("a") is None
    assert cache.evictions == 1
