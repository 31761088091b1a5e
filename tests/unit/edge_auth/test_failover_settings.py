"""The deployment's failover settings reach the edge, and an unsigned secondary is refused at synth."""

from __future__ import annotations

from typing import Any

import pytest

from functions.edge_auth.settings import parse_settings
from stacks.settings import EdgemeterSettingsError, settings_from_context
from tests.infra.conftest import cdk_json_context


def _context(**overrides: Any) -> dict[str, Any]:
    context = {key.removeprefix("edgemeter:"): value for key, value in cdk_json_context().items()}
    context = {key: value for key, value in context.items() if not key.startswith("@")}
    return context | overrides


def test_an_http_secondary_behind_an_s3_primary_is_refused_at_synth() -> None:
    secondary = {"kind": "http", "endpoint": "https://mirror.example.net", "pathBucket": "media"}
    with pytest.raises(EdgemeterSettingsError, match='kind "http" needs originKind "custom"'):
        settings_from_context(_context(originKind="s3", secondaryOrigin=secondary))


def test_a_bucket_secondary_reaches_the_edge_settings_as_its_regional_domain() -> None:
    secondary = {
        "kind": "bucket",
        "bucketName": "old-media",
        "bucketRegion": "eu-west-1",
        "fallbackStatusCodes": [403, 404, 500],
    }
    settings = settings_from_context(_context(originKind="s3", secondaryOrigin=secondary))
    edge = parse_settings(
        settings.edge_settings_document("https://abc.execute-api.eu-west-1.amazonaws.com/prod")
    )
    assert edge.failover.secondary_domain_name == "old-media.s3.eu-west-1.amazonaws.com"
    assert edge.failover.status_codes == (403, 404, 500)


def test_without_a_secondary_the_edge_has_no_failover() -> None:
    settings = settings_from_context(_context())
    edge = parse_settings(
        settings.edge_settings_document("https://abc.execute-api.eu-west-1.amazonaws.com/prod")
    )
    assert edge.failover.secondary_domain_name is None
