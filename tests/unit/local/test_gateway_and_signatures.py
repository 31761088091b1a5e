"""API Gateway proxy events and SigV4 verification of the local credits API (no network)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from cli.main import parse_time
from functions.shared.sigv4 import sign_request, static_credentials
from local.apigateway import (
    CallerIdentity,
    IncomingRequest,
    InvalidProxyResponse,
    build_proxy_event,
    parse_proxy_response,
)
from local.sigv4_verify import SignatureError, SigV4Verifier

URL = "http://127.0.0.1:8081/v1/accounts?limit=5&cursor=abc"
VERIFIER = SigV4Verifier(access_key_id="local", secret_access_key="local")


def _signed(secret: str = "local", body: bytes = b'{"name":"x"}') -> dict[str, str]:  # noqa: S107 - the public local placeholder
    return sign_request(
        "POST",
        URL,
        {"content-type": "application/json"},
        body,
        static_credentials("local", secret),
        "us-east-1",
        "execute-api",
    )


def test_a_botocore_signature_verifies_and_names_the_caller() -> None:
    body = b'{"name":"x"}'
    caller = VERIFIER.verify(method="POST", url=URL, headers=list(_signed().items()), body=body)
    assert (caller.access_key_id, caller.region, caller.service) == ("local", "us-east-1", "execute-api")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unsigned", "Missing Authentication Token"),
        ("wrong secret", "does not match the signature"),
        ("tampered body", "does not match the signature"),
        ("not sigv4", "well-formed"),
    ],
)
def test_missing_wrong_and_tampered_signatures_are_refused(case: str, message: str) -> None:
    # Signed here, at run time: a signature made at collection time could be stale by now.
    body = b'{"name":"x"}'
    headers = {
        "unsigned": {},
        "wrong secret": _signed(secret="wrong"),
        "tampered body": _signed(),
        "not sigv4": {**_signed(), "authorization": "Bearer x"},
    }[case]
    sent_body = b'{"name":"tampered"}' if case == "tampered body" else body
    with pytest.raises(SignatureError, match=message):
        VERIFIER.verify(method="POST", url=URL, headers=list(headers.items()), body=sent_body)


def test_an_old_signature_is_refused() -> None:
    later = datetime.now(UTC) + timedelta(minutes=6)
    with pytest.raises(SignatureError, match="expired"):
        VERIFIER.verify(
            method="POST", url=URL, headers=list(_signed().items()), body=b'{"name":"x"}', now=later
        )


def test_proxy_event_has_api_gateways_rest_shape() -> None:
    event = build_proxy_event(
        IncomingRequest(
            method="GET",
            path="/v1/accounts/acct_1/ledger",
            query=[("limit", "5"), ("kind", "a"), ("kind", "b")],
            headers=[("Host", "127.0.0.1:8081"), ("User-Agent", "t")],
            body=b"",
            source_ip="127.0.0.1",
            host="127.0.0.1:8081",
            caller=CallerIdentity(access_key_id="local"),
            request_id="rid",
        )
    )
    assert event["resource"] == "/{proxy+}"
    assert event["pathParameters"] == {"proxy": "v1/accounts/acct_1/ledger"}
    assert event["queryStringParameters"] == {"limit": "5", "kind": "b"}
    assert event["multiValueQueryStringParameters"]["kind"] == ["a", "b"]
    assert event["requestContext"]["identity"]["userArn"] == "arn:aws:iam::000000000000:user/local"
    assert event["requestContext"]["requestId"] == "rid"
    assert (event["body"], event["isBase64Encoded"]) == (None, False)


def test_binary_bodies_are_base64_and_responses_map_back() -> None:
    event = build_proxy_event(
        IncomingRequest(
            method="PUT",
            path="/x",
            query=[],
            headers=[("Content-Type", "application/octet-stream")],
            body=b"\xff\x00",
            source_ip="127.0.0.1",
            host="h",
        )
    )
    assert (event["body"], event["isBase64Encoded"]) == (base64.b64encode(b"\xff\x00").decode(), True)
    response = parse_proxy_response(
        {"statusCode": 201, "headers": {"A": "1"}, "multiValueHeaders": {"B": ["2", "3"]}, "body": "{}"}
    )
    assert (response.status, sorted(response.headers), response.body) == (
        201,
        [("A", "1"), ("B", "2"), ("B", "3")],
        b"{}",
    )
    with pytest.raises(InvalidProxyResponse):
        parse_proxy_response({"statusCode": "200"})


def test_cli_times_accept_iso_and_ages() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert parse_time("2026-11-01T00:00:00") == "2026-11-01T00:00:00+00:00"
    assert parse_time("2026-11-01T00:00:00Z") == "2026-11-01T00:00:00+00:00"
    assert parse_time("24h", now=now) == "2026-11-20T12:00:00+00:00"
    assert parse_time(None) is None
