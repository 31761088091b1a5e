"""functions/shared/sigv4.py: botocore signing behind a small API."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterator
from unittest import mock

import botocore.credentials
import botocore.session
import pytest

from functions.shared.sigv4 import MissingCredentialsError, load_credentials, sign_request, static_credentials

# AWS's published SigV4 test suite credentials and clock ("get-vanilla").
_EXAMPLE_CREDENTIALS = static_credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
_EXAMPLE_TIME = datetime.datetime(2015, 8, 30, 12, 36, 0)


@pytest.fixture
def fixed_clock() -> Iterator[None]:
    with mock.patch("botocore.auth.get_current_datetime", return_value=_EXAMPLE_TIME):
        yield


@pytest.mark.usefixtures("fixed_clock")
def test_matches_the_aws_sigv4_test_suite_vanilla_get() -> None:
    headers = sign_request(
        "GET", "https://example.amazonaws.com/", {}, b"", _EXAMPLE_CREDENTIALS, "us-east-1", "service"
    )
    assert headers == {
        "host": "example.amazonaws.com",
        "x-amz-date": "20150830T123600Z",
        "authorization": (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        ),
    }


@pytest.mark.usefixtures("fixed_clock")
def test_execute_api_signs_body_and_given_headers_and_session_token() -> None:
    credentials = static_credentials("AKID", "SECRET", "SESSION-TOKEN")
    headers = sign_request(
        "post",
        "https://abc.execute-api.us-east-1.amazonaws.com/prod/v1/authorize",
        {"Content-Type": "application/json", "Authorization": "stale"},
        b'{"a":1}',
        credentials,
        "us-east-1",
        "execute-api",
    )
    assert headers["x-amz-security-token"] == "SESSION-TOKEN"
    assert headers["content-type"] == "application/json"
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token" in headers["authorization"]
    assert "/us-east-1/execute-api/aws4_request" in headers["authorization"]
    assert "x-amz-content-sha256" not in headers
    other_body = sign_request(
        "POST",
        "https://abc.execute-api.us-east-1.amazonaws.com/prod/v1/authorize",
        {"content-type": "application/json"},
        b'{"a":2}',
        credentials,
        "us-east-1",
        "execute-api",
    )
    assert other_body["authorization"] != headers["authorization"]


@pytest.mark.usefixtures("fixed_clock")
def test_s3_carries_payload_digest_or_unsigned_payload() -> None:
    url = "http://127.0.0.1:9000/bucket/a%20b.txt?partNumber=1"
    signed = sign_request("PUT", url, {}, b"abc", _EXAMPLE_CREDENTIALS, "us-east-1", "s3")
    assert signed["x-amz-content-sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert signed["host"] == "127.0.0.1:9000"
    unsigned = sign_request("PUT", url, {}, b"", _EXAMPLE_CREDENTIALS, "us-east-1", "s3", sign_payload=False)
    assert unsigned["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert "x-amz-content-sha256" in unsigned["authorization"]


@pytest.mark.usefixtures("fixed_clock")
def test_default_port_is_left_out_of_the_signed_host() -> None:
    headers = sign_request(
        "GET", "https://example.amazonaws.com:443/", {}, b"", _EXAMPLE_CREDENTIALS, "us-east-1", "service"
    )
    assert headers["host"] == "example.amazonaws.com"
    assert headers["authorization"].endswith(
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_relative_url_is_refused() -> None:
    with pytest.raises(ValueError, match="absolute"):
        sign_request("GET", "/v1/authorize", {}, b"", _EXAMPLE_CREDENTIALS, "us-east-1", "execute-api")


def test_load_credentials_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "env-token")
    credentials = load_credentials(botocore.session.Session())
    assert (credentials.access_key, credentials.secret_key, credentials.token) == (
        "AKIAENVEXAMPLE",
        "env-secret",
        "env-token",
    )


def test_load_credentials_without_any_source_raises() -> None:
    session = botocore.session.Session()
    with (
        mock.patch.object(session, "get_credentials", return_value=None),
        pytest.raises(MissingCredentialsError),
    ):
        load_credentials(session)


def test_load_credentials_without_a_session_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "env-token")
    with mock.patch.object(botocore.session, "get_session", side_effect=AssertionError("no session needed")):
        credentials = load_credentials()
    assert (credentials.access_key, credentials.secret_key, credentials.token) == (
        "AKIAENVEXAMPLE",
        "env-secret",
        "env-token",
    )


def test_load_credentials_without_a_session_falls_back_to_the_default_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    session = botocore.session.Session()
    from_the_chain = botocore.credentials.Credentials("AKIACHAINEXAMPLE", "chain-secret")
    with (
        mock.patch.object(session, "get_credentials", return_value=from_the_chain),
        mock.patch.object(botocore.session, "get_session", return_value=session),
    ):
        credentials = load_credentials()
    assert (credentials.access_key, credentials.secret_key) == ("AKIACHAINEXAMPLE", "chain-secret")
