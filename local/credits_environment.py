"""The environment the credits handler runs with locally: what the CDK stack sets in AWS.

functions/credits/settings.py documents the variables; here they point the
handler at DynamoDB Local and carry the local pricing.
"""

from __future__ import annotations

from functions.credits.settings import Settings
from functions.shared.environment_variables import (
    EDGEMETER_CDN_BASE_URL,
    EDGEMETER_CREDITS_TABLE,
    EDGEMETER_DYNAMODB_ENDPOINT,
    EDGEMETER_PRICING,
    EDGEMETER_USERS_TABLE,
)
from local.catalog_environment import catalog_handler_environment
from local.config import LocalConfig


def credits_handler_environment(config: LocalConfig) -> dict[str, str]:
    defaults = Settings()
    environment = {
        EDGEMETER_USERS_TABLE: defaults.users_table,
        EDGEMETER_CREDITS_TABLE: defaults.credits_table,
        "AWS_REGION": config.region,
        "AWS_DEFAULT_REGION": config.region,
        EDGEMETER_DYNAMODB_ENDPOINT: config.dynamodb_url,
        EDGEMETER_PRICING: config.pricing.model_dump_json(),
        # Signed links (issue 16) point at this runtime's CDN, whatever port it was given.
        EDGEMETER_CDN_BASE_URL: config.cdn_url,
        # DynamoDB Local accepts any credentials; these keep boto from looking for real ones.
        "AWS_ACCESS_KEY_ID": config.credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": config.credentials.secret_access_key,
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "edgemeter-credits",
        # No X-Ray daemon on a laptop.
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "edgemeter-local",
        "AWS_LAMBDA_FUNCTION_NAME": "edgemeter-credits-local",
    }
    environment.update(catalog_handler_environment(config))
    environment.update(config.credits_environment)
    return environment


def credits_settings(config: LocalConfig) -> Settings:
    """The credits service settings for this local runtime (used to create the tables)."""
    return Settings(
        region=config.region,
        dynamodb_endpoint=config.dynamodb_url,
        pricing=config.pricing,
    )
