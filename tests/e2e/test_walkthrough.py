"""A new user's first session with the local system: CLI for billing, curl-like HTTP for the CDN."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import Counter

import httpx
import pytest

from functions.shared.sigv4 import sign_request, static_credentials
from tests.e2e.conftest import RunningSystem

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


def _error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def test_demo_seed_and_banner_curl_lines_work(local_system: RunningSystem, cdn: httpx.Client) -> None:
    demo = local_system.state["demo"]
    response = cdn.get("/hello.txt", headers={"x-api-key": demo["api_key"]})
    assert response.status_code == 200
    assert response.text.startswith("Hello from edgemeter")
    assert local_system.balance(demo["account_id"]) == demo["balance"] - 1


def test_upload_then_download_is_charged_and_ledgered(local_system: RunningSystem, cdn: httpx.Client) -> None:
    account_id, _, api_key = local_system.new_account(credits=20)
    body = os.urandom(MIB + MIB // 2)  # 1.5 MiB: 1 credit + 2 started MiB

    upload = cdn.put("/walkthrough/blob.bin", content=body, headers={"x-api-key": api_key})
    assert upload.status_code == 200, upload.text
    download = cdn.get("/walkthrough/blob.bin", headers={"x-api-key": api_key})
    assert download.status_code == 200
    assert hashlib.sha256(download.content).digest() == hashlib.sha256(body).digest()
    head = cdn.head("/walkthrough/blob.bin", headers={"Authorization": f"Bearer {api_key}"})
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == len(body)

    assert local_system.balance(account_id) == 20 - 3 - 1 - 1
    ledger = local_system.ledger(account_id)
    assert sorted((entry["kind"], entry["amount"], entry["method"]) for entry in ledger) == sorted(
        [("grant", 20, None), ("charge", -3, "PUT"), ("charge", -1, "GET"), ("charge", -1, "HEAD")]
    )
    upload_entry = next(entry for entry in ledger if entry["method"] == "PUT")
    assert upload_entry["path"] == "/walkthrough/blob.bin"
    assert upload_entry["bytes"] == len(body)
    assert sum(entry["amount"] for entry in ledger) == local_system.balance(account_id)
    paged = local_system.cli_json("ledger", account_id, "--all", "--limit", "2")["entries"]
    assert [entry["entry_id"] for entry in paged] == [entry["entry_id"] for entry in ledger]
    first_page = local_system.cli_json("ledger", account_id, "--limit", "2")
    assert len(first_page["entries"]) == 2
    assert first_page["next_cursor"]
    long_ago = local_system.cli_json("ledger", account_id, "--from", "2000-01-01", "--to", "2000-01-02")
    assert long_ago["entries"] == []
    usage = local_system.cli_json("usage", account_id, "--from", "1h")
    assert (usage["uploads"], usage["downloads"], usage["credits_spent"]) == (1, 2, 5)


def test_no_key_is_401_with_challenge(cdn: httpx.Client) -> None:
    response = cdn.get("/hello.txt")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "ApiKey"
    assert _error_code(response) == "missing_api_key"


def test_unknown_and_revoked_keys_are_403(local_system: RunningSystem, cdn: httpx.Client) -> None:
    unknown = cdn.get("/hello.txt", headers={"x-api-key": "em_" + "A" * 43})
    assert unknown.status_code == 403
    assert _error_code(unknown) == "invalid_api_key"

    account_id, key_id, api_key = local_system.new_account(credits=5)
    assert cdn.get("/hello.txt", headers={"x-api-key": api_key}).status_code == 200
    local_system.cli_json("keys", "revoke", account_id, key_id)
    listed = local_system.cli_json("keys", "list", account_id)["keys"]
    assert [(key["key_id"], key["status"]) for key in listed] == [(key_id, "revoked")]

    revoked = cdn.get("/hello.txt", headers={"x-api-key": api_key})
    assert revoked.status_code == 403
    assert _error_code(revoked) == "revoked_api_key"
    assert local_system.balance(account_id) == 4


def test_running_out_of_credits_is_402_with_balance_and_price(
    local_system: RunningSystem, cdn: httpx.Client
) -> None:
    account_id, _, api_key = local_system.new_account(credits=2)
    statuses = [cdn.get("/data/sample.json", headers={"x-api-key": api_key}).status_code for _ in range(2)]
    assert statuses == [200, 200]
    refused = cdn.get("/data/sample.json", headers={"x-api-key": api_key})
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert (error["code"], error["balance"], error["price"]) == ("insufficient_credits", 0, 1)
    assert local_system.balance(account_id) == 0


def test_origin_5xx_is_passed_through_and_refunded(local_system: RunningSystem, cdn: httpx.Client) -> None:
    account_id, _, api_key = local_system.new_account(credits=10)
    failed = cdn.get("/_faults/503/broken.bin", headers={"x-api-key": api_key})
    assert failed.status_code == 503
    assert failed.headers["x-edgemeter-refunded"] == "1"
    assert local_system.balance(account_id) == 10
    kinds = Counter((entry["kind"], entry["amount"]) for entry in local_system.ledger(account_id))
    assert kinds == Counter({("grant", 10): 1, ("charge", -1): 1, ("refund", 1): 1})


def test_cache_hits_still_run_viewer_request_and_serve_ranges_and_304(
    local_system: RunningSystem, cdn: httpx.Client
) -> None:
    account_id, _, api_key = local_system.new_account(credits=10)
    headers = {"x-api-key": api_key}
    first = cdn.get("/media/1mib.bin", headers=headers)
    second = cdn.get("/media/1mib.bin", headers=headers)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.headers["x-cache"] == "Hit from cloudfront"
    assert second.content == first.content

    ranged = cdn.get("/media/1mib.bin", headers={**headers, "Range": "bytes=100-199"})
    assert ranged.status_code == 206
    assert ranged.content == first.content[100:200]
    assert ranged.headers["content-range"] == f"bytes 100-199/{MIB}"

    not_modified = cdn.get("/media/1mib.bin", headers={**headers, "If-None-Match": first.headers["etag"]})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    # Every request ran viewer-request and was charged, cache hit or not.
    assert local_system.balance(account_id) == 10 - 4
    # The cache key holds no API key: another account's request is served from the same entry.
    _, _, other_key = local_system.new_account(credits=1)
    other = cdn.get("/media/1mib.bin", headers={"x-api-key": other_key})
    assert other.headers["x-cache"] == "Hit from cloudfront"
    assert other.content == first.content


def test_200_concurrent_downloads_with_balance_50(local_system: RunningSystem) -> None:
    account_id, _, api_key = local_system.new_account(credits=50)

    async def download_all() -> list[int]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(
            base_url=local_system.cdn_url, timeout=120, limits=limits, trust_env=False
        ) as client:
            responses = await asyncio.gather(
                *(client.get("/hello.txt", headers={"x-api-key": api_key}) for _ in range(200))
            )
        return [response.status_code for response in responses]

    statuses = Counter(asyncio.run(download_all()))
    assert statuses == Counter({200: 50, 402: 150})
    ledger = local_system.ledger(account_id)
    charges = [entry["amount"] for entry in ledger if entry["kind"] == "charge"]
    assert len(charges) == 50
    assert sum(charges) == -50
    assert sum(entry["amount"] for entry in ledger) == local_system.balance(account_id) == 0


def test_credits_api_requires_a_sigv4_signature(local_system: RunningSystem) -> None:
    with httpx.Client(base_url=local_system.credits_url, timeout=30, trust_env=False) as client:
        unsigned = client.get(f"/v1/accounts/{local_system.state['demo']['account_id']}")
        url = f"{local_system.credits_url}/v1/accounts/{local_system.state['demo']['account_id']}"
        wrong_secret = client.get(
            url,
            headers=sign_request(
                "GET", url, {}, b"", static_credentials("local", "wrong"), "us-east-1", "execute-api"
            ),
        )
        right_secret = client.get(
            url,
            headers=sign_request(
                "GET", url, {}, b"", static_credentials("local", "local"), "us-east-1", "execute-api"
            ),
        )
        openapi = client.get("/openapi.json")
        docs = client.get("/docs")
        swagger_script = client.get("/docs/assets/swagger-ui-bundle.js")
    assert unsigned.status_code == 403
    assert wrong_secret.status_code == 403
    assert "signature" in wrong_secret.json()["error"]["message"]
    assert right_secret.status_code == 200
    assert openapi.status_code == 200
    assert "/v1/accounts/{account_id}/ledger" in openapi.json()["paths"]
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    # The page works offline: its assets come from the local server, not a public CDN.
    assert "https://" not in docs.text
    assert swagger_script.status_code == 200
    assert "SwaggerUIBundle" in swagger_script.text


def test_cli_reports_errors_with_exit_codes(local_system: RunningSystem) -> None:
    missing = local_system.cli("accounts", "show", "acct_00000000000000000000")
    assert missing.returncode == 1
    assert "not_found" in missing.stderr

    unreachable = local_system.cli("balance", "acct_00000000000000000000", api="http://127.0.0.1:9")
    assert unreachable.returncode == 3
    assert "cannot reach the credits API" in unreachable.stderr

    invalid = local_system.cli("grant", "acct_00000000000000000000", "0")
    assert invalid.returncode == 2
