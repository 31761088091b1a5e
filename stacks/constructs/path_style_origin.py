"""The CloudFront origin for an S3-compatible store: HTTPS only, TLS 1.2, path-style addressing."""

from __future__ import annotations

from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins


def path_style_https_origin(hostname: str, https_port: int, bucket: str) -> origins.HttpOrigin:
    """The store at ``hostname:https_port``; requests reach ``/<bucket>/<key>`` on it."""
    return origins.HttpOrigin(
        hostname,
        protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
        https_port=https_port,
        origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
        origin_path=f"/{bucket}",
    )
