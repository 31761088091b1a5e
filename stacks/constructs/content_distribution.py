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
        self.cache_policy = self._build_cache_policy(settings)
        self.origin_request_policy = self._build_origin_request_policy(edge_header_names)
        edge_lambdas = _edge_lambdas(viewer_request, origin_response, origin_request)
        if failover is None:
            # PUT for uploads: every method goes to the one origin.
            default_behavior = self._behavior(origin, cloudfront.AllowedMethods.ALLOW_ALL, edge_lambdas)
            upload_behaviors: dict[str, cloudfront.BehaviorOptions] = {}
        else:
            # An origin group serves GET/HEAD/OPTIONS only: reads fail over, uploads go to the
            # primary through their own path patterns (stacks/constructs/origin_failover.py).
            default_behavior = self._behavior(
                failover.origin_group, cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS, edge_lambdas
            )
            upload_behaviors = {
                pattern: self._behavior(
                    failover.upload_origin, cloudfront.AllowedMethods.ALLOW_ALL, edge_lambdas
                )
                for pattern in failover.upload_path_patterns
            }
        self.distribution = self._build_distribution(
            settings, default_behavior, upload_behaviors, access_logs=access_logs
        )
        self._acknowledge_findings(settings)

    def _build_cache_policy(self, settings: EdgemeterSettings) -> cloudfront.CachePolicy:
        ttls = settings.cache_ttls
        # Nothing from the viewer is in the cache key: not the API key headers (x-api-key,
        # Authorization), not cookies, not query strings. Every viewer is authorized and
        # charged by viewer-request before the cache is consulted, so one cached copy serves all.
        return cloudfront.CachePolicy(
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

    def _build_origin_request_policy(
        self, edge_header_names: Sequence[str]
    ) -> cloudfront.OriginRequestPolicy:
        # viewer-request tells origin-response what it charged through these headers; only
        # headers in an origin request policy reach the origin-side triggers.
        return cloudfront.OriginRequestPolicy(
            self,
            "OriginRequestPolicy",
            comment="edgemeter: forward the charge headers set by viewer-request",
            header_behavior=cloudfront.OriginRequestHeaderBehavior.allow_list(*edge_header_names),
            cookie_behavior=cloudfront.OriginRequestCookieBehavior.none(),
            query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.none(),
        )

    def _behavior(
        self,
        behavior_origin: cloudfront.IOrigin,
        allowed_methods: cloudfront.AllowedMethods,
        edge_lambdas: list[cloudfront.EdgeLambda],
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

    def _build_distribution(
        self,
        settings: EdgemeterSettings,
        default_behavior: cloudfront.BehaviorOptions,
        upload_behaviors: dict[str, cloudfront.BehaviorOptions],
        *,
        access_logs: s3.IBucket,
    ) -> cloudfront.Distribution:
        certificate = (
            acm.Certificate.from_certificate_arn(self, "Certificate", settings.certificate_arn)
            if settings.certificate_arn is not None
            else None
        )
        return cloudfront.Distribution(
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

    def _acknowledge_findings(self, settings: EdgemeterSettings) -> None:
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


def _edge_lambdas(
    viewer_request: lambda_.IVersion,
    origin_response: lambda_.IVersion,
    origin_request: lambda_.IVersion | None,
) -> list[cloudfront.EdgeLambda]:
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
    return edge_lambdas
