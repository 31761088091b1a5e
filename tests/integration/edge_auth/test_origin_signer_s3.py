"""The origin signer against a real, independent S3 server (SeaweedFS) that verifies SigV4.

The request is sent the way CloudFront sends an origin request: to
``protocol://domainName:port`` + ``origin.path`` + ``uri`` (+ ``?querystring``)
with the event's headers after the function ran. SeaweedFS checks the signature
with its own implementation, so a wrong canonical form fails here.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from functions.origin_signer import origin_request
from functions.origin_signer.settings import SignerSettings
from local.seaweedfs import SeaweedFS

BUCKET = "edgemeter-objects"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:edgemeter/origin-AbCdEf"
OBJECT_KEY = "photos/a b+c!(1).txt"
OBJECT_URI = "/photos/a%20b+c!(1).txt"
OBJECT_BODY = b"edgemeter object body\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    with SeaweedFS(tmp_path_factory.mktemp("seaweedfs-signer")) as server:
        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint_url,
            aws_access_key_id=server.access_key_id,
            aws_secret_access_key=server.secret_access_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key=OBJECT_KEY, Body=OBJECT_BODY)
        yield server


def configure_signer(access_key: str, secret_key: str) -> None:
    secret = json.dumps({"accessKeyId": access_key, "secretAccessKey": secret_key})
    origin_request.configure(
        SignerSettings(credentials_secret_arn=SECRET_ARN, credentials_secret_region="us-east-1"),
        fetch_secret=lambda _arn, _region: secret,
    )


def origin_request_event(store: SeaweedFS, method: str, uri: str, querystring: str = "") -> dict[str, Any]:
    return {
        "Records": [
            {
                "cf": {
                    "config": {"eventType": "origin-request", "requestId": CLOUDFRONT_REQUEST_ID},
                    "request": {
                        "clientIp": "203.0.113.178",
                        "headers": {
                            "host": [{"key": "Host", "value": "d111111abcdef8.cloudfront.net"}],
                            "x-edgemeter-account": [{"key": "X-Edgemeter-Account", "value": "acct_it"}],
                        },
                        "method": method,
                        "origin": {
                            "custom": {
                                "customHeaders": {},
                                "domainName": "127.0.0.1",
                                "keepaliveTimeout": 5,
                                "path": f"/{BUCKET}",
                                "port": store.s3_port,
                                "protocol": "http",
                                "readTimeout": 30,
                                "sslProtocols": ["TLSv1.2"],
                            }
                        },
                        "querystring": querystring,
                        "uri": uri,
                    },
                }
            }
        ]
    }


CLOUDFRONT_REQUEST_ID = "signer-it-1=="


def send_like_cloudfront(request: dict[str, Any], body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    custom = request["origin"]["custom"]
    path = custom["path"] + request["uri"] + (f"?{request['querystring']}" if request["querystring"] else "")
    headers = {entries[0]["key"]: entries[0]["value"] for entries in request["headers"].values()}
    # CloudFront adds its request id after the origin-request function ran.
    headers["X-Amz-Cf-Id"] = CLOUDFRONT_REQUEST_ID
    if body:
        headers["Content-Length"] = str(len(body))
    connection = http.client.HTTPConnection(custom["domainName"], custom["port"], timeout=30)
    try:
        connection.request(request["method"], path, body=body or None, headers=headers)
        response = connection.getresponse()
        return (
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            response.read(),
        )
    finally:
        connection.close()


@pytest.fixture(autouse=True)
def _reset_signer() -> Iterator[None]:
    yield
    origin_request.reset_runtime()


def test_signed_get_with_awkward_key_and_query_is_accepted(store: SeaweedFS) -> None:
    configure_signer(store.access_key_id, store.secret_access_key)
    request = origin_request.handler(
        origin_request_event(
            store, "GET", OBJECT_URI, "response-content-type=text/plain&response-cache-control=max-age%3D60"
        )
    )
    status, headers, body = send_like_cloudfront(request)
    assert (status, body) == (200, OBJECT_BODY)
    assert headers["content-type"] == "text/plain"
    assert headers["cache-control"] == "max-age=60"


def test_signed_upload_with_unsigned_payload_is_accepted(store: SeaweedFS, tmp_path: Path) -> None:
    configure_signer(store.access_key_id, store.secret_access_key)
    upload = b"uploaded through the edge\n" * 10
    request = origin_request.handler(origin_request_event(store, "PUT", "/uploads/new%20file.bin"))
    status, _, _ = send_like_cloudfront(request, upload)
    assert status == 200
    read_back = origin_request.handler(origin_request_event(store, "GET", "/uploads/new%20file.bin"))
    assert send_like_cloudfront(read_back)[2] == upload


def test_wrong_secret_is_refused_by_the_store(store: SeaweedFS) -> None:
    configure_signer(store.access_key_id, "not-the-secret")
    request = origin_request.handler(origin_request_event(store, "GET", OBJECT_URI))
    status, _, body = send_like_cloudfront(request)
    assert status == 403
    assert b"SignatureDoesNotMatch" in body


def test_unsigned_request_is_refused_by_the_store(store: SeaweedFS) -> None:
    # The control: without the signer the same request does not get through.
    event = origin_request_event(store, "GET", OBJECT_URI)
    request = event["Records"][0]["cf"]["request"]
    request["headers"]["host"] = [{"key": "Host", "value": f"127.0.0.1:{store.s3_port}"}]
    status, _, _ = send_like_cloudfront(request)
    assert status == 403
