"""Wiring the real edge_auth handlers into the local CDN's Lambda@Edge containers.

In AWS the edge function reads settings baked into its package; locally each
container calls ``functions.edge_auth.runtime.configure`` at cold start with
settings pointing at the local credits API and signs with the local
credentials (what the credits API verifies), then serves the same handlers
CloudFront would call: viewer-request and origin-response.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from functions.edge_auth.settings import MAX_AUTHORIZE_BUDGET_MS
from local.cdn.containers import ContainerSetup
from local.cdn.events import EventType
from local.config import LocalConfig
from local.multi_region import (
    CURRENT_EDGE_REGION,
    from_local_edge_region,
    regional_edge_settings,
    regional_transports,
)
from local.regions import RegionLatency

# The triggers edgemeter associates with its distribution (stacks/ does the same in AWS): the key
# check and the refund always; the origin signer only in front of an S3-compatible custom origin.
_ALWAYS = frozenset({EventType.VIEWER_REQUEST, EventType.ORIGIN_RESPONSE})
# The signer reads its store credentials from a Secrets Manager secret in AWS; locally the
# container hands it the configured origin credentials under this (never contacted) ARN.
LOCAL_ORIGIN_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:edgemeter/local-origin"  # noqa: S105


def origin_kind(config: LocalConfig) -> Literal["s3", "custom"]:
    """The local moto origin stands for an S3 bucket with OAC; ``--origin URL`` for a custom origin."""
    return "s3" if config.uses_local_origin else "custom"


def edge_triggers(config: LocalConfig) -> frozenset[EventType]:
    if origin_kind(config) == "custom":
        return _ALWAYS | {EventType.ORIGIN_REQUEST}
    return _ALWAYS


def edge_settings_document(config: LocalConfig) -> dict[str, Any]:
    """The edge settings document for the local runtime (config.edge_settings overrides)."""
    document: dict[str, Any] = {
        "schema_version": 1,
        "credits_api": {"url": config.credits_url, "region": config.region, "service": "execute-api"},
        # The longest authorize budget the edge allows (default 1.5 s): one machine running every
        # component on a couple of shared cores is slower than API Gateway and Lambda. The viewer's
        # 5 s budget is enforced by the CDN as in AWS.
        "authorize_budget_ms": MAX_AUTHORIZE_BUDGET_MS,
    }
    regional = regional_edge_settings(config)
    if regional:
        # Regional credits (issue 15): each region's local credits server, the order per edge region.
        document["regional_credits"] = regional
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
    settings = parse_settings(edge_settings_document(config))
    if config.credits_regions:
        home_transport, transports = regional_transports(config, RegionLatency())
        runtime.configure(
            settings,
            transport=home_transport,
            regional_transports=transports,
            credentials_loader=lambda: credentials,
            edge_region=lambda: CURRENT_EDGE_REGION.get() or config.region,
        )
    else:
        runtime.configure(settings, credentials_loader=lambda: credentials)
    handlers: dict[str, Callable[[Any, Any], Any]] = {
        # The local-only edge-region header is read and removed before the handler sees the request.
        str(EventType.VIEWER_REQUEST): from_local_edge_region(viewer_request.handler),
        str(EventType.ORIGIN_RESPONSE): origin_response.handler,
    }
    if origin_kind(config) == "custom":
        from functions.origin_signer import origin_request  # noqa: PLC0415
        from functions.origin_signer.settings import SignerSettings  # noqa: PLC0415

        secret = json.dumps(
            {
                "accessKeyId": config.origin_credentials.access_key_id,
                "secretAccessKey": config.origin_credentials.secret_access_key,
            }
        )

        def local_secret(secret_arn: str, region: str) -> str:
            return secret

        origin_request.configure(
            SignerSettings(
                credentials_secret_arn=LOCAL_ORIGIN_SECRET_ARN,
                credentials_secret_region=config.region,
                signing_region=config.region,
            ),
            fetch_secret=local_secret,
        )
        handlers[str(EventType.ORIGIN_REQUEST)] = origin_request.handler
    return handlers
