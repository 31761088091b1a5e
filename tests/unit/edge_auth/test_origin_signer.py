"""Origin signer (origin-request): SigV4 for S3-compatible custom origins, credentials cached."""

from __future__ import annotations

import copy
import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.origin_signer import origin_request
from functions.origin_signer.settings import (
    SignerSettings,
    SignerSettingsError,
    load_signer_settings,
    parse_signer_settings,
)
from functions.shared.sigv4 import static_credentials
from tests.unit.edge_auth.conftest import ManualClock
from tests.unit.edge_auth.events import DISTRIBUTION_DOMAIN, cloudfront_event, cloudfront_headers

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:edgemeter/origin-AbCdEf"
STORE_SECRET = json.dumps({"accessKeyId": "MINIOACCESS", "secretAccessKey": "minio-secret-key"})
SIGNING_TIME = datetime.datetime(2026, 11, 21, 12, 0, 0)


class SecretStore:
    def __init__(self, secret: str = STORE_SECRET) -> None:
        self.secret = secret
        self.fetches: list[tuple[str, str]] = []
        self.failing = False

    def __call__(self, secret_arn: str, region: str) -> str:
        self.fetches.append((secret_arn, region))
        if self.failing:
            raise ConnectionError("secrets manager unreachable")
        return self.secret


@pytest.fixture
def secret_store() -> Iterator[SecretStore]:
    yield SecretStore()
    origin_request.reset_runtime()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def signer(secret_store: SecretStore, clock: ManualClock) -> origin_request.SignerRuntime:
    return origin_request.configure(
        SignerSettings(credentials_secret_arn=SECRET_ARN, credentials_secret_region="eu-west-1"),
        fetch_secret=secret_store,
        clock=clock,
    )


def origin_request_event(
    method: str = "GET",
    *,
    uri: str = "/photos/a%20b+c!.jpg",
    querystring: str = "versionId=3&response-content-type=image/jpeg",
    headers: dict[str, str] | None = None,
    port: int = 9000,
    protocol: str = "https",
) -> dict[str, Any]:
    request = {
        "clientIp": "203.0.113.178",
        "headers": cloudfront_headers(
            {"host": DISTRIBUTION_DOMAIN, "range": "bytes=0-99", **(headers or {})}
        ),
        "method": method,
        "origin": {
            "custom": {
                "customHeaders": {},
                "domainName": "store.example.com",
                "keepaliveTimeout": 5,
                "path": "/objects",
                "port": port,
                "protocol": protocol,
                "readTimeout": 30,
                "sslProtocols": ["TLSv1.2"],
            }
        },
        "querystring": querystring,
        "uri": uri,
    }
    return cloudfront_event("origin-request", CLOUDFRONT_REQUEST_ID, request=request)


def header(request: dict[str, Any], name: str) -> str:
    value: str = request["headers"][name][0]["value"]
    return value


CLOUDFRONT_REQUEST_ID = "origin-request-id-1=="


def recompute_signature(request: dict[str, Any], secret_key: str) -> str:
    """What an S3 server computes from the request CloudFront sends (botocore as the oracle).

    CloudFront adds X-Amz-Cf-Id (the event's requestId) after the function ran.
    """
    sent_headers = {name: header(request, name) for name in request["headers"]}
    sent_headers["x-amz-cf-id"] = CLOUDFRONT_REQUEST_ID
    custom = request["origin"]["custom"]
    url = f"{custom['protocol']}://{header(request, 'host')}{custom['path']}{request['uri']}"
    if request["querystring"]:
        url += "?" + request["querystring"]
    authorization = header(request, "authorization")
    signed_names = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    access_key = authorization.split("Credential=")[1].split("/")[0]
    oracle_request = AWSRequest(
        method=request["method"], url=url, headers={name: sent_headers[name] for name in signed_names}
    )
    oracle_request.context["timestamp"] = header(request, "x-amz-date")
    oracle = S3SigV4Auth(static_credentials(access_key, secret_key), "s3", "us-east-1")
    canonical = oracle.canonical_request(oracle_request)
    return str(oracle.signature(oracle.string_to_sign(oracle_request, canonical), oracle_request))


@pytest.mark.usefixtures("signer")
def test_custom_origin_request_is_signed_as_sent(secret_store: SecretStore) -> None:
    event = origin_request_event(
        headers={"x-amz-meta-owner": "acct_alice", "x-edgemeter-account": "acct_alice"}
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=SIGNING_TIME):
        request = origin_request.handler(event)

    assert request["uri"] == "/photos/a%20b%2Bc%21.jpg"
    assert request["querystring"] == "response-content-type=image%2Fjpeg&versionId=3"
    assert header(request, "host") == "store.example.com:9000"
    assert header(request, "x-amz-date") == "20261121T120000Z"
    assert header(request, "x-amz-content-sha256") == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    authorization = header(request, "authorization")
    assert authorization.startswith(
        "AWS4-HMAC-SHA256 Credential=MINIOACCESS/20261121/us-east-1/s3/aws4_request"
    )
    assert "SignedHeaders=host;x-amz-cf-id;x-amz-content-sha256;x-amz-date;x-amz-meta-owner," in authorization
    # Functions may not set X-Amz-Cf-*: only its value is signed, CloudFront adds the header.
    assert "x-amz-cf-id" not in request["headers"]
    assert authorization.endswith("Signature=" + recompute_signature(request, "minio-secret-key"))
    # Headers the store does not need to verify still reach it, unsigned.
    assert header(request, "range") == "bytes=0-99"
    assert header(request, "x-edgemeter-account") == "acct_alice"
    assert secret_store.fetches == [(SECRET_ARN, "eu-west-1")]


@pytest.mark.usefixtures("signer")
def test_upload_is_signed_with_unsigned_payload_and_session_token(secret_store: SecretStore) -> None:
    secret_store.secret = json.dumps({"accessKeyId": "AK", "secretAccessKey": "SK", "sessionToken": "TOKEN"})
    request = origin_request.handler(origin_request_event("PUT", uri="/up.bin", querystring="", port=443))
    assert header(request, "x-amz-content-sha256") == "UNSIGNED-PAYLOAD"
    assert header(request, "x-amz-security-token") == "TOKEN"
    assert header(request, "host") == "store.example.com"
    assert request["querystring"] == ""
    assert header(request, "authorization").endswith("Signature=" + recompute_signature(request, "SK"))


@pytest.mark.usefixtures("signer")
def test_viewer_supplied_signing_headers_are_replaced() -> None:
    event = origin_request_event(
        headers={"authorization": "AWS4-HMAC-SHA256 forged", "x-amz-security-token": "forged"}
    )
    request = origin_request.handler(event)
    assert "forged" not in header(request, "authorization")
    assert "x-amz-security-token" not in request["headers"]


@pytest.mark.usefixtures("signer")
def test_credentials_are_cached_then_refreshed_after_ttl(
    secret_store: SecretStore, clock: ManualClock
) -> None:
    for _ in range(3):
        origin_request.handler(origin_request_event())
    assert len(secret_store.fetches) == 1
    clock.advance(301)
    origin_request.handler(origin_request_event())
    assert len(secret_store.fetches) == 2


@pytest.mark.usefixtures("signer")
def test_failed_refresh_keeps_last_good_credentials(secret_store: SecretStore, clock: ManualClock) -> None:
    origin_request.handler(origin_request_event())
    secret_store.failing = True
    clock.advance(301)
    request = origin_request.handler(origin_request_event())
    assert "MINIOACCESS" in header(request, "authorization")
    assert len(secret_store.fetches) == 2


@pytest.mark.parametrize(
    "secret",
    [
        "not json",
        "[]",
        json.dumps({"accessKeyId": "AK"}),
        json.dumps({"accessKeyId": 1, "secretAccessKey": "s"}),
    ],
)
def test_no_usable_credentials_is_a_502_never_an_unsigned_request(secret: str) -> None:
    store = SecretStore(secret)
    origin_request.configure(
        SignerSettings(credentials_secret_arn=SECRET_ARN, credentials_secret_region="us-east-1"),
        fetch_secret=store,
    )
    try:
        response = origin_request.handler(origin_request_event())
        assert response["status"] == "502"
        assert json.loads(response["body"])["error"]["code"] == "service_unavailable"
        assert response["headers"]["cache-control"][0]["value"] == "no-store"
    finally:
        origin_request.reset_runtime()


@pytest.mark.usefixtures("signer")
def test_s3_origin_passes_through_untouched(secret_store: SecretStore) -> None:
    event = origin_request_event()
    request = event["Records"][0]["cf"]["request"]
    request["origin"] = {"s3": {"domainName": "bucket.s3.amazonaws.com", "path": "", "authMethod": "none"}}
    expected = copy.deepcopy(request)
    assert origin_request.handler(event) == expected
    assert secret_store.fetches == []


def test_missing_settings_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SignerSettingsError, match=r"config\.json is missing"):
        load_signer_settings(tmp_path / "config.json")


def test_example_settings_parse() -> None:
    example = Path(origin_request.__file__).with_name("config.example.json")
    parsed = load_signer_settings(example)
    assert parsed.signing_region == "us-east-1"
    assert parsed.credentials_ttl_seconds == 300


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"credentials_secret_region": "us-east-1"}, "credentials_secret_arn: required"),
        (
            {"credentials_secret_arn": "nope", "credentials_secret_region": "us-east-1"},
            "not a Secrets Manager",
        ),
        ({"credentials_secret_arn": SECRET_ARN, "credentials_secret_region": "moon"}, "not an AWS region"),
        (
            {"credentials_secret_arn": SECRET_ARN, "credentials_secret_region": "us-east-1", "ttl": 3},
            "ttl: unknown field",
        ),
        (
            {
                "credentials_secret_arn": SECRET_ARN,
                "credentials_secret_region": "us-east-1",
                "signing_region": 3,
            },
            "signing_region: must be a string",
        ),
    ],
)
def test_invalid_signer_settings_name_the_problem(document: dict[str, Any], message: str) -> None:
    with pytest.raises(SignerSettingsError, match=message):
        parse_signer_settings(document)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=15,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    uri=st.text(max_size=30) | json_values,
    querystring=st.text(max_size=30) | json_values,
    method=st.sampled_from(["GET", "PUT"]) | json_values,
    port=st.integers(-5, 70000) | json_values,
    headers=st.dictionaries(st.text(max_size=12), json_values, max_size=4),
)
def test_malformed_origin_requests_never_raise(
    uri: Any, querystring: Any, method: Any, port: Any, headers: dict[str, Any]
) -> None:
    origin_request.configure(
        SignerSettings(credentials_secret_arn=SECRET_ARN, credentials_secret_region="us-east-1"),
        fetch_secret=SecretStore(),
    )
    try:
        event = origin_request_event()
        request = event["Records"][0]["cf"]["request"]
        request.update(uri=uri, querystring=querystring, method=method, headers=headers)
        request["origin"]["custom"]["port"] = port
        answer = origin_request.handler(event)
        assert isinstance(answer, dict)
        if "status" in answer:
            assert answer["status"] in {"400", "502"}
        else:
            assert answer["headers"]["authorization"][0]["value"].startswith("AWS4-HMAC-SHA256 ")
    finally:
        origin_request.reset_runtime()
