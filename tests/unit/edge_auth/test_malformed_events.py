"""Hypothesis: malformed events and headers never raise out of the handlers.

Every answer must be a well-formed CloudFront object: a generated response
(3-digit status string, description, lowercase headers of ``[{key, value}]``
string lists, a string body under 40 KB) or, for viewer-request, a forwarded
request that carries no key header.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.edge_auth import origin_response, runtime, viewer_request
from tests.unit.edge_auth.conftest import configure_edge, default_settings
from tests.unit.edge_auth.events import origin_response_event, viewer_request_event

MAX_GENERATED_RESPONSE_BYTES = 40 * 1024

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
header_names = st.sampled_from(
    ["x-api-key", "authorization", "content-length", "host", "x-edgemeter-account", "x-edgemeter-charged"]
) | st.text(max_size=20)
header_value_lists = st.one_of(
    json_values,
    st.lists(
        st.one_of(
            st.fixed_dictionaries({"key": st.text(max_size=20), "value": st.text(max_size=300)}),
            json_values,
        ),
        max_size=3,
    ),
)
malformed_headers = st.dictionaries(header_names, header_value_lists, max_size=6)


def assert_well_formed_cloudfront_response(response: Any) -> None:
    assert isinstance(response, dict)
    assert isinstance(response["status"], str)
    assert len(response["status"]) == 3
    assert response["status"].isdigit()
    assert isinstance(response["statusDescription"], str)
    headers = response["headers"]
    assert isinstance(headers, dict)
    for name, entries in headers.items():
        assert name == name.lower()
        assert isinstance(entries, list)
        for entry in entries:
            assert isinstance(entry["key"], str)
            assert isinstance(entry["value"], str)
            assert entry["key"].lower() == name
    assert isinstance(response.get("body", ""), str)
    assert len(json.dumps(response).encode()) < MAX_GENERATED_RESPONSE_BYTES


def assert_viewer_answer_well_formed(answer: Any) -> None:
    if isinstance(answer, dict) and "status" not in answer:
        # A forwarded request: only possible with a valid key, which must be gone now.
        assert "x-api-key" not in answer["headers"]
        assert "authorization" not in answer["headers"]
        return
    assert_well_formed_cloudfront_response(answer)


def _structured_event(
    headers: dict[str, Any], method: Any, uri: Any, querystring: Any, request_id: Any
) -> Any:
    event = viewer_request_event()
    cloudfront = event["Records"][0]["cf"]
    cloudfront["request"]["headers"] = headers
    cloudfront["request"]["method"] = method
    cloudfront["request"]["uri"] = uri
    cloudfront["request"]["querystring"] = querystring
    cloudfront["config"]["requestId"] = request_id
    return event


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=json_values)
def test_viewer_request_survives_arbitrary_json(event: Any) -> None:
    configure_edge(default_settings())
    try:
        assert_viewer_answer_well_formed(viewer_request.handler(event))
    finally:
        runtime.reset_runtime()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    headers=malformed_headers,
    method=st.sampled_from(["GET", "PUT", "POST", "HEAD", "get"]) | json_values,
    uri=st.sampled_from(["/bucket/a", "/", "//", "/%00"]) | json_values,
    querystring=st.text(max_size=40) | json_values,
    request_id=st.text(min_size=1, max_size=60) | json_values,
)
def test_viewer_request_survives_malformed_headers_and_fields(
    headers: dict[str, Any], method: Any, uri: Any, querystring: Any, request_id: Any
) -> None:
    edge = configure_edge(default_settings())
    try:
        edge.api.add_account("acct_fuzz", 3)
        answer = viewer_request.handler(_structured_event(headers, method, uri, querystring, request_id))
        assert_viewer_answer_well_formed(answer)
    finally:
        runtime.reset_runtime()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    extra_headers=malformed_headers,
    content_length=st.text(max_size=25),
    authorization=st.text(max_size=80),
)
def test_viewer_request_with_a_real_key_and_hostile_headers(
    extra_headers: dict[str, Any], content_length: str, authorization: str
) -> None:
    edge = configure_edge(default_settings())
    try:
        edge.api.add_account("acct_fuzz", 100)
        api_key = edge.api.issue_key("acct_fuzz")
        event = viewer_request_event(
            "PUT",
            headers={"x-api-key": api_key, "content-length": content_length, "authorization": authorization},
        )
        event["Records"][0]["cf"]["request"]["headers"].update(
            {name: value for name, value in extra_headers.items() if name != "x-api-key"}
        )
        answer = viewer_request.handler(event)
        assert_viewer_answer_well_formed(answer)
        assert api_key not in json.dumps(answer)
    finally:
        runtime.reset_runtime()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=json_values)
def test_origin_response_survives_arbitrary_json(event: Any) -> None:
    configure_edge(default_settings())
    try:
        assert_well_formed_cloudfront_response(origin_response.handler(event))
    finally:
        runtime.reset_runtime()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    request_headers=malformed_headers,
    status=st.sampled_from(["200", "404", "500", "503"]) | json_values,
    method=st.sampled_from(["GET", "PUT"]) | json_values,
)
def test_origin_response_survives_malformed_requests(
    request_headers: dict[str, Any], status: Any, method: Any
) -> None:
    configure_edge(default_settings())
    try:
        event = origin_response_event({"headers": {}, "method": "GET", "uri": "/a", "querystring": ""}, 500)
        cloudfront = event["Records"][0]["cf"]
        cloudfront["request"]["headers"] = request_headers
        cloudfront["request"]["method"] = method
        cloudfront["response"]["status"] = status
        response = origin_response.handler(event)
        # The origin's own response comes back (the same object), whatever the request looked like.
        assert response is cloudfront["response"]
        assert response["status"] is status
    finally:
        runtime.reset_runtime()
