"""The local side of the console without a browser: /console files and headers, config.json,
the local reader principal, and the staff routes both the local server and the stack use."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from console.staff_access import ADMIN_GROUP, ADMIN_ROUTES, READER_GROUP, READER_ROUTES, group_may_call
from local.billing_console import (
    LOCAL_READER_ACCESS_KEY_ID,
    LOCAL_READER_SECRET_ACCESS_KEY,
    ConsoleSite,
    LocalStaffVerifier,
    local_console_config,
)
from local.config import LocalConfig
from local.sigv4_verify import SignatureError

CONFIG = LocalConfig()
URL = "http://127.0.0.1:8081/v1/accounts/acct_0123456789abcdef0123/grants"
Client = TestClient[web.Request, web.Application]


def _serve(
    dist_dir: Path, check: Callable[[TestClient[web.Request, web.Application]], Awaitable[None]]
) -> None:
    async def run() -> None:
        app = web.Application()
        ConsoleSite(CONFIG, dist_dir=dist_dir).add_routes(app)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await check(client)

    # In a thread of its own: Playwright's sync API keeps an event loop running in this one
    # while the browser tests' session fixtures are alive.
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, run()).result()


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("<!doctype html><title>console</title>")
    (tmp_path / "app.js").write_text("console.log('app')")
    return tmp_path


def test_console_files_carry_the_strict_csp(dist: Path) -> None:
    async def check(client: Client) -> None:
        redirect = await client.get("/console?principal=reader", allow_redirects=False)
        assert redirect.status == 302
        assert redirect.headers["Location"] == "/console/?principal=reader"
        index = await client.get("/console/")
        assert index.status == 200
        assert "console" in await index.text()
        policy = index.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy
        assert "unsafe" not in policy
        assert index.headers["X-Content-Type-Options"] == "nosniff"
        script = await client.get("/console/app.js")
        assert script.content_type == "text/javascript"
        assert "Content-Security-Policy" in script.headers

    _serve(dist, check)


@pytest.mark.parametrize("name", ["..%2Fsecrets.txt", "missing.js", "app", ".hidden.js", "app.exe"])
def test_only_built_files_are_served(dist: Path, name: str) -> None:
    (dist.parent / "secrets.txt").write_text("not for the browser")

    async def check(client: Client) -> None:
        response = await client.get(f"/console/{name}")
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"

    _serve(dist, check)


def test_an_unbuilt_console_says_how_to_build_it(tmp_path: Path) -> None:
    async def check(client: Client) -> None:
        response = await client.get("/console/")
        assert response.status == 503
        assert "make console" in (await response.json())["error"]["message"]

    _serve(tmp_path / "not-built", check)


def test_config_json_names_the_principal_and_its_group(dist: Path) -> None:
    async def check(client: Client) -> None:
        admin = await (await client.get("/console/config.json")).json()
        reader_reply = await client.get("/console/config.json?principal=reader")
        reader = json.loads(await reader_reply.text())
        assert reader_reply.headers["Cache-Control"] == "no-store"
        assert admin["groups"] == [ADMIN_GROUP]
        assert admin["credentials"]["accessKeyId"] == CONFIG.credentials.access_key_id
        assert reader["groups"] == [READER_GROUP]
        assert reader["credentials"] == {
            "accessKeyId": LOCAL_READER_ACCESS_KEY_ID,
            "secretAccessKey": LOCAL_READER_SECRET_ACCESS_KEY,
        }
        assert admin["apiUrl"] == CONFIG.credits_url

    _serve(dist, check)
    assert local_console_config(CONFIG, "anything else")["groups"] == [ADMIN_GROUP]


def _signed_headers(access_key_id: str, secret: str, method: str = "POST") -> list[tuple[str, str]]:
    request = AWSRequest(method=method, url=URL, data=b"{}", headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(access_key_id, secret), "execute-api", "us-east-1").add_auth(request)
    return [*request.headers.items(), ("Host", "127.0.0.1:8081")]


def test_the_local_reader_is_verified_and_held_to_the_reader_routes() -> None:
    verifier = LocalStaffVerifier(CONFIG)
    headers = _signed_headers(LOCAL_READER_ACCESS_KEY_ID, LOCAL_READER_SECRET_ACCESS_KEY)
    reader = verifier.verify(method="POST", url=URL, headers=headers, body=b"{}")
    assert reader.group == READER_GROUP
    assert not reader.may_call("POST", "/v1/accounts/acct_0123456789abcdef0123/grants")
    assert reader.may_call("GET", "/v1/accounts/acct_0123456789abcdef0123/ledger")

    admin_headers = _signed_headers(CONFIG.credentials.access_key_id, CONFIG.credentials.secret_access_key)
    admin = verifier.verify(method="POST", url=URL, headers=admin_headers, body=b"{}")
    assert admin.group is None
    assert admin.may_call("POST", "/v1/authorize")

    forged = _signed_headers(LOCAL_READER_ACCESS_KEY_ID, "not-the-reader-secret")
    with pytest.raises(SignatureError):
        verifier.verify(method="POST", url=URL, headers=forged, body=b"{}")


@pytest.mark.parametrize(
    ("method", "path", "reader", "admin"),
    [
        ("GET", "/v1/accounts", True, True),
        ("GET", "/v1/accounts/acct_1/ledger", True, True),
        ("POST", "/v1/accounts/acct_1/grants", False, True),
        ("POST", "/v1/accounts/acct_1/keys", False, True),
        ("DELETE", "/v1/accounts/acct_1/keys/key_1", False, True),
        ("PATCH", "/v1/accounts/acct_1", False, True),
        ("PUT", "/v1/accounts/acct_1/alerts", False, True),
        ("POST", "/v1/accounts", False, False),
        ("POST", "/v1/accounts/acct_1/links", False, False),
        ("POST", "/v1/authorize", False, False),
        ("POST", "/v1/refunds", False, False),
        ("DELETE", "/v1/accounts/acct_1", False, False),
    ],
)
def test_staff_routes(method: str, path: str, reader: bool, admin: bool) -> None:
    assert group_may_call(READER_GROUP, method, path) is reader
    assert group_may_call(ADMIN_GROUP, method, path) is admin
    assert not group_may_call("Nobody", method, path)


def test_admin_routes_include_every_reader_route() -> None:
    assert set(READER_ROUTES) <= set(ADMIN_ROUTES)
