"""The CloudFront distribution: HTTPS only, edge authorization on every request, a key-free cache key."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.origin_failover import OriginFailover
from stacks.nag import acknowledge
from stacks.settings import EdgemeterSettings

_UNCACHED_ERROR_STATUSES = (404, 500, 502, 503, 504)


class ContentDistribution(Construct):
    """Distribution over one origin, with the edge_auth (and, for custom origins, signer) functions."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EdgemeterSettings,
        origin: cloudfront.IOrigin,
        failover: OriginFailover | None,
        access_logs: s3.IBucket,
        viewer_request: lambda_.IVersion,
        origin_response: lambda_.IVersion,
        origin_request: lambda_.IVersion | None,
        edge_header_names: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        ttls = settings.cache_ttls
        # Nothing from the viewer is in the cache key: not the API key headers (x-api-key,
        # Authorization), not cookies, not query strings. Every viewer is authorized and
        # charged by viewer-request before the cache is consulted, so one cached copy serves all.
        self.cache_policy = cloudfront.CachePolicy(
            self,
            "CachePolicy",
            comment="edgemeter: objects keyed by path only; API keys never in the key",
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
            default_ttl=Duration.seconds(ttls.default_seconds),
            min_ttl=Duration.seconds(ttls.min_seconds),
            max_ttl=Duration.seconds(ttls.max_seconds),
        )
        # viewer-request tells origin-response what it charged through these headers; only
        # headers in an origin request policy reach the origin-side triggers.
        self.origin_request_policy = cloudfront.OriginRequestPolicy(
            self,
            "OriginRequestPolicy",
            comment="edgemeter: forward the charge headers set by viewer-request",
            header_behavior=cloudfront.OriginRequestHeaderBehavior.allow_list(*edge_header_names),
            cookie_behavior=cloudfront.OriginRequestCookieBehavior.none(),
            query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.none(),
        )
        edge_lambdas = [
            cloudfront.EdgeLambda(
                function_version=viewer_request, event_type=cloudfront.LambdaEdgeEventType.VIEWER_REQUEST
            ),
            cloudfront.EdgeLambda(
                function_version=origin_response, event_type=cloudfront.LambdaEdgeEventType.ORIGIN_RESPONSE
            ),
        ]
        if origin_request is not None:
            edge_lambdas.append(
                cloudfront.EdgeLambda(
                    function_version=origin_request, event_type=cloudfront.LambdaEdgeEventType.ORIGIN_REQUEST
                )
            )

        def behavior(
            behavior_origin: cloudfront.IOrigin, allowed_methods: cloudfront.AllowedMethods
        ) -> cloudfront.BehaviorOptions:
            return cloudfront.BehaviorOptions(
                origin=behavior_origin,
                allowed_methods=allowed_methods,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                # API keys travel in headers, so plain HTTP is refused outright (a redirect
                # would already have sent the key in clear text).
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                cache_policy=self.cache_policy,
                origin_request_policy=self.origin_request_policy,
                response_headers_policy=cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
                compress=True,
                edge_lambdas=edge_lambdas,
            )

        if failover is None:
            # PUT for uploads: every method goes to the one origin.
            default_behavior = behavior(origin, cloudfront.AllowedMethods.ALLOW_ALL)
            upload_behaviors: dict[str, cloudfront.BehaviorOptions] = {}
        else:
            # An origin group serves GET/HEAD/OPTIONS only: reads fail over, uploads go to the
            # primary through their own path patterns (stacks/constructs/origin_failover.py).
            default_behavior = behavior(
                failover.origin_group, cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS
            )
            upload_behaviors = {
                pattern: behavior(failover.upload_origin, cloudfront.AllowedMethods.ALLOW_ALL)
                for pattern in failover.upload_path_patterns
            }
        certificate = (
            acm.Certificate.from_certificate_arn(self, "Certificate", settings.certificate_arn)
            if settings.certificate_arn is not None
            else None
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="edgemeter: metered access to objects",
            default_behavior=default_behavior,
            additional_behaviors=upload_behaviors or None,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            # Only a custom certificate can raise the minimum TLS version (see CFR4 below).
            minimum_protocol_version=(
                cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if certificate is not None else None
            ),
            domain_names=[settings.custom_domain] if settings.custom_domain is not None else None,
            certificate=certificate,
            web_acl_id=settings.web_acl_arn,
            # Errors are never cached: origin-response refunds only on cache misses, so a cached
            # 404 or 5xx would be served (and charged) again without a refund.
            error_responses=[
                cloudfront.ErrorResponse(http_status=status, ttl=Duration.seconds(0))
                for status in _UNCACHED_ERROR_STATUSES
            ],
            enable_logging=True,
            log_bucket=access_logs,
            log_file_prefix="cloudfront/",
            log_includes_cookies=False,
        )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR1",
            "Access is controlled per request by API key and credits; who may download is an account "
            "decision, not a country one. Operators can add a geo restriction via the WAF web ACL.",
        )
        if settings.web_acl_arn is None:
            acknowledge(
                self.distribution,
                "AwsSolutions-CFR2",
                "No web ACL configured (edgemeter:webAclArn): every request is authorized by the "
                "viewer-request function before it reaches the cache or the origin.",
            )
        if settings.certificate_arn is None:
            acknowledge(
                self.distribution,
                "AwsSolutions-CFR4",
                "Without a custom domain CloudFront serves its default *.cloudfront.net certificate, whose "
                "minimum TLS version cannot be chosen; set edgemeter:customDomain and certificateArn "
                "to get TLSv1.2_2021.",
            )

    @property
    def domain_name(self) -> str:
        return self.distribution.distribution_domain_name
