"""Settings come from the CDK context and fail the synth with messages that name the key."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.settings import EdgemeterSettings, EdgemeterSettingsError, OriginKind, settings_from_context
from tests.infra.conftest import CUSTOM_ORIGIN_CONTEXT, cdk_json_context


def _context(**overrides: Any) -> dict[str, Any]:
    context = {key.removeprefix("edgemeter:"): value for key, value in cdk_json_context().items()}
    context = {key: value for key, value in context.items() if not key.startswith("@")}
    return context | overrides


def _error(**overrides: Any) -> str:
    with pytest.raises(EdgemeterSettingsError) as raised:
        settings_from_context(_context(**overrides))
    return str(raised.value)


def test_cdk_json_is_a_valid_s3_deployment() -> None:
    settings = settings_from_context(_context())
    assert settings.origin_kind is OriginKind.S3
    assert settings.catalog_enabled
    assert settings.prices.price("PUT", "/a", 1) == 2  # 1 + 1 per started MiB


def test_custom_origin_settings_from_command_line_json() -> None:
    import json

    custom_origin = json.dumps(CUSTOM_ORIGIN_CONTEXT["edgemeter:customOrigin"])
    settings = settings_from_context(_context(originKind="custom", customOrigin=custom_origin))
    assert settings.custom_origin is not None
    assert settings.custom_origin.hostname == "objects.example.com"
    assert settings.custom_origin.https_port == 9000
    assert not settings.catalog_enabled


def test_custom_origin_without_its_settings_names_the_missing_key() -> None:
    message = _error(originKind="custom")
    assert "edgemeter:customOrigin" in message
    assert "originKind 'custom'" in message


def test_unknown_origin_kind_lists_the_choices() -> None:
    message = _error(originKind="minio")
    assert "edgemeter:originKind" in message
    assert "'s3'" in message
    assert "'custom'" in message


def test_bad_region_names_the_key_and_the_value() -> None:
    message = _error(region="Ireland")
    assert "edgemeter:region: must be an AWS region name" in message
    assert "'Ireland'" in message


def test_every_problem_is_reported_at_once() -> None:
    message = _error(region="nowhere", logRetentionDays=42, lambdaArchitecture="sparc")
    assert "edgemeter:region" in message
    assert "edgemeter:logRetentionDays" in message
    assert "edgemeter:lambdaArchitecture" in message


def test_stack_name_prefix_is_short_enough_for_role_names() -> None:
    assert "edgemeter:stackNamePrefix" in _error(stackNamePrefix="A" * 25)
    assert settings_from_context(_context(stackNamePrefix="A" * 24)).stack_name_prefix == "A" * 24


def test_misspelt_key_is_an_unknown_setting() -> None:
    assert "edgemeter:orginKind: unknown setting" in _error(orginKind="s3")


def test_custom_domain_needs_a_us_east_1_certificate() -> None:
    assert "customDomain and edgemeter:certificateArn go together" in _error(customDomain="files.example.com")
    message = _error(
        customDomain="files.example.com",
        certificateArn="arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012",
    )
    assert "edgemeter:certificateArn: must be an ACM certificate ARN in us-east-1" in message


def test_custom_origin_must_use_https() -> None:
    custom_origin = {**CUSTOM_ORIGIN_CONTEXT["edgemeter:customOrigin"], "endpoint": "http://minio:9000"}
    message = _error(originKind="custom", customOrigin=custom_origin)
    assert "edgemeter:customOrigin.endpoint: must be an https:// URL" in message


def test_prices_are_validated_by_the_credits_pricing_model() -> None:
    message = _error(prices={"methods": {"GET": {"base": -1}}})
    assert "edgemeter:prices.methods.GET.base" in message


def test_edge_settings_are_validated_like_the_edge_validates_them() -> None:
    message = _error(edge={"authorize_budget_ms": 9000})
    assert "edgemeter:edge" in message
    assert "authorize_budget_ms" in message
    assert "credits_api is filled in by the stack" in _error(edge={"credits_api": {"url": "https://x"}})


def test_catalog_settings_are_validated_by_the_catalog_model() -> None:
    message = _error(catalog={"mode": "sometimes"})
    assert "edgemeter:catalog" in message
    assert "mode" in message
    assert "catalog needs originKind" in _error(
        originKind="custom",
        customOrigin=CUSTOM_ORIGIN_CONTEXT["edgemeter:customOrigin"],
        catalog={"enabled": True},
    )


def test_command_line_json_that_does_not_parse_is_reported() -> None:
    assert "edgemeter:cacheTtls: is not valid JSON" in _error(cacheTtls="{defaultSeconds: 1")


def test_cache_ttls_must_be_ordered() -> None:
    message = _error(cacheTtls={"defaultSeconds": 10, "minSeconds": 60, "maxSeconds": 100})
    assert "edgemeter:cacheTtls" in message
    assert "minSeconds <= defaultSeconds <= maxSeconds" in message


def test_settings_are_immutable() -> None:
    settings = settings_from_context(_context())
    with pytest.raises(ValueError, match="frozen"):
        settings.region = "us-west-2"  # type: ignore[misc]
    assert isinstance(settings, EdgemeterSettings)
