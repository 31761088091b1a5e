"""The local credits API: the real credits Lambda behind an aiohttp server that acts as API Gateway.

Each request is checked like API Gateway's IAM authorization (a SigV4
signature made with the local credentials, verified by botocore), turned into
a REST API proxy event (local/apigateway.py), handed to the credits handler,
and its proxy response is mapped back to HTTP. API Gateway's limits apply: a
10 MB payload and a 29 s integration timeout.

The handler runs in a pool of worker processes, each one a Lambda execution
environment: it imports the handler once (cold start) and serves one event at
a time, so module-level state is as isolated as in Lambda and concurrent
requests really race at the database, as they do in AWS.

Run as a child of `local.run`: ``python -m local.credits_server``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import multiprocessing
import os
import signal
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from aiohttp import web

from functions.shared.errors import ErrorCode, error_json
from local.apigateway import (
    CallerIdentity,
    IncomingRequest,
    InvalidProxyResponse,
    LocalLambdaContext,
    ProxyResponse,
    build_proxy_event,
    parse_proxy_response,
)
from local.billing_console import ConsoleSite, LocalStaffVerifier, access_denied
from local.config import LocalConfig
from local.credits_environment import credits_handler_environment
from local.dynamodb_capacity import install_from_environment
from local.dynamodb_local import PROJECT_ROOT
from local.serving import run_service, serve_until_signalled
from local.sigv4_verify import SignatureError

logger = logging.getLogger("edgemeter.local.credits")

CREDITS_HANDLER = "functions.credits.handler:lambda_handler"
API_GATEWAY_MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS = 29.0
OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
DOCS_ASSETS_PATH = "/docs/assets"
SWAGGER_UI_DIR = PROJECT_ROOT / "node_modules" / "swagger-ui-dist"

_worker_handler: Any = None


def _load_handler(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _init_worker(environment: dict[str, str], handler_spec: str) -> None:
    """Cold start of one execution environment."""
    global _worker_handler  # noqa: PLW0603 - one handler per worker process, as in Lambda
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server, not each worker, handles Ctrl-C
    os.environ.update(environment)
    # DynamoDB as at scale when EDGEMETER_DYNAMODB_CAPACITY_SCALE asks (off by default; see
    # local/dynamodb_capacity): installed before the handler creates its DynamoDB clients.
    install_from_environment()
    _worker_handler = _load_handler(handler_spec)


def _invoke_in_worker(event: dict[str, Any], timeout_seconds: float) -> tuple[bool, Any]:
    """(True, result) or (False, error text): Lambda reports an unhandled error, never raises it."""
    try:
        context = LocalLambdaContext(timeout_seconds=timeout_seconds)
        return True, _worker_handler(event, context)
    except Exception:  # noqa: BLE001 - an unhandled function error becomes API Gateway's 502
        return False, traceback.format_exc()


_WARM_UP_ACCOUNT_ID = "acct_00000000000000000000"


_WARM_UP_ROUNDS = 10


def _warm_up_in_worker(event: dict[str, Any]) -> int:
    _invoke_in_worker(event, API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS)
    time.sleep(0.5)
    return os.getpid()


def _gateway_error(status: int, code: ErrorCode | str, message: str) -> web.Response:
    return web.Response(status=status, text=error_json(code, message), content_type="application/json")


class LocalCreditsApi:
    def __init__(self, config: LocalConfig, *, handler_spec: str = CREDITS_HANDLER) -> None:
        self.config = config
        # The local credentials, plus the billing console's read-only principal (local/billing_console.py).
        self.verifier = LocalStaffVerifier(config)
        self.pool = ProcessPoolExecutor(
            max_workers=config.credits_workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(credits_handler_environment(config), handler_spec),
        )

    async def warm_up(self) -> None:
        """Start every execution environment and run one real request in each before declaring
        readiness: a first invocation builds DynamoDB clients and connections, which must not eat
        into the edge's authorize budget of the first viewers (Lambda warms up the same way)."""
        loop = asyncio.get_running_loop()
        event = build_proxy_event(
            IncomingRequest(
                method="GET",
                path=f"/v1/accounts/{_WARM_UP_ACCOUNT_ID}",
                query=[],
                headers=[("Host", f"{self.config.host}:{self.config.credits_port}")],
                body=b"",
                source_ip=self.config.host,
                host=f"{self.config.host}:{self.config.credits_port}",
                caller=CallerIdentity(access_key_id=self.config.credentials.access_key_id),
            )
        )
        # Each warm-up holds its worker for a moment, so the pool hands them to different workers;
        # the pool starts workers lazily, so repeat until every one has served a request.
        warm_pids: set[int] = set()
        for _ in range(_WARM_UP_ROUNDS):
            warm_ups = [
                loop.run_in_executor(self.pool, _warm_up_in_worker, event)
                for _ in range(self.config.credits_workers)
            ]
            warm_pids.update(await asyncio.gather(*warm_ups))
            if len(warm_pids) >= self.config.credits_workers:
                break
        logger.info("credits execution environments warm: %s", sorted(warm_pids))

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=API_GATEWAY_MAX_PAYLOAD_BYTES)
        app.router.add_get(OPENAPI_PATH, self.openapi_document)
        app.router.add_get(DOCS_PATH, self.docs_page)
        app.router.add_static(DOCS_ASSETS_PATH, SWAGGER_UI_DIR)
        ConsoleSite(self.config).add_routes(app)  # the billing console at /console (issue 17)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_cleanup.append(self._shutdown)
        return app

    async def _shutdown(self, app: web.Application) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    async def invoke(self, event: dict[str, Any]) -> ProxyResponse:
        loop = asyncio.get_running_loop()
        try:
            succeeded, result = await asyncio.wait_for(
                loop.run_in_executor(
                    self.pool, _invoke_in_worker, event, API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS
                ),
                timeout=API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS,
            )
        except TimeoutError:
            return _integration_failure(504, "Endpoint request timed out")
        if not succeeded:
            logger.error("credits handler raised:\n%s", result)
            return _integration_failure(502, "Internal server error")
        try:
            return parse_proxy_response(result)
        except InvalidProxyResponse as error:
            logger.error("credits handler returned an invalid proxy response: %s", error)
            return _integration_failure(502, "Internal server error")

    async def handle(self, http_request: web.Request) -> web.StreamResponse:
        if (
            http_request.content_length is not None
            and http_request.content_length > API_GATEWAY_MAX_PAYLOAD_BYTES
        ):
            return _gateway_error(413, ErrorCode.PAYLOAD_TOO_LARGE, "Request Too Long")
        body = await http_request.read()
        headers = list(http_request.headers.items())
        url = f"http://{http_request.host}{http_request.raw_path}"
        try:
            caller = self.verifier.verify(method=http_request.method, url=url, headers=headers, body=body)
        except SignatureError as error:
            # API Gateway answers 403 both for a missing and a wrong signature under IAM auth.
            code = "missing_authentication_token" if error.missing else "invalid_signature"
            return _gateway_error(403, code, error.message)
        if not caller.may_call(http_request.method, http_request.path):
            return access_denied(caller, http_request.method, http_request.path)
        incoming = IncomingRequest(
            method=http_request.method,
            path=http_request.path,
            query=list(http_request.query.items()),
            headers=headers,
            body=body,
            source_ip=http_request.remote or "127.0.0.1",
            host=http_request.host,
            caller=CallerIdentity(access_key_id=caller.caller.access_key_id),
        )
        response = await self.invoke(build_proxy_event(incoming))
        reply = web.Response(status=response.status, body=response.body)
        for name, value in response.headers:
            if name.lower() not in {"content-length", "transfer-encoding", "connection"}:
                reply.headers.add(name, value)
        reply.headers["x-amzn-RequestId"] = incoming.request_id
        return reply

    async def openapi_document(self, http_request: web.Request) -> web.Response:
        """The credits service's own OpenAPI document (served without a signature, for browsing)."""
        document = await self._openapi()
        if document is None:
            return _gateway_error(
                404, ErrorCode.NOT_FOUND, "the credits service publishes no OpenAPI document"
            )
        return web.Response(text=document, content_type="application/json")

    async def docs_page(self, http_request: web.Request) -> web.Response:
        return web.Response(
            text=_SWAGGER_PAGE.replace("{openapi_path}", OPENAPI_PATH), content_type="text/html"
        )

    async def _openapi(self) -> str | None:
        loop = asyncio.get_running_loop()
        document: str | None = await loop.run_in_executor(self.pool, _openapi_in_worker)
        return document


def _openapi_in_worker() -> str | None:
    """The credits service's OpenAPI document, generated by its Powertools resolver."""
    module = sys.modules.get(CREDITS_HANDLER.partition(":")[0])
    container_api = getattr(module, "container_api", None)
    if container_api is None:
        return None
    return json.dumps(container_api().openapi())


def _integration_failure(status: int, message: str) -> ProxyResponse:
    """API Gateway's own answer when the Lambda integration fails (timeout, error, invalid result)."""
    return ProxyResponse(
        status, [("Content-Type", "application/json")], error_json(ErrorCode.INTERNAL_ERROR, message).encode()
    )


# Swagger UI from the pinned npm package (works offline), pointed at the local document.
_SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>edgemeter credits API (local)</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({url: "{openapi_path}", dom_id: "#swagger-ui"});
  </script>
</body>
</html>
"""


async def _serve(config: LocalConfig) -> None:
    api = LocalCreditsApi(config)
    await api.warm_up()
    await serve_until_signalled(api.build_app(), config.host, config.credits_port)


def main() -> None:
    run_service(_serve)


if __name__ == "__main__":
    main()
