"""Configuration: prices per method and path prefix, and settings validated once from the environment."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from functions.credits.settings import MIB, CreditsSettingsError, PricingConfig, Settings, settings_from_env


def test_default_prices_are_the_briefs() -> None:
    pricing = PricingConfig()
    assert pricing.price("GET", "/a", 0) == 1
    assert pricing.price("HEAD", "/a", 0) == 1
    assert pricing.price("PUT", "/a", 0) == 1
    assert pricing.price("PUT", "/a", 1) == 2
    assert pricing.price("PUT", "/a", MIB) == 2
    assert pricing.price("PUT", "/a", MIB + 1) == 3
    assert pricing.price("POST", "/a", 10 * MIB) == 11
    assert pricing.price("DELETE", "/a", 0) == 1  # `other`


def test_the_longest_matching_prefix_wins_and_unlisted_methods_fall_back() -> None:
    pricing = PricingConfig.model_validate(
        {
            "methods": {"GET": {"base": 2}},
            "other": {"base": 7},
            "prefixes": [
                {"prefix": "/videos/", "methods": {"GET": {"base": 3}}},
                {"prefix": "/videos/4k/", "methods": {"GET": {"base": 10, "per_started_mib": 1}}},
            ],
        }
    )
    assert pricing.price("GET", "/videos/4k/a.mp4", 0) == 10
    assert pricing.price("GET", "/videos/4k/a.mp4", 3 * MIB) == 13
    assert pricing.price("GET", "/videos/a.mp4", 0) == 3
    assert pricing.price("GET", "/docs/a", 0) == 2
    assert pricing.price("HEAD", "/videos/a.mp4", 0) == 7  # not in the prefix rule, not in methods: other
    assert pricing.price("PATCH", "/x", 0) == 7


@pytest.mark.parametrize(
    "bad",
    [
        {"methods": {"GET": {"base": -1}}},
        {"methods": {"BREW": {"base": 1}}},
        {"methods": {"GET": {"base": 10**7}}},
        {"prefixes": [{"prefix": "videos", "methods": {}}]},
        {"prefixes": [{"prefix": "/a", "methods": {}}, {"prefix": "/a", "methods": {}}]},
        {"surprise": 1},
    ],
)
def test_bad_price_tables_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PricingConfig.model_validate(bad)


def test_settings_come_from_the_environment() -> None:
    settings = settings_from_env(
        {
            "EDGEMETER_USERS_TABLE": "u-table",
            "EDGEMETER_CREDITS_TABLE": "c-table",
            "AWS_REGION": "eu-west-1",
            "EDGEMETER_DYNAMODB_ENDPOINT": "http://127.0.0.1:8000",
            "EDGEMETER_PRICING": json.dumps({"methods": {"GET": {"base": 4}}}),
            "EDGEMETER_MAX_BODY_BYTES": "4096",
        }
    )
    assert (settings.users_table, settings.credits_table, settings.region) == (
        "u-table",
        "c-table",
        "eu-west-1",
    )
    assert settings.dynamodb_endpoint == "http://127.0.0.1:8000"
    assert settings.pricing.price("GET", "/", 0) == 4
    assert settings.max_body_bytes == 4096
    assert settings_from_env({}) == Settings()


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"EDGEMETER_PRICING": "{not json"}, "EDGEMETER_PRICING"),
        ({"EDGEMETER_PRICING": '{"methods": {"GET": {"base": -3}}}'}, "EDGEMETER_PRICING.methods.GET.base"),
        ({"EDGEMETER_MAX_BODY_BYTES": "lots"}, "EDGEMETER_MAX_BODY_BYTES"),
        ({"AWS_REGION": "mars"}, "AWS_REGION"),
        ({"EDGEMETER_USERS_TABLE": "no spaces allowed"}, "EDGEMETER_USERS_TABLE"),
        ({"EDGEMETER_DYNAMODB_ENDPOINT": "ftp://x"}, "EDGEMETER_DYNAMODB_ENDPOINT"),
    ],
)
def test_bad_settings_fail_with_the_variable_named(environment: dict[str, str], named: str) -> None:
    with pytest.raises(CreditsSettingsError, match=named.replace(".", r"\.")):
        settings_from_env(environment)
