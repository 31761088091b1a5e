"""The local CDN: CloudFront's request lifecycle on aiohttp, with an S3 origin signed like OAC.

For every viewer request:

1. viewer-request trigger (always, cache hits included; 5 s budget, 40 KB generated responses);
2. the edge cache (GET/HEAD; Range and If-None-Match are answered from a cached object);
3. origin-request trigger (if one is associated);
4. the origin: an S3 request SigV4-signed for service ``s3`` with the CDN's credentials,
   the payload streamed with ``UNSIGNED-PAYLOAD`` (what origin access control does);
5. origin-response trigger (also for CloudFront-generated 502/504 when the origin fails);
6. viewer-response trigger, which CloudFront skips when the status is 400 or more.

Bodies are streamed both ways in 1 MiB chunks with backpressure, so an object of any size
passes through in constant memory; only small, cacheable responses are buffered for the cache.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, TypeVar

import aiohttp
from aiohttp import web
from botocore.credentials import ReadOnlyCredentials
from yarl import URL

from functions.shared.cloudfront_rules import result_violations
from functions.shared.errors import ErrorCode, error_json
from functions.shared.http_methods import UPLOAD_METHODS
from functions.shared.sigv4 import SIGNING_HEADER_NAMES, sign_request
from local.cdn.cache import CachedResponse, ResponseCache, cache_key
from local.cdn.containers import (
    ORIGIN_TRIGGER_TIMEOUT_SECONDS,
    EdgeContainerPool,
    EdgeFunctionError,
    EdgeFunctionTimeout,
)
from local.cdn.events import (
    CLOUDFRONT_VIA,
    ORIGIN_GENERATED_RESPONSE_LIMIT,
    VIEWER_GENERATED_RESPONSE_LIMIT,
    CustomOriginDescription,
    DistributionConfig,
    EdgeRequest,
    EdgeResponse,
    EdgeResultError,
    EventType,
    OriginDescription,
    S3OriginDescription,
    build_request_event,
    build_response_event,
    new_request_id,
    parse_request_trigger_result,
    parse_response_trigger_result,
)

logger = logging.getLogger("edgemeter.local.cdn")

CHUNK_BYTES = 1024 * 1024

TriggerOutcome = TypeVar("TriggerOutcome")
# Headers CloudFront passes to an S3 origin (no origin request policy): conditionals, Range and,
# for uploads, the entity headers S3 stores.
_FORWARDED_TO_ORIGIN = frozenset(
    {
        "range",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "content-type",
        "content-length",
        "content-md5",
        "content-encoding",
        "content-disposition",
        "content-language",
        "cache-control",
        "expires",
    }
)
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
)
# What origin-response functions are not shown of the origin's headers: Transfer-Encoding they
# see (read-only), as on CloudFront; the CDN frames the viewer's response itself either way.
_HIDDEN_FROM_ORIGIN_RESPONSE = _HOP_BY_HOP - {"transfer-encoding"}
# Requests whose success changes the object under a key.
_WRITE_METHODS = UPLOAD_METHODS | {"DELETE"}
_CACHEABLE_METHODS = frozenset({"GET", "HEAD"})
_RANGE_PATTERN = re.compile(r"^bytes=(?P<start>\d*)-(?P<end>\d*)$")


class TriggerRunner(Protocol):
    """Runs a trigger's function (``EdgeContainerPool``; tests may run handlers in-process)."""

    async def invoke(self, event_type: str, event: dict[str, Any], *, timeout: float) -> Any: ...

    def shutdown(self) -> None: ...


@dataclass(frozen=True)
class OriginSettings:
    """Where objects come from, and who signs the requests.

    ``kind="s3"``: an S3 origin with origin access control, the CDN signs (service s3).
    ``kind="custom"``: an S3-compatible store as a custom origin with origin path ``/<bucket>``;
    the origin-request function (functions/origin_signer) signs and the CDN sends what it signed.
    """

    endpoint_url: str
    bucket: str
    region: str
    credentials: ReadOnlyCredentials
    kind: Literal["s3", "custom"] = "s3"
    timeout_seconds: float = 30.0

    def description(self) -> OriginDescription:
        url = URL(self.endpoint_url)
        if self.kind == "s3":
            return S3OriginDescription(domain_name=url.host_port_subcomponent or "", region=self.region)
        return CustomOriginDescription(
            domain_name=url.raw_host or "",
            port=url.port or (443 if url.scheme == "https" else 80),
            protocol=url.scheme,
            path=f"/{self.bucket}",
            read_timeout=int(self.timeout_seconds),
        )


@dataclass(frozen=True)
class OriginGroup:
    """A CloudFront origin group: the primary is ``LocalCdn.origin``, this is the secondary.

    A GET, HEAD or OPTIONS whose primary answer has one of ``status_codes`` (or whose primary
    cannot be reached or times out) is sent again to the secondary, and the origin-facing
    triggers run again for it (docs/decisions.md, "Edge").
    """

    secondary: OriginSettings
    status_codes: frozenset[int] = frozenset({500, 502, 503, 504, 404})


@dataclass(frozen=True)
class _OriginFetch:
    """One viewer request on its way to an origin, and its cache key."""

    http_request: web.Request
    request_id: str
    request: EdgeRequest
    key: str


class _FailedOver:
    """The primary's answer was a failover: the secondary is asked next."""


_FAILED_OVER = _FailedOver()
_FAILOVER_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _without(headers: list[tuple[str, str]], names: frozenset[str]) -> list[tuple[str, str]]:
    return [(key, value) for key, value in headers if key.lower() not in names]


class LocalCdn:
    def __init__(
        self,
        *,
        origin: OriginSettings,
        triggers: frozenset[EventType],
        cache: ResponseCache,
        containers: TriggerRunner | EdgeContainerPool,
        viewer_timeout_seconds: float,
        distribution_domain_name: str,
        origin_group: OriginGroup | None = None,
    ) -> None:
        self.origin = origin
        self.origin_group = origin_group
        self.triggers = triggers  # the event types with an associated function
        self.cache = cache
        self.containers = containers
        self.viewer_timeout_seconds = viewer_timeout_seconds
        self.distribution = DistributionConfig(distribution_domain_name=distribution_domain_name)
        self._session: aiohttp.ClientSession | None = None

    # ----------------------------------------------------------------- app wiring

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_startup.append(self._open_session)
        app.on_cleanup.append(self._close_session)
        return app

    async def _open_session(self, app: web.Application) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=512),
            # Bytes go through verbatim: CloudFront does not decode what the origin sends.
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(
                total=None, connect=self.origin.timeout_seconds, sock_read=self.origin.timeout_seconds
            ),
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
        )

    async def _close_session(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()
        self.containers.shutdown()

    # ----------------------------------------------------------------- lifecycle

    async def handle(self, http_request: web.Request) -> web.StreamResponse:
        request_id = new_request_id()
        viewer_request = EdgeRequest(
            method=http_request.method,
            uri=http_request.raw_path.split("?", 1)[0],
            querystring=http_request.query_string,
            client_ip=http_request.remote or "127.0.0.1",
            headers=[(name, value) for name, value in http_request.headers.items()],
        )

        # 1. viewer-request: runs on every request, cache hits included.
        outcome = await self._request_trigger(
            EventType.VIEWER_REQUEST,
            request_id,
            viewer_request,
        )
        if isinstance(outcome, EdgeResponse):
            # Generated by the function: not cached, viewer-response does not run for >= 400.
            return await self._send_generated(http_request, request_id, outcome, "LambdaGeneratedResponse")
        edge_request = _with_cloudfront_via(outcome)

        # 2. the cache.
        key = cache_key(
            edge_request.uri,
            edge_request.querystring,
            include_query_string=self.cache.policy.include_query_string,
        )
        if edge_request.method in _CACHEABLE_METHODS:
            cached = self.cache.get(key)
            if cached is not None:
                return await self._send_cached(http_request, request_id, edge_request, cached)

        # 3. origin-request, 4. the origin (or the origin group), 5. origin-response, 6. viewer-response.
        fetch = _OriginFetch(http_request, request_id, edge_request, key)
        group = self.origin_group if edge_request.method in _FAILOVER_METHODS else None
        answer = await self._through_origin(fetch, self.origin, group)
        if isinstance(answer, _FailedOver):
            assert group is not None  # only a primary with a group fails over
            answer = await self._through_origin(fetch, group.secondary, None)
        assert not isinstance(answer, _FailedOver)  # the secondary's answer is final
        return answer

    async def _through_origin(
        self, fetch: _OriginFetch, origin: OriginSettings, failover: OriginGroup | None
    ) -> web.StreamResponse | _FailedOver:
        """Origin-request, one origin, origin-response; with ``failover``, a failover answer is
        not sent to the viewer (its origin-response still runs, as on CloudFront)."""
        outcome = await self._request_trigger(
            EventType.ORIGIN_REQUEST, fetch.request_id, fetch.request, origin
        )
        if isinstance(outcome, EdgeResponse):
            return await self._send_generated(
                fetch.http_request, fetch.request_id, outcome, "LambdaGeneratedResponse"
            )
        return await self._fetch_from_origin(replace(fetch, request=outcome), origin, failover)

    async def _request_trigger(
        self,
        event_type: EventType,
        request_id: str,
        request: EdgeRequest,
        origin: OriginSettings | None = None,
    ) -> EdgeRequest | EdgeResponse:
        if event_type not in self.triggers:
            return request
        generated_limit = _generated_response_limit(event_type)
        description = origin.description() if origin is not None else None
        event = build_request_event(event_type, self.distribution, request_id, request, description)
        return await self._invoke_trigger(
            event_type,
            request_id,
            event,
            lambda result: parse_request_trigger_result(result, request, generated_limit=generated_limit),
        )

    async def _response_trigger(
        self,
        event_type: EventType,
        request_id: str,
        request: EdgeRequest,
        response: EdgeResponse,
        origin: OriginSettings | None = None,
    ) -> EdgeResponse:
        if event_type not in self.triggers:
            return response
        generated_limit = _generated_response_limit(event_type)
        description = origin.description() if origin is not None else None
        event = build_response_event(
            event_type, self.distribution, request_id, request=request, response=response, origin=description
        )
        return await self._invoke_trigger(
            event_type,
            request_id,
            event,
            lambda result: parse_response_trigger_result(result, response, generated_limit=generated_limit),
        )

    async def _invoke_trigger(
        self,
        event_type: EventType,
        request_id: str,
        event: dict[str, Any],
        parse_result: Callable[[Any], TriggerOutcome],
    ) -> TriggerOutcome | EdgeResponse:
        """Run a trigger in a container; a failed or overrunning function is CloudFront's 503
        LambdaExecutionError, a result that breaks CloudFront's rules (the table in
        functions/shared/cloudfront_rules.py) its 502 LambdaValidationError."""
        timeout = (
            self.viewer_timeout_seconds if _is_viewer_trigger(event_type) else ORIGIN_TRIGGER_TIMEOUT_SECONDS
        )
        try:
            result = await self.containers.invoke(str(event_type), event, timeout=timeout)
            violations = result_violations(event_type, event["Records"][0]["cf"], result)
            if violations:
                raise EdgeResultError("; ".join(violations))
            return parse_result(result)
        except (EdgeFunctionError, EdgeFunctionTimeout) as error:
            logger.warning("%s failed for %s: %s", event_type, request_id, error)
            return _cdn_error(503, "LambdaExecutionError", str(error))
        except EdgeResultError as error:
            logger.warning("%s returned an invalid result for %s: %s", event_type, request_id, error)
            return _cdn_error(502, "LambdaValidationError", str(error))

    # ----------------------------------------------------------------- origin

    @staticmethod
    def _origin_url(request: EdgeRequest, origin: OriginSettings) -> str:
        # Path-style S3 URL; the URI is already percent-encoded and is signed verbatim.
        description = origin.description()
        if isinstance(description, CustomOriginDescription):
            query = f"?{request.querystring}" if request.querystring else ""
            return (
                f"{description.protocol}://{description.domain_name}:{description.port}"
                f"{description.path}{request.uri}{query}"
            )
        return f"{origin.endpoint_url.rstrip('/')}/{origin.bucket}{request.uri}"

    def _origin_headers(self, request: EdgeRequest, request_id: str) -> dict[str, str]:
        """The headers CloudFront sends the origin: the forwarded viewer headers, the function's
        signature (custom origins), and its own request id and Via."""
        headers: dict[str, str] = {}
        for name, value in request.headers:
            lowered = name.lower()
            if (
                lowered in _FORWARDED_TO_ORIGIN
                or lowered.startswith("x-amz-")
                or lowered in SIGNING_HEADER_NAMES
            ):
                headers[lowered] = value
        # CloudFront adds X-Amz-Cf-Id to every origin request, custom origins included, after the
        # origin-request function ran; the origin signer signs that value (docs/decisions.md),
        # which a strict S3-compatible store (SeaweedFS) checks.
        headers["x-amz-cf-id"] = request_id
        headers["via"] = request.header("via") or CLOUDFRONT_VIA
        headers["x-forwarded-for"] = request.client_ip
        return headers

    async def _fetch_from_origin(
        self, fetch: _OriginFetch, origin: OriginSettings, failover: OriginGroup | None
    ) -> web.StreamResponse | _FailedOver:
        assert self._session is not None, "the app's startup opened the session"
        request = fetch.request
        url = self._origin_url(request, origin)
        headers = self._signed_origin_headers(request, fetch.request_id, url, origin)
        has_body = fetch.http_request.body_exists and request.method in UPLOAD_METHODS
        body: AsyncIterator[bytes] | None = _stream_body(fetch.http_request) if has_body else None
        if not has_body and request.method in UPLOAD_METHODS:
            headers.setdefault("content-length", "0")
        try:
            origin_response = await self._session.request(
                request.method, URL(url, encoded=True), headers=headers, data=body, allow_redirects=False
            )
        except (TimeoutError, aiohttp.ClientError) as error:
            if failover is not None:
                return _FAILED_OVER  # CloudFront fails over when the primary is unreachable or slow
            failure = (
                _cdn_error(504, "OriginTimeout", "the origin did not answer in time")
                if isinstance(error, TimeoutError)
                else _cdn_error(502, "OriginConnectError", f"the origin could not be reached: {error}")
            )
            return await self._finish_with_failure(fetch, failure, origin)
        async with origin_response:
            return await self._answer_from_origin(fetch, origin_response, origin, failover)

    def _signed_origin_headers(
        self, request: EdgeRequest, request_id: str, url: str, origin: OriginSettings
    ) -> dict[str, str]:
        origin_headers = self._origin_headers(request, request_id)
        if origin.kind != "s3":
            # A custom origin gets exactly what the origin-request function signed.
            return origin_headers
        # Origin access control: CloudFront signs for S3, the payload streamed unsigned.
        return sign_request(
            request.method,
            url,
            origin_headers,
            b"",
            origin.credentials,
            origin.region,
            "s3",
            sign_payload=False,
        )

    async def _answer_from_origin(
        self,
        fetch: _OriginFetch,
        origin_response: aiohttp.ClientResponse,
        origin: OriginSettings,
        failover: OriginGroup | None,
    ) -> web.StreamResponse | _FailedOver:
        request, request_id = fetch.request, fetch.request_id
        response = EdgeResponse(
            status=origin_response.status,
            status_description=origin_response.reason or "",
            headers=_without(
                [
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in origin_response.raw_headers
                ],
                _HIDDEN_FROM_ORIGIN_RESPONSE,
            ),
        )
        response = await self._response_trigger(
            EventType.ORIGIN_RESPONSE, request_id, request, response, origin
        )
        if failover is not None and origin_response.status in failover.status_codes:
            return _FAILED_OVER
        response = await self._viewer_response(request_id, request, response)
        if response.body is not None:
            return await self._send_generated(fetch.http_request, request_id, response, "Miss")
        if request.method in _WRITE_METHODS and response.status < 300:
            # Read-after-write for local development (CloudFront would keep serving the old copy).
            self.cache.invalidate(fetch.key)
        return await self._stream_origin_body(
            fetch.http_request,
            request_id,
            request,
            response=response,
            origin_response=origin_response,
            key=fetch.key,
        )

    async def _finish_with_failure(
        self, fetch: _OriginFetch, failure: EdgeResponse, origin: OriginSettings
    ) -> web.StreamResponse:
        # origin-response runs on CloudFront's own 502/504 too: that is where refunds happen.
        response = await self._response_trigger(
            EventType.ORIGIN_RESPONSE,
            fetch.request_id,
            fetch.request,
            EdgeResponse(failure.status, failure.status_description, failure.headers),
            origin,
        )
        if response.body is None:
            response.body = failure.body
        return await self._send_generated(fetch.http_request, fetch.request_id, response, "Error")

    async def _viewer_response(
        self, request_id: str, request: EdgeRequest, response: EdgeResponse
    ) -> EdgeResponse:
        if response.status >= 400:
            return response  # CloudFront does not run viewer-response for these.
        return await self._response_trigger(
            EventType.VIEWER_RESPONSE,
            request_id,
            request,
            response,
        )

    async def _stream_origin_body(
        self,
        http_request: web.Request,
        request_id: str,
        request: EdgeRequest,
        *,
        response: EdgeResponse,
        origin_response: aiohttp.ClientResponse,
        key: str,
    ) -> web.StreamResponse:
        declared_length = response.header("content-length")
        content_length = int(declared_length) if declared_length and declared_length.isdigit() else None
        cacheable = (
            request.method == "GET"
            and response.status == 200
            and request.header("range") is None
            and self.cache.can_store(content_length)
        )
        viewer = web.StreamResponse(status=response.status, reason=response.status_description or None)
        _apply_headers(viewer, response.headers, request_id, "Miss from cloudfront")
        if content_length is not None:
            viewer.content_length = content_length
        await viewer.prepare(http_request)
        buffered: list[bytes] | None = [] if cacheable else None
        received = 0
        if http_request.method != "HEAD":
            async for chunk in origin_response.content.iter_chunked(CHUNK_BYTES):
                received += len(chunk)
                if buffered is not None:
                    buffered.append(chunk)
                await viewer.write(chunk)
        await viewer.write_eof()
        if buffered is not None and received == content_length:
            self.cache.put(key, response.status, response.headers, b"".join(buffered))
        return viewer

    # ----------------------------------------------------------------- replies

    async def _send_cached(
        self, http_request: web.Request, request_id: str, request: EdgeRequest, cached: CachedResponse
    ) -> web.StreamResponse:
        now = time.monotonic()
        headers = [*cached.headers, ("Age", str(cached.age_seconds(now)))]
        status, description, body = cached.status, "OK", cached.body
        if_none_match = request.header("if-none-match")
        range_header = request.header("range")
        if (
            if_none_match is not None
            and cached.etag is not None
            and _etag_matches(if_none_match, cached.etag)
        ):
            status, description, body = 304, "Not Modified", b""
            headers = _without(headers, frozenset({"content-length", "content-type"}))
        elif range_header is not None and _RANGE_PATTERN.match(range_header.strip()):
            # A Range CloudFront cannot parse as one byte range is ignored (RFC 9110): full 200.
            byte_range = _parse_single_range(range_header, len(cached.body))
            if byte_range is None:
                status, description, body = 416, "Range Not Satisfiable", b""
                headers = [
                    *_without(headers, frozenset({"content-length"})),
                    ("Content-Range", f"bytes */{len(cached.body)}"),
                ]
            else:
                start, end = byte_range
                status, description, body = 206, "Partial Content", cached.body[start : end + 1]
                headers = [
                    *_without(headers, frozenset({"content-length"})),
                    ("Content-Range", f"bytes {start}-{end}/{len(cached.body)}"),
                ]
        response = await self._viewer_response(
            request_id, request, EdgeResponse(status, description, headers)
        )
        if response.body is not None:
            return await self._send_generated(http_request, request_id, response, "Hit")
        viewer = web.StreamResponse(status=response.status, reason=response.status_description or None)
        _apply_headers(viewer, response.headers, request_id, "Hit from cloudfront")
        if status != 304:
            viewer.content_length = len(body)
        await viewer.prepare(http_request)
        if http_request.method != "HEAD" and body:
            await viewer.write(body)
        await viewer.write_eof()
        return viewer

    async def _send_generated(
        self, http_request: web.Request, request_id: str, response: EdgeResponse, cache_status: str
    ) -> web.StreamResponse:
        body = response.body or b""
        viewer = web.StreamResponse(status=response.status, reason=response.status_description or None)
        _apply_headers(viewer, response.headers, request_id, f"{cache_status} from cloudfront")
        viewer.content_length = len(body)
        await viewer.prepare(http_request)
        if http_request.method != "HEAD" and body:
            await viewer.write(body)
        await viewer.write_eof()
        return viewer


def _with_cloudfront_via(request: EdgeRequest) -> EdgeRequest:
    """The request as origin events show it: with CloudFront's own Via appended."""
    existing = request.header("via")
    via = f"{existing}, {CLOUDFRONT_VIA}" if existing else CLOUDFRONT_VIA
    headers = [(name, value) for name, value in request.headers if name.lower() != "via"]
    return EdgeRequest(
        request.method, request.uri, request.querystring, request.client_ip, [*headers, ("Via", via)]
    )


async def _stream_body(http_request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in http_request.content.iter_chunked(CHUNK_BYTES):
        yield chunk


def _apply_headers(
    viewer: web.StreamResponse, headers: list[tuple[str, str]], request_id: str, cache_status: str
) -> None:
    for name, value in headers:
        if name.lower() in _HOP_BY_HOP or name.lower() == "content-length":
            continue
        viewer.headers.add(name, value)
    viewer.headers["X-Cache"] = cache_status
    viewer.headers["X-Amz-Cf-Id"] = request_id
    viewer.headers["X-Amz-Cf-Pop"] = "LOCAL"
    viewer.headers["Via"] = CLOUDFRONT_VIA


def _is_viewer_trigger(event_type: EventType) -> bool:
    return event_type in {EventType.VIEWER_REQUEST, EventType.VIEWER_RESPONSE}


def _generated_response_limit(event_type: EventType) -> int:
    """CloudFront's size limit on a generated response: smaller for viewer triggers."""
    if _is_viewer_trigger(event_type):
        return VIEWER_GENERATED_RESPONSE_LIMIT
    return ORIGIN_GENERATED_RESPONSE_LIMIT


def _cdn_error(status: int, code: str, message: str) -> EdgeResponse:
    """A CloudFront-generated error, in the product's JSON error shape."""
    error_code = ErrorCode.SERVICE_UNAVAILABLE if status in {503, 504} else ErrorCode.INTERNAL_ERROR
    body = error_json(error_code, message, cdn_error=code).encode()
    headers = [("Content-Type", "application/json")]
    if status == 503:
        headers.append(("Retry-After", "1"))
    return EdgeResponse(status, code, headers, body)


def _etag_matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    wanted = {candidate.strip().removeprefix("W/") for candidate in if_none_match.split(",")}
    return etag.removeprefix("W/") in wanted


def _parse_single_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive for one ``bytes=`` range, or None when unsatisfiable."""
    match = _RANGE_PATTERN.match(header.strip())
    if match is None or size == 0:
        return None
    start_text, end_text = match["start"], match["end"]
    if not start_text and not end_text:
        return None
    if not start_text:
        suffix = int(end_text)
        return (max(0, size - suffix), size - 1) if suffix > 0 else None
    start = int(start_text)
    end = min(int(end_text), size - 1) if end_text else size - 1
    return (start, end) if start <= end and start < size else None
