"""Wiring the real edge_auth handlers into the local CDN's Lambda@Edge containers.

In AWS the edge function reads settings baked into its package; locally each
container calls ``functions.edge_auth.runtime.configure`` at cold start with
settings pointing at the local credits API and signs with the local
credentials (what the credits API verifies), then serves the same handlers
CloudFront would call: viewer-request and origin-response.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from local.cdn.containers import ContainerSetup
from local.cdn.events import EventType
from local.config import LocalConfig

# The triggers edgemeter associates with its distribution (stacks/ does the same in AWS).
EDGE_TRIGGERS = frozenset({EventType.VIEWER_REQUEST, EventType.ORIGIN_RESPONSE})


def edge_settings_document(config: LocalConfig) -> dict[str, Any]:
    """The edge settings document for the local runtime (config.edge_settings overrides)."""
    document: dict[str, Any] = {
        "schema_version": 1,
        "credits_api": {"url": config.credits_url, "region": config.region, "service": "execute-api"},
    }
    for name, value in config.edge_settings.items():
        if isinstance(value, dict) and isinstance(document.get(name), dict):
            document[name] = {**document[name], **value}
        else:
            document[name] = value
    return document


def container_setup(config: LocalConfig) -> ContainerSetup:
    return ContainerSetup(setup="local.edge:configure_container", setup_argument=config.model_dump_json())


def configure_container(config_json: str) -> dict[str, Callable[[Any, Any], Any]]:
    """Cold start of one edge container: configure edge_auth, return its handlers by event type."""
    from functions.edge_auth import origin_response, runtime, viewer_request  # noqa: PLC0415
    from functions.edge_auth.settings import parse_settings  # noqa: PLC0415
    from functions.shared.sigv4 import static_credentials  # noqa: PLC0415

    config = LocalConfig.model_validate_json(config_json)
    credentials = static_credentials(config.credentials.access_key_id, config.credentials.secret_access_key)
    runtime.configure(parse_settings(edge_settings_document(config)), credentials_loader=lambda: credentials)
    return {
        str(EventType.VIEWER_REQUEST): viewer_request.handler,
        str(EventType.ORIGIN_RESPONSE): origin_response.handler,
    }
