"""The credits service: its Lambda, the IAM-authorized REST API in front of it, and the access policies."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.observability.names import CREDITS_SERVICE_NAME
from functions.observability.names import METRICS_NAMESPACE as CREDITS_METRICS_NAMESPACE
from functions.shared.environment_variables import (
    EDGEMETER_CDN_BASE_URL_PARAMETER,
    EDGEMETER_CREDITS_TABLE,
    EDGEMETER_PRICING,
    EDGEMETER_USERS_TABLE,
)
from stacks.constructs.edge_http_api import EdgeHttpApi
from stacks.constructs.lambda_parts import function_logs_and_role, python_function
from stacks.nag import acknowledge, nag_account, nag_partition
from stacks.settings import EdgemeterSettings, log_retention

CREDITS_HANDLER = "functions.credits.handler.lambda_handler"
API_STAGE_NAME = "live"


# Fields of API Gateway's standard JSON access-log line.
_ACCESS_LOG_FORMAT = apigateway.AccessLogFormat.json_with_standard_fields(
    caller=True,
    http_method=True,
    ip=True,
    protocol=True,
    request_time=True,
    resource_path=True,
    response_length=True,
    status=True,
    user=True,
)


def cdn_base_url_parameter_name(settings: EdgemeterSettings) -> str:
    """The SSM parameter holding the CDN's URL for signed links (issue 16); the main stack writes it
    once the distribution exists (functions/credits/sellers/cdn_url.py says why not an env value)."""
    return f"/{settings.deployment_name}/cdn-base-url"


def credits_function_environment(
    settings: EdgemeterSettings, users_table: dynamodb.ITable, credits_table: dynamodb.ITable
) -> dict[str, str]:
    """The credits Lambda's environment: its tables, its prices and Powertools' service identity."""
    return {
        EDGEMETER_USERS_TABLE: users_table.table_name,
        EDGEMETER_CREDITS_TABLE: credits_table.table_name,
        EDGEMETER_PRICING: settings.prices.model_dump_json(),
        EDGEMETER_CDN_BASE_URL_PARAMETER: cdn_base_url_parameter_name(settings),
        # The service's own defaults, stated so the dashboard and the function cannot diverge.
        "POWERTOOLS_SERVICE_NAME": CREDITS_SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": CREDITS_METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


class CreditsApiInfra(Construct):
    """Credits Lambda behind API Gateway (every method AWS_IAM), plus managed policies for its callers.

    Named for the infrastructure it creates: ``functions.credits.app.CreditsApi`` is the runtime resolver.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EdgemeterSettings,
        code: lambda_.Code,
        users_table: dynamodb.ITable,
        credits_table: dynamodb.ITable,
        architecture: lambda_.Architecture,
    ) -> None:
        super().__init__(scope, construct_id)
        retention = log_retention(settings)
        self.function = self._build_function(
            settings,
            code=code,
            architecture=architecture,
            retention=retention,
            tables=(users_table, credits_table),
        )
        users_table.grant_read_write_data(self.function)
        credits_table.grant_read_write_data(self.function)
        self.rest_api = self._build_rest_api(settings, retention)
        self.edge_api = EdgeHttpApi(
            self,
            "EdgeApi",
            settings=settings,
            function=self.function,
            description="edgemeter credits API for the edge: authorize and refunds (IAM-signed)",
        )
        self.proxy_resource = self._build_proxy_resource()
        self._acknowledge_api_findings()
        self._build_caller_policies()
        self._acknowledge_route_wildcards()
        self._allow_reading_cdn_url(settings)
        self._acknowledge_account_list_index(users_table)

    def _acknowledge_account_list_index(self, users_table: dynamodb.ITable) -> None:
        """grant_read_write_data names the users table's indexes as ``<table>/index/*``."""
        table_id = Stack.of(self).get_logical_id(users_table.node.default_child)  # type: ignore[arg-type]
        assert self.function.role is not None
        acknowledge(
            self.function.role,
            f"AwsSolutions-IAM5[Resource::<{table_id}.Arn>/index/*]",
            "The account list (GET /v1/accounts) queries the users table's account-list index, "
            "its only index.",
        )

    def _allow_reading_cdn_url(self, settings: EdgemeterSettings) -> None:
        """Signed links read the CDN's URL from its SSM parameter, by name (no dependency on it)."""
        parameter_arn = Stack.of(self).format_arn(
            service="ssm",
            resource="parameter",
            resource_name=cdn_base_url_parameter_name(settings).lstrip("/"),
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[parameter_arn])
        )

    def _build_function(
        self,
        settings: EdgemeterSettings,
        *,
        code: lambda_.Code,
        architecture: lambda_.Architecture,
        retention: logs.RetentionDays,
        tables: tuple[dynamodb.ITable, dynamodb.ITable],
    ) -> lambda_.Function:
        users_table, credits_table = tables
        function_logs, role = function_logs_and_role(
            self,
            retention=retention,
            role_description="edgemeter credits Lambda",
            logs_id="FunctionLogs",
            role_id="FunctionRole",
        )
        function = python_function(
            self,
            "Function",
            logs_and_role=(function_logs, role),
            architecture=architecture,
            handler=CREDITS_HANDLER,
            code=code,
            memory_size=1024,
            # Just under API Gateway's 29 s integration timeout: usage sums a whole period of the
            # ledger in one invocation. Authorize cannot hang that long: its DynamoDB client has
            # 1-2 s timeouts, and the edge gives up after its own budget anyway.
            timeout=Duration.seconds(28),
            tracing=lambda_.Tracing.ACTIVE,
            description="edgemeter credits service (accounts, keys, grants, authorize, refunds)",
            environment=credits_function_environment(settings, users_table, credits_table),
        )
        self._acknowledge_function_findings(role, function)
        return function

    @staticmethod
    def _acknowledge_function_findings(role: iam.Role, function: lambda_.Function) -> None:
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray's PutTraceSegments and PutTelemetryRecords (active tracing) do not support "
            "resource-level permissions; every other statement of this role names its table.",
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Pinned to Python 3.12: the bundled manylinux wheels are built for it (stacks/bundling.py) "
            "and it matches the Lambda@Edge functions; upgraded deliberately, with the wheels.",
        )

    def _build_rest_api(
        self, settings: EdgemeterSettings, retention: logs.RetentionDays
    ) -> apigateway.RestApi:
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=retention, removal_policy=RemovalPolicy.RETAIN
        )
        return apigateway.RestApi(
            self,
            "Api",
            description="edgemeter credits API (IAM-signed requests only)",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            # Execution and access logs need the account-level CloudWatch role.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            default_method_options=apigateway.MethodOptions(
                authorization_type=apigateway.AuthorizationType.IAM
            ),
            deploy_options=apigateway.StageOptions(
                stage_name=API_STAGE_NAME,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # bodies carry key digests and account data: never log them
                throttling_rate_limit=settings.api_throttle.rate_limit,
                throttling_burst_limit=settings.api_throttle.burst_limit,
                access_log_destination=apigateway.LogGroupLogDestination(access_logs),
                access_log_format=_ACCESS_LOG_FORMAT,
            ),
        )

    def _build_proxy_resource(self) -> apigateway.ProxyResource:
        # One proxy resource: the Lambda routes (and answers unknown paths with the JSON error
        # shape); IAM decides who may call which method and path (see the policies below).
        integration = apigateway.LambdaIntegration(self.function)
        proxy = self.rest_api.root.add_resource("v1").add_proxy(
            default_integration=integration, any_method=True
        )
        return proxy

    def _acknowledge_api_findings(self) -> None:
        acknowledge(
            self.rest_api,
            "AwsSolutions-APIG2",
            "The credits Lambda validates every body with its pydantic models (one source of truth); "
            "a second copy as API Gateway models would drift.",
        )
        acknowledge(
            self.proxy_resource,
            "AwsSolutions-COG4",
            "Callers are AWS principals (the edge role, billing staff) signing with SigV4: every method "
            "uses AWS_IAM authorization, which a Cognito user pool authorizer would replace, not add to.",
        )
        acknowledge(
            self.rest_api,
            "AwsSolutions-APIG3",
            "Every method needs a SigV4 signature of an IAM principal holding one of the policies below; "
            "a WAF adds cost without adding a caller it could reject that IAM does not.",
        )
        acknowledge(
            self.rest_api,
            # AWS-managed policy ARNs always carry the partition as a Ref.
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "The account-level API Gateway logging role uses the AWS-managed policy AWS documents for it; "
            "API Gateway creates the execution log groups itself, so their names are not known here.",
        )

    def _build_caller_policies(self) -> None:
        # The edge's routes are served by their own HTTP API (issue 14 §6); the REST API's
        # copies are reached by no policy here.
        self.edge_policy = self.edge_api.invoke_policy(
            "EdgePolicy", "edgemeter edge functions: POST /v1/authorize and POST /v1/refunds only"
        )
        self.billing_reader_policy = self._invoke_policy(
            "BillingReaderPolicy",
            "edgemeter billing readers: every GET of the credits API (balances, ledger, usage)",
            [self._route_arn("GET", "/v1/*")],
        )
        self.billing_admin_policy = self._invoke_policy(
            "BillingAdminPolicy",
            "edgemeter billing admins: accounts, keys and grants (not the edge-only routes)",
            [
                self._route_arn("GET", "/v1/*"),
                self._route_arn("*", "/v1/accounts"),
                self._route_arn("*", "/v1/accounts/*"),
            ],
        )

    def _invoke_policy(self, policy_id: str, description: str, route_arns: list[str]) -> iam.ManagedPolicy:
        return iam.ManagedPolicy(
            self,
            policy_id,
            description=description,
            statements=[iam.PolicyStatement(actions=["execute-api:Invoke"], resources=route_arns)],
        )

    def _acknowledge_route_wildcards(self) -> None:
        api_logical_id = Stack.of(self).get_logical_id(self.rest_api.node.default_child)  # type: ignore[arg-type]
        stack = Stack.of(self)
        api_arn_prefix = f"arn:{nag_partition(stack)}:execute-api:{stack.region}:{nag_account(stack)}"

        def finding(method: str, path: str) -> str:
            return (
                f"AwsSolutions-IAM5[Resource::{api_arn_prefix}:"
                f"<{api_logical_id}>/{API_STAGE_NAME}/{method}{path}]"
            )

        acknowledge(
            self.billing_reader_policy,
            finding("GET", "/v1/*"),
            "Readers may call every GET of the API (balances, keys, ledger, usage): reads only, by design.",
        )
        acknowledge(
            self.billing_admin_policy,
            finding("GET", "/v1/*"),
            "Admins read everything readers read (every GET of the API).",
        )
        for path in ("/v1/accounts", "/v1/accounts/*"):
            acknowledge(
                self.billing_admin_policy,
                finding("*", path),
                "Admins manage accounts, keys and grants (every method under /v1/accounts); the edge-only "
                "routes /v1/authorize and /v1/refunds are outside this pattern.",
            )

    def _route_arn(self, method: str, path: str) -> str:
        return self.rest_api.arn_for_execute_api(method, path, API_STAGE_NAME)

    @property
    def url(self) -> str:
        """Base URL of the deployed stage, e.g. https://abc.execute-api.eu-west-1.amazonaws.com/live/"""
        return self.rest_api.url

    @property
    def edge_url(self) -> str:
        """Base URL of the edge's HTTP API, e.g. https://def.execute-api.eu-west-1.amazonaws.com/"""
        return self.edge_api.url
