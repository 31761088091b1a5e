"""Deployment settings: read from the ``edgemeter:*`` keys of the CDK context (cdk.json, ``-c``).

Validated once, at synth time, with pydantic. An invalid value stops the synth with
a message that names the context key, says what is wrong, and what is expected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from aws_cdk import aws_logs as logs
from constructs import Node
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from functions.catalog.settings import CatalogSettings
from functions.credits.settings import PricingConfig
from functions.edge_auth.settings import EdgeSettings
from functions.edge_auth.settings import SettingsError as EdgeSettingsError
from functions.edge_auth.settings import parse_settings as parse_edge_settings
from functions.shared.aws_regions import is_aws_region
from functions.shared.region_latency import EDGE_REGIONS as EDGE_REGIONS_WITH_ROUND_TRIPS
from functions.shared.region_latency import region_order_table
from stacks.constructs.origin_failover import SecondaryOriginSettings
from stacks.constructs.storage_tiering import StorageTieringSettings

CONTEXT_PREFIX = "edgemeter:"
EDGE_REGION = "us-east-1"

_ACCOUNT_ID = r"\d{12}"
_CERTIFICATE_ARN = re.compile(rf"^arn:aws[a-z-]*:acm:us-east-1:{_ACCOUNT_ID}:certificate/[0-9a-f-]{{36}}$")
_WEB_ACL_ARN = re.compile(
    rf"^arn:aws[a-z-]*:wafv2:us-east-1:{_ACCOUNT_ID}:global/webacl/[\w-]+/[0-9a-f-]{{36}}$"
)
_SECRET_ARN = re.compile(rf"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:{_ACCOUNT_ID}:secret:[\w/+=.@-]+$")
_DOMAIN_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_S3_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Any syntactically valid URL in the main region stands in for the credits API URL while the
# edge settings are validated at synth time; the real one is only known at deploy time.
_SYNTH_TIME_CREDITS_API_URL = "https://synth-check.execute-api.{region}.amazonaws.com/live"
_SYNTH_TIME_BUCKET = "synth-check-bucket"
_SYNTH_TIME_TABLE = "synth-check-objects"
_CATALOG_FIELDS_FILLED_BY_STACK = ("bucket", "objects_table", "region", "dynamodb_endpoint", "s3_endpoint")
# Retention periods CloudWatch Logs accepts (days), as CDK names them.
_LOG_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


class OriginKind(StrEnum):
    """Where the objects live: an S3 bucket this app creates, or an S3-compatible store (MinIO, Ceph...)."""

    S3 = "s3"
    CUSTOM = "custom"


class LambdaArchitecture(StrEnum):
    """CPU of the credits Lambda (Lambda@Edge functions are always x86_64)."""

    X86_64 = "x86_64"
    ARM64 = "arm64"


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CustomOriginSettings(_Settings):
    """An S3-compatible store reached over HTTPS; CloudFront's origin requests to it are SigV4-signed."""

    endpoint: str = Field(description="https://host[:port] of the S3-compatible API")
    bucket: str = Field(description="bucket holding the objects; requests use path-style /<bucket>/<key>")
    signing_region: str = Field(
        default="us-east-1", alias="signingRegion", description="region name the store expects in SigV4"
    )
    credentials_secret_arn: str = Field(
        alias="credentialsSecretArn",
        description="Secrets Manager secret (JSON with accessKeyId and secretAccessKey) for signing",
    )

    @field_validator("endpoint")
    @classmethod
    def _https_origin_without_path(cls, endpoint: str) -> str:
        parts = urlsplit(endpoint)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("must be an https:// URL (CloudFront talks to the origin over TLS only)")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("must be scheme://host[:port] only; the bucket goes in 'bucket'")
        return endpoint.rstrip("/")

    @field_validator("bucket")
    @classmethod
    def _valid_bucket_name(cls, bucket: str) -> str:
        if not _S3_BUCKET_NAME.fullmatch(bucket):
            raise ValueError("must be a valid S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')")
        return bucket

    @field_validator("signing_region")
    @classmethod
    def _valid_region(cls, region: str) -> str:
        if not is_aws_region(region):
            raise ValueError("must look like an AWS region name, e.g. us-east-1")
        return region

    @field_validator("credentials_secret_arn")
    @classmethod
    def _valid_secret_arn(cls, arn: str) -> str:
        if not _SECRET_ARN.fullmatch(arn):
            raise ValueError(
                "must be a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)"
            )
        return arn

    @property
    def hostname(self) -> str:
        hostname = urlsplit(self.endpoint).hostname
        assert hostname is not None  # guaranteed by _https_origin_without_path
        return hostname

    @property
    def https_port(self) -> int:
        return urlsplit(self.endpoint).port or 443


class CacheTtls(_Settings):
    """Bounds of the CloudFront cache policy (seconds)."""

    default_seconds: int = Field(default=86_400, ge=0, alias="defaultSeconds")
    min_seconds: int = Field(default=0, ge=0, alias="minSeconds")
    max_seconds: int = Field(default=31_536_000, ge=0, alias="maxSeconds")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.min_seconds <= self.default_seconds <= self.max_seconds:
            raise ValueError("needs minSeconds <= defaultSeconds <= maxSeconds")
        return self


class ApiThrottle(_Settings):
    """Stage-wide API Gateway throttling (requests/s and burst)."""

    rate_limit: float = Field(default=1_000.0, gt=0, alias="rateLimit")
    burst_limit: int = Field(default=2_000, gt=0, alias="burstLimit")


class RegionsSettings(_Settings):
    """Regional credits (issue 15): a home region and the credits regions that charge near viewers."""

    home: str = Field(description="accounts, keys, grants, the billing API and the home pool")
    credits: tuple[str, ...] = Field(
        min_length=1, max_length=8, description="regions with their own credits API, Lambda and tables"
    )

    @field_validator("home")
    @classmethod
    def _known_home(cls, region: str) -> str:
        if region not in EDGE_REGIONS_WITH_ROUND_TRIPS:
            raise ValueError(f"must be one of {', '.join(EDGE_REGIONS_WITH_ROUND_TRIPS)} (the latency table)")
        return region

    @field_validator("credits")
    @classmethod
    def _known_distinct_credits_regions(cls, regions: tuple[str, ...]) -> tuple[str, ...]:
        # The edge's order of regions is computed from the round-trip table at deploy time, so a
        # credits region must be in it; a duplicate would be two stacks with one name.
        unknown = [region for region in regions if region not in EDGE_REGIONS_WITH_ROUND_TRIPS]
        if unknown:
            known = ", ".join(EDGE_REGIONS_WITH_ROUND_TRIPS)
            raise ValueError(f"{', '.join(unknown)}: not in the latency table; use {known}")
        if len(set(regions)) != len(regions):
            raise ValueError("lists a region twice")
        return regions

    @model_validator(mode="after")
    def _home_is_not_a_credits_region(self) -> Self:
        if self.home in self.credits:
            raise ValueError("home serves charges already; list only the other regions under credits")
        return self


LogRetentionDays = Annotated[int, Field(description="CloudWatch Logs retention in days")]


class EdgemeterSettings(_Settings):
    """Everything an operator chooses about a deployment."""

    region: str = Field(description="main region: tables, credits API, bucket, dashboard")
    # Short enough that "<prefix>-<region>-origin-response" stays within IAM's 64-character role names.
    stack_name_prefix: str = Field(
        default="Edgemeter", alias="stackNamePrefix", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,23}$"
    )
    origin_kind: OriginKind = Field(alias="originKind")
    custom_origin: CustomOriginSettings | None = Field(default=None, alias="customOrigin")
    prices: PricingConfig = Field(default_factory=PricingConfig)
    edge: dict[str, Any] = Field(
        default_factory=dict,
        description="edge_auth settings document without credits_api (filled in at deploy time)",
    )
    catalog: dict[str, Any] = Field(
        default_factory=dict,
        description="objects catalog settings; the stack fills in bucket, objects_table and region",
    )
    tiering: StorageTieringSettings = Field(default_factory=StorageTieringSettings)
    secondary_origin: SecondaryOriginSettings | None = Field(default=None, alias="secondaryOrigin")
    cache_ttls: CacheTtls = Field(default_factory=CacheTtls, alias="cacheTtls")
    custom_domain: str | None = Field(default=None, alias="customDomain")
    certificate_arn: str | None = Field(default=None, alias="certificateArn")
    web_acl_arn: str | None = Field(default=None, alias="webAclArn")
    lambda_architecture: LambdaArchitecture = Field(
        default=LambdaArchitecture.ARM64, alias="lambdaArchitecture"
    )
    api_throttle: ApiThrottle = Field(default_factory=ApiThrottle, alias="apiThrottle")
    log_retention_days: LogRetentionDays = Field(default=365, alias="logRetentionDays")
    alarm_email: str | None = Field(default=None, alias="alarmEmail")
    regions: RegionsSettings | None = Field(
        default=None, description="regional credits (issue 15); absent = one credits region, the main one"
    )

    @field_validator("region")
    @classmethod
    def _valid_region(cls, region: str) -> str:
        if not is_aws_region(region):
            raise ValueError("must be an AWS region name such as eu-west-1")
        return region

    @field_validator("custom_domain")
    @classmethod
    def _valid_domain(cls, domain: str | None) -> str | None:
        if domain is not None and not _DOMAIN_NAME.fullmatch(domain):
            raise ValueError("must be a lowercase DNS name such as files.example.com")
        return domain

    @field_validator("certificate_arn")
    @classmethod
    def _us_east_1_certificate(cls, arn: str | None) -> str | None:
        if arn is not None and not _CERTIFICATE_ARN.fullmatch(arn):
            raise ValueError(
                "must be an ACM certificate ARN in us-east-1 (CloudFront only uses certificates there)"
            )
        return arn

    @field_validator("web_acl_arn")
    @classmethod
    def _cloudfront_web_acl(cls, arn: str | None) -> str | None:
        if arn is not None and not _WEB_ACL_ARN.fullmatch(arn):
            raise ValueError(
                "must be a WAFv2 web ACL ARN with CLOUDFRONT scope "
                "(arn:aws:wafv2:us-east-1:ACCOUNT:global/webacl/NAME/ID)"
            )
        return arn

    @field_validator("log_retention_days")
    @classmethod
    def _supported_retention(cls, days: int) -> int:
        if days not in _LOG_RETENTION:
            raise ValueError(f"must be one of {', '.join(map(str, _LOG_RETENTION))}")
        return days

    @field_validator("alarm_email")
    @classmethod
    def _plausible_email(cls, email: str | None) -> str | None:
        if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise ValueError("must be an e-mail address")
        return email

    @field_validator("edge")
    @classmethod
    def _valid_edge_settings(cls, edge: dict[str, Any]) -> dict[str, Any]:
        if "credits_api" in edge:
            raise ValueError("credits_api is filled in by the stack at deploy time; remove it")
        return edge

    @field_validator("catalog")
    @classmethod
    def _catalog_without_stack_fields(cls, catalog: dict[str, Any]) -> dict[str, Any]:
        filled_by_stack = sorted(set(catalog) & set(_CATALOG_FIELDS_FILLED_BY_STACK))
        if filled_by_stack:
            raise ValueError(f"{', '.join(filled_by_stack)} are filled in by the stack; remove them")
        return catalog

    @property
    def failover(self) -> SecondaryOriginSettings | None:
        """The secondary origin when one is configured and enabled."""
        if self.secondary_origin is None or not self.secondary_origin.enabled:
            return None
        return self.secondary_origin

    @property
    def deployment_name(self) -> str:
        """Prefix and main region: keeps account-wide names (IAM roles, alarms, dashboards) apart."""
        return f"{self.stack_name_prefix}-{self.region}"

    @property
    def catalog_enabled(self) -> bool:
        return self.origin_kind is OriginKind.S3 and bool(self.catalog.get("enabled", True))

    def catalog_settings(self, *, bucket: str, objects_table: str) -> CatalogSettings:
        """The catalog configuration the credits and S3-event Lambdas read (EDGEMETER_CATALOG)."""
        return CatalogSettings.model_validate(
            {**self.catalog, "bucket": bucket, "objects_table": objects_table, "region": self.region}
        )

    def edge_settings_document(
        self, credits_api_url: str, regional_credits_api_urls: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The edge_auth settings file's content for a credits API URL (a deploy-time token in stacks).

        With ``edgemeter:regions``, ``regional_credits_api_urls`` (credits region -> its API's URL)
        and each edge region's order of regions (nearest first, home among them) are baked too.
        """
        document = {**self.edge, "credits_api": {"url": credits_api_url, "region": self.region}}
        if self.regions is not None:
            urls = regional_credits_api_urls or {}
            document["regional_credits"] = {
                "apis": [{"url": urls[region], "region": region} for region in self.regions.credits],
                "order": region_order_table(self.regions.home, self.regions.credits),
            }
        if self.failover is not None:
            # Origin-response must tell the primary's answer (CloudFront retries it on the
            # secondary) from the secondary's (final): it compares the origin's domain name.
            document["failover"] = {
                "secondary_domain_name": _secondary_domain_name(self.failover, self.region),
                "status_codes": list(self.failover.fallback_status_codes),
            }
        return document

    @model_validator(mode="after")
    def _http_secondary_is_signed(self) -> Self:
        if self.origin_kind is OriginKind.S3 and self.failover is not None and self.failover.kind == "http":
            # Only a custom primary has the origin signer; an S3 primary's group would send the
            # store unsigned requests, which it refuses (each refused download refunded or free).
            raise ValueError(
                'edgemeter:secondaryOrigin kind "http" needs originKind "custom" (the origin signer '
                'signs for S3-compatible stores); behind an S3 primary use kind "bucket"'
            )
        return self

    @model_validator(mode="after")
    def _home_is_the_main_region(self) -> Self:
        if self.regions is not None and self.regions.home != self.region:
            raise ValueError(
                f"edgemeter:regions.home must be edgemeter:region ({self.region}): the main stack is home"
            )
        return self

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.origin_kind is OriginKind.CUSTOM and self.custom_origin is None:
            raise ValueError(
                "originKind 'custom' needs edgemeter:customOrigin "
                '{"endpoint": "https://...", "bucket": "...", '
                '"credentialsSecretArn": "arn:aws:secretsmanager:..."}'
            )
        if self.origin_kind is OriginKind.S3 and self.custom_origin is not None:
            raise ValueError(
                "edgemeter:customOrigin is only used with originKind 'custom'; remove it or switch"
            )
        if self.origin_kind is OriginKind.CUSTOM and self.tiering.enabled:
            raise ValueError(
                "edgemeter:tiering sets lifecycle rules on the content bucket, which only originKind 's3' has"
            )
        if (self.custom_domain is None) != (self.certificate_arn is None):
            raise ValueError(
                "edgemeter:customDomain and edgemeter:certificateArn go together: set both or neither"
            )
        if self.origin_kind is OriginKind.CUSTOM and self.catalog and self.catalog.get("enabled", True):
            raise ValueError(
                'edgemeter:catalog needs originKind "s3" (it HEADs and restores objects with the credits '
                'Lambda\'s IAM role); set {"enabled": false} for a custom origin'
            )
        if self.catalog_enabled:
            try:
                self.catalog_settings(bucket=_SYNTH_TIME_BUCKET, objects_table=_SYNTH_TIME_TABLE)
            except ValidationError as error:
                problems = "; ".join(
                    f"{'.'.join(str(part) for part in detail['loc'])}: {detail['msg']}"
                    for detail in error.errors()
                )
                raise ValueError(f"edgemeter:catalog: {problems}") from None
            if self.failover is not None and self.catalog.get("mode") == "authoritative":
                # The catalog lists the primary bucket only: it would refuse what the secondary serves.
                raise ValueError(
                    'edgemeter:catalog mode "authoritative" cannot be combined with '
                    'edgemeter:secondaryOrigin; use mode "advisory"'
                )
        # The edge validates its file at cold start; validate the same document now, so a
        # bad value fails the synth instead of every viewer request after the deploy.
        try:
            self.synth_time_edge_settings()
        except EdgeSettingsError as error:
            raise ValueError(f"edgemeter:edge: {error}") from None
        return self

    def synth_time_edge_settings(self) -> EdgeSettings:
        """The edge settings as the edge will parse them, with a stand-in credits API URL."""
        regional_urls = {
            region: _SYNTH_TIME_CREDITS_API_URL.format(region=region)
            for region in (self.regions.credits if self.regions is not None else ())
        }
        return parse_edge_settings(
            self.edge_settings_document(_SYNTH_TIME_CREDITS_API_URL.format(region=self.region), regional_urls)
        )


def _secondary_domain_name(failover: SecondaryOriginSettings, region: str) -> str:
    """The secondary's ``domainName`` as origin events show it (CDK: the bucket's regional domain)."""
    if failover.kind == "bucket":
        return f"{failover.bucket_name}.s3.{failover.bucket_region or region}.amazonaws.com"
    return (urlsplit(failover.endpoint or "").hostname or "").lower()


def log_retention(settings: EdgemeterSettings) -> logs.RetentionDays:
    """CloudWatch Logs retention of every log group the stacks create."""
    return _LOG_RETENTION[settings.log_retention_days]


class EdgemeterSettingsError(ValueError):
    """The context does not describe a valid deployment; the message lists every problem."""


# Context keys whose values are objects: on the command line (-c key=value) they arrive as JSON text.
_OBJECT_FIELDS = (
    "customOrigin",
    "prices",
    "edge",
    "catalog",
    "tiering",
    "secondaryOrigin",
    "cacheTtls",
    "apiThrottle",
    "regions",
)


def _context_key(location: tuple[int | str, ...]) -> str:
    head, *rest = (str(part) for part in location)
    return CONTEXT_PREFIX + head + "".join(f".{part}" for part in rest)


def settings_from_context(values: dict[str, Any]) -> EdgemeterSettings:
    """Validate ``{context key without prefix: value}``; raise ``EdgemeterSettingsError`` naming bad keys."""
    problems: list[str] = []
    parsed: dict[str, Any] = {}
    for key, value in values.items():
        if key in _OBJECT_FIELDS and isinstance(value, str):
            try:
                parsed[key] = json.loads(value)
            except json.JSONDecodeError as error:
                problems.append(f"{CONTEXT_PREFIX}{key}: is not valid JSON ({error.msg})")
                continue
        else:
            parsed[key] = value
    if not problems:
        try:
            return EdgemeterSettings.model_validate(parsed)
        except ValidationError as error:
            for detail in error.errors():
                if detail["type"] == "extra_forbidden":
                    problems.append(f"{_context_key(detail['loc'])}: unknown setting (check the spelling)")
                else:
                    message = detail["msg"].removeprefix("Value error, ")
                    given = detail.get("input")
                    # Scalars help ("got 'Ireland'"); a whole settings object would bury the message.
                    if isinstance(given, str | int | float | bool):
                        message += f" (got {given!r})"
                    if detail["loc"]:
                        message = f"{_context_key(detail['loc'])}: {message}"
                    problems.append(message)
    raise EdgemeterSettingsError(
        "invalid edgemeter settings in the CDK context:\n" + "\n".join(f"  - {p}" for p in problems)
    )


def load_settings(node: Node) -> EdgemeterSettings:
    """Collect every ``edgemeter:*`` context key (cdk.json and ``-c``) and validate them together."""
    context: dict[str, Any] = {}
    for key, value in node.get_all_context().items():
        if key.startswith(CONTEXT_PREFIX):
            context[key.removeprefix(CONTEXT_PREFIX)] = value
    return settings_from_context(context)
