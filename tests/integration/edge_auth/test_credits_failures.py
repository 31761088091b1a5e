"""The edge against a real loopback credits API: failures give 503 + Retry-After within the budget.

"Within the budget" is shown without timing assertions: the misbehaving server
is still holding the request (hanging or trickling, released only at teardown)
when the handler has already answered, so the handler gave up by its own
deadline, not because the server let go. Elapsed times are printed for eyes.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from functions.edge_auth import origin_response, runtime, viewer_request
from functions.edge_auth.settings import CreditsApiSettings, EdgeSettings
from functions.shared.sigv4 import static_credentials
from tests.integration.edge_auth.credits_server import LOOPBACK, CreditsServer
from tests.unit.edge_auth.events import origin_response_event, response_header, viewer_request_event
from tests.unit.edge_auth.fake_credits import FakeCreditsApi

BUDGET_MS = 300


@dataclass
class LiveEdge:
    server: CreditsServer
    api: FakeCreditsApi
    api_key: str


def edge_settings(url: str) -> EdgeSettings:
    return EdgeSettings(
        credits_api=CreditsApiSettings(url=url, region="us-east-1"),
        authorize_budget_ms=BUDGET_MS,
        refund_budget_ms=BUDGET_MS,
        unavailable_retry_after_seconds=7,
    )


def configure_against(url: str) -> None:
    runtime.configure(
        edge_settings(url), credentials_loader=lambda: static_credentials("AKIDLIVE", "live-secret")
    )


@pytest.fixture
def live_edge() -> Iterator[LiveEdge]:
    api = FakeCreditsApi()
    api.add_account("acct_live", 10)
    api_key = api.issue_key("acct_live")
    server = CreditsServer(api).start()
    configure_against(server.url)
    try:
        yield LiveEdge(server=server, api=api, api_key=api_key)
    finally:
        runtime.reset_runtime()
        server.stop()


def timed_viewer_request(api_key: str) -> dict[str, object]:
    started = time.monotonic()
    answer = viewer_request.handler(viewer_request_event(headers={"x-api-key": api_key}))
    print(f"viewer-request answered in {(time.monotonic() - started) * 1000:.0f} ms (budget {BUDGET_MS} ms)")
    return answer


def assert_unavailable(answer: dict[str, object]) -> None:
    assert answer["status"] == "503"
    assert response_header(answer, "retry-after") == "7"
    assert response_header(answer, "cache-control") == "no-store"
    assert json.loads(str(answer["body"]))["error"]["code"] == "service_unavailable"


def test_allowed_over_http_reuses_one_connection(live_edge: LiveEdge) -> None:
    for _ in range(3):
        forwarded = viewer_request.handler(viewer_request_event(headers={"x-api-key": live_edge.api_key}))
        assert response_header(forwarded, "x-edgemeter-account") == "acct_live"
    assert live_edge.server.requests == 3
    assert live_edge.server.connections == 1
    assert live_edge.api.accounts["acct_live"].balance == 7
    call = live_edge.api.calls_to("/v1/authorize")[0]
    assert call.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDLIVE/")
    assert call.headers["host"] == live_edge.server.url.removeprefix("http://")


def test_stale_kept_alive_connection_is_replaced(live_edge: LiveEdge) -> None:
    live_edge.server.behaviour = "close_after_reply"
    for _ in range(3):
        forwarded = viewer_request.handler(viewer_request_event(headers={"x-api-key": live_edge.api_key}))
        assert response_header(forwarded, "x-edgemeter-charged") == "1"
    # Each reuse found the connection closed by the server and reconnected once.
    assert live_edge.server.connections == 3
    assert live_edge.api.accounts["acct_live"].balance == 7


def test_credits_api_timing_out_is_503_within_budget(
    live_edge: LiveEdge, caplog: pytest.LogCaptureFixture
) -> None:
    live_edge.server.behaviour = "hang"
    with caplog.at_level(logging.WARNING, logger="edgemeter.edge"):
        answer = timed_viewer_request(live_edge.api_key)
    assert_unavailable(answer)
    assert not live_edge.server.release.is_set()
    # The authorization, then one void (refund) of whatever it may have charged.
    assert live_edge.server.requests == 2
    assert '"cause":"timeout"' in caplog.text


def test_credits_api_trickling_bytes_is_cut_off_at_the_budget(
    live_edge: LiveEdge, caplog: pytest.LogCaptureFixture
) -> None:
    live_edge.server.behaviour = "trickle"
    with caplog.at_level(logging.WARNING, logger="edgemeter.edge"):
        answer = timed_viewer_request(live_edge.api_key)
    assert_unavailable(answer)
    assert not live_edge.server.release.is_set()
    assert '"cause":"timeout"' in caplog.text


@pytest.mark.parametrize("failure_status", [500, 502, 503, 504])
def test_credits_api_5xx_is_503(live_edge: LiveEdge, failure_status: int) -> None:
    live_edge.server.behaviour = "status"
    live_edge.server.failure_status = failure_status
    assert_unavailable(timed_viewer_request(live_edge.api_key))
    assert live_edge.api.accounts["acct_live"].balance == 10


def test_credits_api_refusing_connections_is_503(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        closed_port = probe.getsockname()[1]
    # Nothing listens on closed_port now: connecting is refused.
    configure_against(f"http://{LOOPBACK}:{closed_port}")
    try:
        with caplog.at_level(logging.WARNING, logger="edgemeter.edge"):
            answer = timed_viewer_request("em_" + "r" * 43)
        assert_unavailable(answer)
        assert '"cause":"refused"' in caplog.text
    finally:
        runtime.reset_runtime()


def test_recovers_after_an_outage(live_edge: LiveEdge) -> None:
    live_edge.server.behaviour = "status"
    assert_unavailable(timed_viewer_request(live_edge.api_key))
    live_edge.server.behaviour = "serve"
    forwarded = timed_viewer_request(live_edge.api_key)
    assert "status" not in forwarded


def test_refund_timing_out_keeps_the_origin_response(
    live_edge: LiveEdge, caplog: pytest.LogCaptureFixture
) -> None:
    forwarded = viewer_request.handler(viewer_request_event(headers={"x-api-key": live_edge.api_key}))
    live_edge.server.behaviour = "hang"
    with caplog.at_level(logging.ERROR, logger="edgemeter.edge"):
        response = origin_response.handler(origin_response_event(forwarded, 502))
    assert response["status"] == "502"
    assert response_header(response, "cache-control") == "no-store"
    assert "refund_failed" in caplog.text
    assert not live_edge.server.release.is_set()


def test_refund_over_http(live_edge: LiveEdge) -> None:
    forwarded = viewer_request.handler(viewer_request_event(headers={"x-api-key": live_edge.api_key}))
    response = origin_response.handler(origin_response_event(forwarded, 500))
    assert response_header(response, "x-edgemeter-refunded") == "1"
    assert live_edge.api.accounts["acct_live"].balance == 10


def test_concurrent_invocations_sharing_a_runtime_each_get_a_connection(live_edge: LiveEdge) -> None:
    # Lambda runs one invocation per container; the local runtime may share one across threads.
    live_edge.api.accounts["acct_live"].balance = 40
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(
                lambda _: viewer_request.handler(
                    viewer_request_event(headers={"x-api-key": live_edge.api_key})
                ),
                range(40),
            )
        )
    assert all(response_header(answer, "x-edgemeter-charged") == "1" for answer in answers)
    assert live_edge.api.accounts["acct_live"].balance == 0
    assert live_edge.server.requests == 40
    # Kept-alive connections were reused: never one per request, never more than the threads.
    assert 1 <= live_edge.server.connections <= 4
