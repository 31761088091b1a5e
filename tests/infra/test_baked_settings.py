"""The settings the stack bakes into the edge packages are documents the functions accept."""

from __future__ import annotations

import json
from typing import Any

from functions.edge_auth.settings import parse_settings
from functions.origin_signer.settings import parse_signer_settings
from tests.infra.conftest import SynthesizedApp

# What CloudFormation substitutes for the tokens in the settings JSON at deploy time.
DEPLOYED_VALUES = {"AWS::URLSuffix": "amazonaws.com"}


def _resolve(value: Any) -> str:
    """Render an Fn::Join of literals and Refs the way CloudFormation would (Refs -> sample ids)."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_resolve(part) for part in parts)
    if "Ref" in value:
        reference = value["Ref"]
        return DEPLOYED_VALUES.get(reference, "live" if "Stage" in reference else "a1b2c3d4e5")
    raise AssertionError(f"unexpected token in settings JSON: {value}")


def _baked_documents(app: SynthesizedApp) -> dict[str, dict[str, Any]]:
    resources = app.main.find_resources("Custom::EdgemeterEdgeSettings")
    return {
        resource["Properties"]["SettingsFileName"]: json.loads(
            _resolve(resource["Properties"]["SettingsJson"])
        )
        for resource in resources.values()
    }


def test_edge_auth_settings_parse_and_point_at_the_credits_api(s3_app: SynthesizedApp) -> None:
    document = _baked_documents(s3_app)["functions/edge_auth/config.json"]
    settings = parse_settings(document)
    # The edge routes' HTTP API, served at its root by the $default stage (issue 14 §6).
    assert settings.credits_api.url == "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/"
    assert settings.credits_api.region == "eu-west-1"
    # HTTP APIs verify SigV4 for the same service name as REST APIs.
    assert settings.credits_api.service == "execute-api"
    assert settings.authorize_budget_ms == 1500


def test_origin_signer_settings_parse_and_name_the_secret(custom_app: SynthesizedApp) -> None:
    documents = _baked_documents(custom_app)
    assert set(documents) == {"functions/edge_auth/config.json", "functions/origin_signer/config.json"}
    settings = parse_signer_settings(documents["functions/origin_signer/config.json"])
    assert settings.credentials_secret_arn.endswith(":secret:edgemeter/minio")
    assert settings.credentials_secret_region == "eu-west-1"
    assert settings.service == "s3"
