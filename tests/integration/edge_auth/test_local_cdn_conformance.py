"""The local CDN holds triggers to CloudFront's rules (502 as CloudFront answers), shows them the
headers CloudFront shows, and forwards the body of every method the edge charges as an upload.

The CDN and a recording origin run on 127.0.0.1; the triggers run in-process (results still
cross as JSON, as from a Lambda container) against the fake credits API.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import pytest
from aiohttp import web

from functions.edge_auth import origin_response, runtime, viewer_request
from functions.edge_auth.settings import FailoverSettings
from functions.origin_signer import origin_request
from functions.origin_signer.settings import SignerSettings
from functions.shared.sigv4 import static_credentials
from local.cdn.cache import ResponseCache
from local.cdn.events import EventType
from local.cdn.server import LocalCdn, OriginGroup, OriginSettings
from local.config import CacheConfig
from local.processes import free_port
from tests.unit.edge_auth.conftest import configure_edge, default_settings

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class InProcessTriggers:
    """Runs handlers in this process; records every event each trigger was given."""

    handlers: dict[str, Handler]
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    async def invoke(self, event_type: str, event: dict[str, Any], *, timeout: float) -> Any:
        shown = json.loads(json.dumps(event))
        self.events.setdefault(event_type, []).append(copy.deepcopy(shown))
        return json.loads(json.dumps(self.handlers[event_type](shown, None)))

    def shutdown(self) -> None:
        return None


@dataclass
class RecordingOrigin:
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    # When set, every request is answered with this status and an S3-style error document.
    failure_status: int | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((request.method, request.raw_path, body))
        if self.failure_status is not None:
            return web.Response(status=self.failure_status, body=b"<Error/>", content_type="application/xml")
        if request.method == "GET":
            # Streamed without a length: the origin answers with Transfer-Encoding: chunked.
            response = web.StreamResponse(status=200, headers={"Content-Type": "application/octet-stream"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(b"object-bytes")
            await response.write_eof()
            return response
        return web.Response(status=200, body=b"")


@dataclass
class RunningCdn:
    url: str
    triggers: InProcessTriggers
    origin: RecordingOrigin


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def _running_cdn(
    handlers: dict[str, Handler], origin_kind: Literal["s3", "custom"] = "s3"
) -> AsyncIterator[RunningCdn]:
    origin = RecordingOrigin()
    origin_app = web.Application()
    origin_app.router.add_route("*", "/{tail:.*}", origin.handle)
    origin_runner, origin_url = await _serve(origin_app)
    triggers = InProcessTriggers(handlers)
    cdn = LocalCdn(
        origin=OriginSettings(
            endpoint_url=origin_url,
            bucket="bucket",
            region="us-east-1",
            credentials=static_credentials("local", "local"),
            kind=origin_kind,
        ),
        triggers=frozenset(EventType(name) for name in handlers),
        cache=ResponseCache(CacheConfig(enabled=False)),
        containers=triggers,
        viewer_timeout_seconds=5.0,
        distribution_domain_name="127.0.0.1",
    )
    cdn_runner, cdn_url = await _serve(cdn.build_app())
    try:
        yield RunningCdn(url=cdn_url, triggers=triggers, origin=origin)
    finally:
        await cdn_runner.cleanup()
        await origin_runner.cleanup()


def _run(
    handlers: dict[str, Handler],
    scenario: Callable[[RunningCdn], Any],
    origin_kind: Literal["s3", "custom"] = "s3",
) -> Any:
    async def main() -> Any:
        async for running in _running_cdn(handlers, origin_kind):
            async with httpx.AsyncClient(timeout=10) as client:
                return await scenario_with(client, running)
        return None

    async def scenario_with(client: httpx.AsyncClient, running: RunningCdn) -> Any:
        return await scenario(running)(client)

    return asyncio.run(main())


def _set_header(name: str, value: str) -> Handler:
    def handler(event: dict[str, Any], context: Any) -> Any:
        request = event["Records"][0]["cf"]["request"]
        request["headers"][name] = [{"key": name.title(), "value": value}]
        return request

    return handler


def _int_status(event: dict[str, Any], context: Any) -> Any:
    response = event["Records"][0]["cf"]["response"]
    response["status"] = int(response["status"])
    return response


def _drop_transfer_encoding(event: dict[str, Any], context: Any) -> Any:
    response = event["Records"][0]["cf"]["response"]
    response["headers"].pop("transfer-encoding", None)
    return response


def _pass_request(event: dict[str, Any], context: Any) -> Any:
    return event["Records"][0]["cf"]["request"]


def _pass_response(event: dict[str, Any], context: Any) -> Any:
    return event["Records"][0]["cf"]["response"]


@pytest.mark.parametrize(
    "handlers",
    [
        pytest.param({"viewer-request": _set_header("host", "elsewhere.example")}, id="viewer-request-host"),
        pytest.param({"viewer-request": _set_header("x-amz-cf-id", "forged")}, id="disallowed-x-amz-cf"),
        pytest.param(
            {"viewer-request": _pass_request, "origin-response": _drop_transfer_encoding},
            id="origin-response-transfer-encoding",
        ),
        pytest.param(
            {"viewer-request": _pass_request, "origin-response": _int_status}, id="status-not-a-string"
        ),
    ],
)
def test_a_trigger_breaking_cloudfronts_rules_is_answered_502(handlers: dict[str, Handler]) -> None:
    def scenario(running: RunningCdn) -> Any:
        async def go(client: httpx.AsyncClient) -> httpx.Response:
            return await client.get(f"{running.url}/object.bin")

        return go

    response = _run(handlers, scenario)
    assert response.status_code == 502
    assert response.json()["error"]["cdn_error"] == "LambdaValidationError"


def test_triggers_are_shown_transfer_encoding_and_via() -> None:
    handlers: dict[str, Handler] = {"viewer-request": _pass_request, "origin-response": _pass_response}

    def scenario(running: RunningCdn) -> Any:
        async def go(client: httpx.AsyncClient) -> tuple[httpx.Response, InProcessTriggers]:
            response = await client.get(f"{running.url}/object.bin")
            return response, running.triggers

        return go

    response, triggers = _run(handlers, scenario)
    assert response.status_code == 200
    assert response.content == b"object-bytes"
    (origin_event,) = triggers.events["origin-response"]
    record = origin_event["Records"][0]["cf"]
    assert record["response"]["headers"]["transfer-encoding"][0]["value"] == "chunked"
    assert "(CloudFront)" in record["request"]["headers"]["via"][0]["value"]


def test_a_chunked_upload_shows_transfer_encoding_to_viewer_request() -> None:
    def scenario(running: RunningCdn) -> Any:
        async def go(client: httpx.AsyncClient) -> InProcessTriggers:
            async def chunks() -> AsyncIterator[bytes]:
                yield b"abc"

            await client.put(f"{running.url}/upload.bin", content=chunks())
            return running.triggers

        return go

    triggers = _run({"viewer-request": _pass_request}, scenario)
    (event,) = triggers.events["viewer-request"]
    assert event["Records"][0]["cf"]["request"]["headers"]["transfer-encoding"][0]["value"] == "chunked"


def test_the_body_of_a_patch_the_edge_charges_as_an_upload_reaches_the_origin() -> None:
    edge = configure_edge(default_settings())
    edge.api.add_account("acct_patch", 10)
    api_key = edge.api.issue_key("acct_patch")
    handlers: dict[str, Handler] = {
        "viewer-request": viewer_request.handler,
        "origin-response": origin_response.handler,
    }

    def scenario(running: RunningCdn) -> Any:
        async def go(client: httpx.AsyncClient) -> tuple[httpx.Response, RecordingOrigin]:
            response = await client.patch(
                f"{running.url}/uploads/notes.txt", content=b"patched-bytes", headers={"x-api-key": api_key}
            )
            return response, running.origin

        return go

    try:
        response, origin = _run(handlers, scenario)
    finally:
        runtime.reset_runtime()
    assert response.status_code == 200
    assert origin.requests == [("PATCH", "/bucket/uploads/notes.txt", b"patched-bytes")]
    (charge,) = edge.api.calls_to("/v1/authorize")
    assert (charge.payload["method"], charge.payload["bytes"]) == ("PATCH", len(b"patched-bytes"))
    assert edge.api.accounts["acct_patch"].balance == 8


def test_a_long_uri_to_a_custom_origin_is_refused_before_any_charge() -> None:
    edge = configure_edge(default_settings())
    edge.api.add_account("acct_long", 10)
    api_key = edge.api.issue_key("acct_long")
    origin_request.configure(
        SignerSettings(
            credentials_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:edgemeter/origin-AbCdEf",
            credentials_secret_region="us-east-1",
        ),
        fetch_secret=lambda arn, region: '{"accessKeyId": "local", "secretAccessKey": "local"}',
    )
    handlers: dict[str, Handler] = {
        "viewer-request": viewer_request.handler,
        "origin-request": origin_request.handler,
        "origin-response": origin_response.handler,
    }

    def scenario(running: RunningCdn) -> Any:
        async def go(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response, RecordingOrigin]:
            # 3,000 '+' are 3,001 characters as sent and 9,001 once the signer spells each '%2B'.
            refused = await client.get(f"{running.url}/{'+' * 3000}", headers={"x-api-key": api_key})
            served = await client.get(f"{running.url}/{'+' * 100}", headers={"x-api-key": api_key})
            return refused, served, running.origin

        return go

    try:
        refused, served, origin = _run(handlers, scenario, origin_kind="custom")
    finally:
        origin_request.reset_runtime()
        runtime.reset_runtime()
    assert refused.status_code == 414
    assert refused.json()["error"]["code"] == "uri_too_long"
    assert served.status_code == 200
    # Only the short request was charged and reached the origin, signed and canonical.
    assert len(edge.api.calls_to("/v1/authorize")) == 1
    assert edge.api.accounts["acct_long"].balance == 9
    assert [path for _, path, _ in origin.requests] == ["/bucket/" + "%2B" * 100]


# --- an origin group: the primary fails, the secondary answers -------------------------------


def _failover_run(primary_status: int, secondary_status: int | None) -> tuple[httpx.Response, Any, Any, Any]:
    """A GET through an origin group (primary on 127.0.0.1, secondary on localhost), charged by
    the real viewer-request and refunded (or not) by the real origin-response."""
    edge = configure_edge(default_settings(failover=FailoverSettings(secondary_domain_name="localhost")))
    edge.api.add_account("acct_group", 10)
    api_key = edge.api.issue_key("acct_group")
    handlers: dict[str, Handler] = {
        "viewer-request": viewer_request.handler,
        "origin-response": origin_response.handler,
    }

    async def main() -> tuple[httpx.Response, RecordingOrigin, RecordingOrigin, InProcessTriggers]:
        primary, secondary = (
            RecordingOrigin(failure_status=primary_status),
            RecordingOrigin(failure_status=secondary_status),
        )
        runners = []
        urls = []
        for origin in (primary, secondary):
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", origin.handle)
            runner, url = await _serve(app)
            runners.append(runner)
            urls.append(url)
        triggers = InProcessTriggers(handlers)
        credentials = static_credentials("local", "local")
        cdn = LocalCdn(
            origin=OriginSettings(
                endpoint_url=urls[0], bucket="bucket", region="us-east-1", credentials=credentials
            ),
            origin_group=OriginGroup(
                secondary=OriginSettings(
                    endpoint_url=urls[1].replace("127.0.0.1", "localhost"),
                    bucket="mirror",
                    region="us-east-1",
                    credentials=credentials,
                    kind="custom",
                )
            ),
            triggers=frozenset(EventType(name) for name in handlers),
            cache=ResponseCache(CacheConfig(enabled=False)),
            containers=triggers,
            viewer_timeout_seconds=5.0,
            distribution_domain_name="127.0.0.1",
        )
        cdn_runner, cdn_url = await _serve(cdn.build_app())
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.get(f"{cdn_url}/media/a.mp4", headers={"x-api-key": api_key})
        finally:
            await cdn_runner.cleanup()
            for runner in runners:
                await runner.cleanup()
        return response, primary, secondary, triggers

    try:
        response, primary, secondary, triggers = asyncio.run(main())
    finally:
        runtime.reset_runtime()
    return response, edge, (primary, secondary), triggers


def test_origin_group_primary_fails_and_the_secondary_serves_without_a_refund() -> None:
    response, edge, (primary, secondary), triggers = _failover_run(503, None)
    assert response.status_code == 200
    assert response.content == b"object-bytes"
    assert [path for _, path, _ in primary.requests] == ["/bucket/media/a.mp4"]
    assert [path for _, path, _ in secondary.requests] == ["/mirror/media/a.mp4"]
    # origin-response ran twice (primary, secondary), as CloudFront runs it under an origin group.
    assert len(triggers.events["origin-response"]) == 2
    assert edge.api.calls_to("/v1/refunds") == []
    assert edge.api.accounts["acct_group"].balance == 9


def test_origin_group_both_fail_the_viewer_gets_the_secondarys_answer_refunded() -> None:
    response, edge, (primary, secondary), _ = _failover_run(404, 404)
    assert response.status_code == 404
    assert response.headers["x-edgemeter-refunded"] == "1"
    assert (len(primary.requests), len(secondary.requests)) == (1, 1)
    assert [call.payload["reason"] for call in edge.api.calls_to("/v1/refunds")] == ["origin_404"]
    assert edge.api.accounts["acct_group"].balance == 10
