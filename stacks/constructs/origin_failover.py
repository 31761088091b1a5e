"""An optional secondary origin behind a CloudFront origin group (migrations, multi-provider storage).

CloudFront tries the primary origin and, when it answers one of ``fallbackStatusCodes``
(default 500, 502, 503, 504 and 404), the secondary. Two limits shape the design:

* an origin group can only serve cache behaviours that allow GET, HEAD and OPTIONS, so with
  failover on, the default behaviour is read-only and uploads go through their own behaviours
  (``uploadPathPatterns``, default ``uploads/*``) straight to the primary, which is where new
  objects belong anyway; reads under those patterns do not fail over;
* S3 answers 403, not 404, for a missing key when the reader may not list the bucket (OAC
  grants s3:GetObject only unless ListBucket is added): add 403 to ``fallbackStatusCodes``, or
  grant the distribution s3:ListBucket on the primary bucket, for missing objects to fail over.

The secondary is either an existing S3 bucket (``kind: "bucket"``, reached through Origin
Access Control; CDK cannot edit an imported bucket's policy, so the operator adds the
statement allowing this distribution, as CDK's synth warning says) or an HTTPS S3-compatible
endpoint serving the same keys (``kind: "http"``, path-style ``/<bucket>/<key>``).
"""

from __future__ import annotations

from typing import Literal, Self
from urllib.parse import urlsplit

from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from constructs import Construct
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from functions.shared.aws_regions import AWS_REGION_PATTERN
from stacks.constructs.path_style_origin import path_style_https_origin

DEFAULT_FALLBACK_STATUS_CODES = (500, 502, 503, 504, 404)
# Status codes CloudFront accepts as failover criteria.
_ALLOWED_FALLBACK_CODES = frozenset({400, 403, 404, 416, 500, 502, 503, 504})


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SecondaryOriginSettings(_Settings):
    """``edgemeter:secondaryOrigin`` in cdk.json."""

    enabled: bool = True
    kind: Literal["bucket", "http"]
    bucket_name: str | None = Field(
        default=None, alias="bucketName", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
    )
    bucket_region: str | None = Field(default=None, alias="bucketRegion", pattern=AWS_REGION_PATTERN)
    endpoint: str | None = Field(default=None, description="https://host[:port] of an S3-compatible store")
    path_bucket: str | None = Field(
        default=None, alias="pathBucket", description="kind http: bucket name in the path-style URL"
    )
    fallback_status_codes: tuple[int, ...] = Field(
        default=DEFAULT_FALLBACK_STATUS_CODES, alias="fallbackStatusCodes", min_length=1
    )
    upload_path_patterns: tuple[str, ...] = Field(
        default=("uploads/*",),
        alias="uploadPathPatterns",
        description="behaviours that accept PUT/POST/DELETE",
    )

    @field_validator("fallback_status_codes")
    @classmethod
    def _cloudfront_accepts(cls, codes: tuple[int, ...]) -> tuple[int, ...]:
        unsupported = sorted(set(codes) - _ALLOWED_FALLBACK_CODES)
        if unsupported:
            raise ValueError(
                f"CloudFront cannot fail over on {unsupported}; allowed: {sorted(_ALLOWED_FALLBACK_CODES)}"
            )
        return codes

    @field_validator("upload_path_patterns")
    @classmethod
    def _specific_patterns(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            if pattern in ("*", "/*", "") or len(pattern) > 255:
                raise ValueError(
                    f"{pattern!r} is not a usable upload path pattern (it would replace the default)"
                )
        return patterns

    @model_validator(mode="after")
    def _kind_fields(self) -> Self:
        if self.kind == "bucket" and self.bucket_name is None:
            raise ValueError('kind "bucket" needs bucketName')
        if self.kind == "http":
            parts = urlsplit(self.endpoint or "")
            if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/"):
                raise ValueError('kind "http" needs endpoint as https://host[:port]')
            if self.path_bucket is None:
                raise ValueError('kind "http" needs pathBucket (path-style /<bucket>/<key>)')
        return self


class OriginFailover(Construct):
    """The secondary origin and the origin group (primary first) that the default behaviour serves."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        primary: cloudfront.IOrigin,
        settings: SecondaryOriginSettings,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.secondary: cloudfront.IOrigin
        if settings.kind == "bucket":
            assert settings.bucket_name is not None  # guaranteed by SecondaryOriginSettings
            secondary_bucket = s3.Bucket.from_bucket_attributes(
                self, "SecondaryBucket", bucket_name=settings.bucket_name, region=settings.bucket_region
            )
            self.secondary = origins.S3BucketOrigin.with_origin_access_control(
                secondary_bucket, origin_access_levels=[cloudfront.AccessLevel.READ]
            )
        else:
            endpoint = urlsplit(settings.endpoint or "")
            assert endpoint.hostname is not None  # guaranteed by SecondaryOriginSettings
            assert settings.path_bucket is not None  # guaranteed by SecondaryOriginSettings
            self.secondary = path_style_https_origin(
                endpoint.hostname, endpoint.port or 443, settings.path_bucket
            )
        self.origin_group = origins.OriginGroup(
            primary_origin=primary,
            fallback_origin=self.secondary,
            fallback_status_codes=list(settings.fallback_status_codes),
        )
        self.upload_origin = primary
        self.upload_path_patterns = settings.upload_path_patterns
