"""Where CloudFront fetches objects: a private S3 bucket (OAC) or a signed S3-compatible endpoint."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.path_style_origin import path_style_https_origin
from stacks.settings import CustomOriginSettings


class AccessLogsBucket(Construct):
    """Receives S3 server access logs and CloudFront standard logs; expires them after the log retention."""

    def __init__(self, scope: Construct, construct_id: str, *, retention_days: int) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            # CloudFront standard logging writes with object ACLs; SSE-KMS is not supported for it.
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=False,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(retention_days))],
            # Access logs are audit evidence: deleting the stack must not delete them.
            removal_policy=RemovalPolicy.RETAIN,
        )


class S3ContentOrigin(Construct):
    """The private content bucket, reachable only by this distribution through Origin Access Control."""

    def __init__(self, scope: Construct, construct_id: str, *, access_logs: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="s3-content/",
            # Old versions of overwritten uploads are kept for recovery, not forever.
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(30))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        # READ for downloads, WRITE for PUT uploads; the bucket policy's principal is the
        # CloudFront service, conditioned on this distribution's ARN (AWS:SourceArn).
        self.cloudfront_origin: cloudfront.IOrigin = origins.S3BucketOrigin.with_origin_access_control(
            self.bucket,
            origin_access_levels=[cloudfront.AccessLevel.READ, cloudfront.AccessLevel.WRITE],
        )


class CustomContentOrigin(Construct):
    """An S3-compatible store over HTTPS (TLS 1.2); the origin-request function signs every request."""

    def __init__(self, scope: Construct, construct_id: str, *, custom_origin: CustomOriginSettings) -> None:
        super().__init__(scope, construct_id)
        self.settings = custom_origin
        self.cloudfront_origin: cloudfront.IOrigin = path_style_https_origin(
            custom_origin.hostname, custom_origin.https_port, custom_origin.bucket
        )
