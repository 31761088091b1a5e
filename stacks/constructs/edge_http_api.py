"""The edge's credits API (issue 14 §6): an HTTP API with the two edge routes, IAM-authorized.

``POST /v1/authorize`` and ``POST /v1/refunds`` are most of the credits service's requests; an
HTTP API serves them at $1.00 per million against REST's $3.50. It keeps what the edge path
needs: IAM (SigV4) authorization on every route, throttling, JSON access logs (no paths with
query strings, no bodies), 10 MB payloads. It has no resource policy, so the edge-only rule is
the edge roles' identity policy (``invoke_policy``) and, behind it, the credits function's own
check of the caller's role (functions/credits/routes/edge_callers.py). The billing routes stay
on the REST API (stacks/constructs/credits_api.py). docs/decisions.md, "Ledger and edge HTTP API
as built", records the trade.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import jsii
from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigatewayv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.aws_apigatewayv2_authorizers import HttpIamAuthorizer
from aws_cdk.aws_apigatewayv2_integrations import HttpLambdaIntegration
from constructs import Construct

from functions.edge_auth.credits_client import AUTHORIZE_PATH, REFUNDS_PATH
from stacks.settings import EdgemeterSettings, log_retention

# The two routes only the edge may call (docs/decisions.md, "Edge <-> credits contract"), by the
# paths the edge's client sends.
EDGE_ROUTES = (("POST", AUTHORIZE_PATH), ("POST", REFUNDS_PATH))
# The stage served at the API's root: the edge's URL has no stage segment, and the event's
# ``path`` (payload 1.0) is the route's path exactly as the REST API gives it.
EDGE_API_STAGE_NAME = "$default"

# One JSON line per request. The route key (``POST /v1/authorize``) stands for the path: no query
# string, no body (it carries a key digest), never a header.
EDGE_ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    # The caller's role session (the IAM caller and user ids would only repeat it, at log cost).
    "userArn": "$context.identity.userArn",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
}


@jsii.implements(apigatewayv2.IAccessLogSettings)
class _AccessLogSettings:
    """The stage's access log destination and line format (a plain class: jsii tags the instance)."""

    def __init__(
        self, destination: apigatewayv2.IAccessLogDestination, log_format: apigateway.AccessLogFormat
    ) -> None:
        self._destination = destination
        self._format = log_format

    @property
    def destination(self) -> apigatewayv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway.AccessLogFormat | None:
        return self._format


class EdgeHttpApi(Construct):
    """The HTTP API, its ``$default`` stage and the managed policy that lets the edge roles call it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EdgemeterSettings,
        function: lambda_.IFunction,
        description: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.http_api = apigatewayv2.HttpApi(self, "Api", description=description, create_default_stage=False)
        # Payload 1.0 is the REST proxy event's shape: one Powertools resolver serves both APIs.
        integration = HttpLambdaIntegration(
            "CreditsFunction", function, payload_format_version=apigatewayv2.PayloadFormatVersion.VERSION_1_0
        )
        for method, path in EDGE_ROUTES:
            self.http_api.add_routes(
                path=path,
                methods=[apigatewayv2.HttpMethod(method)],
                integration=integration,
                authorizer=HttpIamAuthorizer(),
            )
        self.stage = self._build_stage(settings)

    def _build_stage(self, settings: EdgemeterSettings) -> apigatewayv2.HttpStage:
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention(settings), removal_policy=RemovalPolicy.RETAIN
        )
        stage = apigatewayv2.HttpStage(
            self,
            "Stage",
            http_api=self.http_api,
            stage_name=EDGE_API_STAGE_NAME,
            auto_deploy=True,
            detailed_metrics_enabled=True,
            # HTTP APIs apply the stage's default route throttling to each route on its own.
            throttle=apigatewayv2.ThrottleSettings(
                rate_limit=settings.api_throttle.rate_limit, burst_limit=settings.api_throttle.burst_limit
            ),
            access_log_settings=_AccessLogSettings(
                destination=apigatewayv2.LogGroupLogDestination(access_logs),
                log_format=apigateway.AccessLogFormat.custom(json.dumps(EDGE_ACCESS_LOG_FIELDS)),
            ),
        )
        self._throttle_each_route(stage, settings)
        return stage

    @staticmethod
    def _throttle_each_route(stage: apigatewayv2.HttpStage, settings: EdgemeterSettings) -> None:
        """Route-level limits, written out per route (CDK's HttpStage has no route settings)."""
        cfn_stage = stage.node.default_child
        assert isinstance(cfn_stage, apigatewayv2.CfnStage)
        cfn_stage.route_settings = {
            f"{method} {path}": {
                "ThrottlingRateLimit": settings.api_throttle.rate_limit,
                "ThrottlingBurstLimit": settings.api_throttle.burst_limit,
                "DetailedMetricsEnabled": True,
            }
            for method, path in EDGE_ROUTES
        }

    def route_arn(self, method: str, path: str) -> str:
        return self.http_api.arn_for_execute_api(method, path, EDGE_API_STAGE_NAME)

    def invoke_policy(
        self, policy_id: str, description: str, roles: Sequence[iam.IRole] = ()
    ) -> iam.ManagedPolicy:
        """execute-api:Invoke on the two edge routes of this API, and nothing else."""
        return iam.ManagedPolicy(
            self,
            policy_id,
            description=description,
            statements=[
                iam.PolicyStatement(
                    actions=["execute-api:Invoke"],
                    resources=[self.route_arn(method, path) for method, path in EDGE_ROUTES],
                )
            ],
            roles=list(roles) or None,
        )

    @property
    def url(self) -> str:
        """The stage's base URL, e.g. https://abc.execute-api.eu-west-1.amazonaws.com/"""
        url = self.stage.url
        assert url is not None
        return url
