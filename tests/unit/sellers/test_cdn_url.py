"""Where links point: the setting, or (deployed) the SSM parameter read once, on the first link."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from functions.credits.errors import ServiceBusy
from functions.credits.sellers.cdn_url import CdnBaseUrl
from functions.credits.settings import settings_from_env

PARAMETER = "/edgemeter/cdn-base-url"


def _stubbed_ssm(*values: str, fail: bool = False) -> tuple[Any, Stubber]:
    client = boto3.client("ssm", region_name="eu-west-1")
    stubber = Stubber(client)
    if fail:
        stubber.add_client_error("get_parameter", "ThrottlingException", expected_params={"Name": PARAMETER})
    for value in values:
        stubber.add_response(
            "get_parameter",
            {"Parameter": {"Name": PARAMETER, "Type": "String", "Value": value}},
            expected_params={"Name": PARAMETER},
        )
    stubber.activate()
    return client, stubber


def test_the_setting_is_used_as_it_is_without_a_parameter() -> None:
    assert CdnBaseUrl("http://127.0.0.1:8080", None, lambda: pytest.fail("no SSM call"))() == (
        "http://127.0.0.1:8080"
    )


def test_the_parameter_is_read_once_per_container() -> None:
    client, stubber = _stubbed_ssm("https://d111111abcdef8.cloudfront.net")
    url = CdnBaseUrl("http://127.0.0.1:8080", PARAMETER, lambda: client)
    assert url() == "https://d111111abcdef8.cloudfront.net"
    assert url() == "https://d111111abcdef8.cloudfront.net"
    stubber.assert_no_pending_responses()


def test_an_unreadable_parameter_is_a_retryable_503_and_is_tried_again() -> None:
    client, _ = _stubbed_ssm("https://cdn.example.com", fail=True)
    url = CdnBaseUrl("http://127.0.0.1:8080", PARAMETER, lambda: client)
    with pytest.raises(ServiceBusy):
        url()
    assert url() == "https://cdn.example.com"


def test_a_parameter_that_is_not_a_url_is_refused() -> None:
    client, _ = _stubbed_ssm("cdn.example.com")
    with pytest.raises(ValueError, match="http"):
        CdnBaseUrl("http://127.0.0.1:8080", PARAMETER, lambda: client)()


def test_the_settings_read_the_parameter_name_from_the_environment() -> None:
    settings = settings_from_env({"EDGEMETER_CDN_BASE_URL_PARAMETER": PARAMETER})
    assert settings.cdn_base_url_parameter == PARAMETER
    assert settings_from_env({}).cdn_base_url_parameter is None
