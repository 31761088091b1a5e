"""The objects catalog in the local runtime: what the CDK stack configures in AWS, for one machine.

The catalog describes the local origin's bucket (the archive-capable moto origin, whose
restores take ``restore_seconds``); the credits handler reads it from ``EDGEMETER_CATALOG``
like the deployed Lambda. With an external S3-compatible origin (``--origin URL``) the catalog is
off, exactly as the CDK app refuses it for a custom origin: it needs the origin's S3 API
(HEAD, RestoreObject) with the credits service's own credentials.
"""

from __future__ import annotations

from functions.catalog.settings import CATALOG_ENV_VAR, CatalogSettings
from local.config import LocalConfig

# What the local runtime decides itself; a config file's [catalog] table must not set these.
_FILLED_IN_HERE = ("bucket", "region", "dynamodb_endpoint", "s3_endpoint")


def local_catalog_settings(config: LocalConfig) -> CatalogSettings | None:
    """The catalog settings for this local runtime (``config.catalog`` plus what the runtime
    fills in), or None when the catalog is off."""
    overrides = config.catalog
    clashing = sorted(set(overrides) & set(_FILLED_IN_HERE))
    if clashing:
        raise ValueError(f"[catalog] must not set {', '.join(clashing)}: the local runtime fills them in")
    if not config.uses_local_origin or not overrides.get("enabled", True):
        return None
    return CatalogSettings.model_validate(
        {
            **overrides,
            "bucket": config.bucket,
            "region": config.region,
            "dynamodb_endpoint": config.dynamodb_url,
            "s3_endpoint": config.effective_origin_url,
        }
    )


def catalog_handler_environment(config: LocalConfig) -> dict[str, str]:
    """``EDGEMETER_CATALOG`` for the credits handler, or nothing when the catalog is off."""
    settings = local_catalog_settings(config)
    return {} if settings is None else {CATALOG_ENV_VAR: settings.model_dump_json()}


def create_local_objects_table(config: LocalConfig) -> None:
    """Create the objects table in DynamoDB Local (the CDK stack does it in AWS)."""
    settings = local_catalog_settings(config)
    if settings is None:
        return
    from functions.catalog.dynamodb_store import create_objects_table  # noqa: PLC0415 - pynamodb is slow to import

    create_objects_table(settings)
