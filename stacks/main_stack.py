"""The main-region stack: data, credits API, content origin, distribution, edge settings, monitoring."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aws_cdk import CfnOutput, Duration, Environment, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from functions.credits.data.models import AccountListIndex, CreditsTableModel, UsersTableModel
from functions.shared.environment_variables import EDGEMETER_EDGE_ROLES, EDGEMETER_VOID_NOTICES_TABLE
from stacks.bundling import LambdaCpu, PythonAssetSpec, python_lambda_code
from stacks.constructs.account_events import AccountEventsInfra, account_events_asset_spec
from stacks.constructs.cdn_alarms import CdnAlarms
from stacks.constructs.content_distribution import ContentDistribution
from stacks.constructs.content_origin import AccessLogsBucket, CustomContentOrigin, S3ContentOrigin
from stacks.constructs.credits_api import (
    CreditsApiInfra,
    cdn_base_url_parameter_name,
    credits_function_environment,
)
from stacks.constructs.data_tables import DataTables
from stacks.constructs.edge_functions import LAMBDA_PYTHON_VERSION, BakedEdgeFunction, EdgeSettingsWriter
from stacks.constructs.ledger import LedgerInfra, ledger_writer_asset_spec
from stacks.constructs.monitoring import Monitoring
from stacks.constructs.object_catalog import ObjectCatalogInfra
from stacks.constructs.origin_failover import OriginFailover
from stacks.constructs.regional_credits import schedule_shard_rate_follower, schedule_void_notice_applier
from stacks.constructs.regional_users_table import (
    GlobalModelTable,
    users_table_name,
    void_notices_table_name,
)
from stacks.constructs.storage_tiering import StorageTiering
from stacks.edge_stack import EdgemeterEdgeStack
from stacks.lambda_packages import CREDITS_PACKAGE_DIRS, EDGE_AUTH_PACKAGE_DIRS, ORIGIN_SIGNER_PACKAGE_DIRS
from stacks.nag import acknowledge
from stacks.settings import (
    CustomOriginSettings,
    EdgemeterSettings,
    LambdaArchitecture,
    OriginKind,
    log_retention,
)

EDGE_AUTH_SETTINGS_FILE = "functions/edge_auth/config.json"
VIEWER_REQUEST_HANDLER = "functions.edge_auth.viewer_request.handler"
ORIGIN_RESPONSE_HANDLER = "functions.edge_auth.origin_response.handler"
ORIGIN_SIGNER_SETTINGS_FILE = "functions/origin_signer/config.json"
ORIGIN_SIGNER_HANDLER = "functions.origin_signer.origin_request.handler"

# Builds a Lambda's code from its asset spec; tests swap in a lighter one.
CodeFactory = Callable[[PythonAssetSpec], lambda_.Code]

LAMBDA_CPUS = {LambdaArchitecture.X86_64: LambdaCpu.X86_64, LambdaArchitecture.ARM64: LambdaCpu.ARM64}
_ARCHITECTURES = {
    LambdaArchitecture.X86_64: lambda_.Architecture.X86_64,
    LambdaArchitecture.ARM64: lambda_.Architecture.ARM_64,
}


def lambda_architecture(settings: EdgemeterSettings) -> lambda_.Architecture:
    """The CPU of the credits Lambdas (home's and every credits region's)."""
    return _ARCHITECTURES[settings.lambda_architecture]


def credits_asset_spec(settings: EdgemeterSettings) -> PythonAssetSpec:
    """The credits Lambda's asset (also the catalog event Lambda's: same packages, same dependencies)."""
    return PythonAssetSpec(
        package_dirs=CREDITS_PACKAGE_DIRS,
        requirements_file="functions/credits/requirements.txt",
        python_version=LAMBDA_PYTHON_VERSION,
        cpu=LAMBDA_CPUS[settings.lambda_architecture],
    )


# Lambda@Edge runs on x86_64 only; these packages are standard library (+ the runtime's botocore).
# They ship their bytecode: every cold start would otherwise compile them (stacks/bundling.py).
EDGE_AUTH_ASSET = PythonAssetSpec(
    package_dirs=EDGE_AUTH_PACKAGE_DIRS,
    python_version=LAMBDA_PYTHON_VERSION,
    cpu=LambdaCpu.X86_64,
    compile_bytecode=True,
)
ORIGIN_SIGNER_ASSET = PythonAssetSpec(
    package_dirs=ORIGIN_SIGNER_PACKAGE_DIRS,
    python_version=LAMBDA_PYTHON_VERSION,
    cpu=LambdaCpu.X86_64,
    compile_bytecode=True,
)


def edge_role_name(settings: EdgemeterSettings, function_purpose: str) -> str:
    """IAM role names are account-wide: the deployment name keeps two deployments apart."""
    role_name = f"{settings.deployment_name}-{function_purpose}"
    if len(role_name) > 64:
        raise ValueError(
            f"edge role name {role_name!r} is longer than IAM's 64 characters; shorten stackNamePrefix"
        )
    return role_name


def origin_signer_settings_document(custom_origin: CustomOriginSettings) -> dict[str, object]:
    """What the origin-request signer needs: where the store's credentials are and how to sign."""
    secret_region = custom_origin.credentials_secret_arn.split(":")[3]
    return {
        "credentials_secret_arn": custom_origin.credentials_secret_arn,
        "credentials_secret_region": secret_region,
        "signing_region": custom_origin.signing_region,
        "service": "s3",
    }


class EdgemeterStack(Stack):
    """Everything but the edge functions themselves; composes the constructs of stacks/constructs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EdgemeterSettings,
        edge_stack: EdgemeterEdgeStack,
        account: str | None,
        lambda_code: CodeFactory = python_lambda_code,
        regional_credits_api_urls: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            stack_name=settings.stack_name_prefix,
            env=Environment(account=account, region=settings.region),
            description="edgemeter: metered, API-key authorized access to objects through CloudFront",
            # Regional credits (issue 15): the edge settings baked here name the credits regions' APIs.
            cross_region_references=settings.regions is not None,
        )
        self.settings = settings
        self.regional_credits_api_urls = regional_credits_api_urls
        self.tables = DataTables(self, "Data", users_table=self._regional_users_table())
        self.access_logs = AccessLogsBucket(
            self, "AccessLogs", retention_days=settings.log_retention_days
        ).bucket
        credits_code = lambda_code(credits_asset_spec(settings))
        architecture = _ARCHITECTURES[settings.lambda_architecture]
        self.credits_api = CreditsApiInfra(
            self,
            "CreditsApi",
            settings=settings,
            code=credits_code,
            architecture=architecture,
            users_table=self.tables.users_table,
            credits_table=self.tables.credits_table,
        )
        self.ledger = self._build_ledger(lambda_code, architecture)
        self.account_events = self._build_account_events(lambda_code, architecture)
        self._build_void_notices()
        schedule_shard_rate_follower(self, self.credits_api.function)
        settings_writer = EdgeSettingsWriter(
            self, "EdgeSettingsWriter", log_retention=log_retention(settings)
        )
        self._build_edge_auth_functions(edge_stack, lambda_code(EDGE_AUTH_ASSET), settings_writer)
        self.content_bucket: s3.IBucket | None = None
        self.origin_signer: BakedEdgeFunction | None = None
        if settings.origin_kind is OriginKind.S3:
            content_origin = self._build_s3_content(credits_code, architecture)
        else:
            content_origin = self._build_custom_content(edge_stack, lambda_code, settings_writer)
        self.distribution = self._build_distribution(content_origin)
        self._publish_cdn_url()
        self._build_monitoring(edge_stack)
        self._outputs()

    def _regional_users_table(self) -> dynamodb.ITable | None:
        """With credits regions, accounts and keys are a global table replicated to each (issue 15)."""
        regions = self.settings.regions
        if regions is None:
            return None
        return GlobalModelTable(
            self,
            "UsersGlobal",
            model=UsersTableModel,
            table_name=users_table_name(self.settings.deployment_name),
            replica_regions=regions.credits,
            global_indexes=(AccountListIndex,),  # sellers (issue 16): the account list
        ).table

    def _build_void_notices(self) -> None:
        """Regional credits: the void notices' global table, read and written by home's function."""
        regions = self.settings.regions
        if regions is None:
            return
        table = GlobalModelTable(
            self,
            "VoidNotices",
            model=CreditsTableModel,
            table_name=void_notices_table_name(self.settings.deployment_name),
            replica_regions=regions.credits,
        ).table
        table.grant_read_write_data(self.credits_api.function)
        self.credits_api.function.add_environment(EDGEMETER_VOID_NOTICES_TABLE, table.table_name)
        schedule_void_notice_applier(self, self.credits_api.function)

    def _build_ledger(self, lambda_code: CodeFactory, architecture: lambda_.Architecture) -> LedgerInfra:
        """The ledger table and its one writer, fed by the credits table's stream (issue 14)."""
        return LedgerInfra(
            self,
            "Ledger",
            settings=self.settings,
            code=lambda_code(ledger_writer_asset_spec(LAMBDA_CPUS[self.settings.lambda_architecture])),
            architecture=architecture,
            credits_table=self.tables.credits_table,
            credits_function=self.credits_api.function,
            function_environment=credits_function_environment(
                self.settings, self.tables.users_table, self.tables.credits_table
            ),
        )

    def _build_account_events(
        self, lambda_code: CodeFactory, architecture: lambda_.Architecture
    ) -> AccountEventsInfra:
        """The account-events bus and the consumer of both tables' streams (issue 16)."""
        cpu = LAMBDA_CPUS[self.settings.lambda_architecture]
        return AccountEventsInfra(
            self,
            "AccountEvents",
            settings=self.settings,
            code=lambda_code(account_events_asset_spec(cpu)),
            architecture=architecture,
            users_table=self.tables.users_table,
            credits_table=self.tables.credits_table,
        )

    def _build_edge_auth_functions(
        self,
        edge_stack: EdgemeterEdgeStack,
        edge_auth_code: lambda_.Code,
        settings_writer: EdgeSettingsWriter,
    ) -> None:
        """viewer-request (key check, charge) and origin-response (refunds), sharing baked settings."""
        settings = self.settings
        # The edge calls its HTTP API (issue 14 §6), not the REST API of the billing routes.
        edge_settings_document = settings.edge_settings_document(
            self.credits_api.edge_url, self.regional_credits_api_urls
        )
        self.viewer_request = BakedEdgeFunction(
            self,
            "ViewerRequest",
            edge_stack=edge_stack,
            code=edge_auth_code,
            handler=VIEWER_REQUEST_HANDLER,
            description="viewer-request: API key check and charge",
            # Viewer triggers are limited to 128 MB and 5 s.
            memory_size=128,
            timeout=Duration.seconds(5),
            settings_file_name=EDGE_AUTH_SETTINGS_FILE,
            settings_document=edge_settings_document,
            settings_writer=settings_writer,
            role_name=edge_role_name(settings, "viewer-request"),
        )
        self.origin_response = BakedEdgeFunction(
            self,
            "OriginResponse",
            edge_stack=edge_stack,
            code=edge_auth_code,
            handler=ORIGIN_RESPONSE_HANDLER,
            description="origin-response: refund charges the origin did not deliver",
            memory_size=128,
            timeout=Duration.seconds(10),
            settings_file_name=EDGE_AUTH_SETTINGS_FILE,
            settings_document=edge_settings_document,
            settings_writer=settings_writer,
            role_name=edge_role_name(settings, "origin-response"),
        )
        # The edge's own permissions: POST /v1/authorize and /v1/refunds, nothing else.
        self.credits_api.edge_policy.attach_to_role(self.viewer_request.role)
        self.credits_api.edge_policy.attach_to_role(self.origin_response.role)
        # ... and the credits function refuses any other IAM caller of those routes (issue 14 §6).
        self.credits_api.function.add_environment(
            EDGEMETER_EDGE_ROLES,
            ",".join(edge_role_name(settings, purpose) for purpose in ("viewer-request", "origin-response")),
        )

    def _build_s3_content(
        self, credits_code: lambda_.Code, architecture: lambda_.Architecture
    ) -> cloudfront.IOrigin:
        """The S3 bucket behind OAC, its optional tiering and the optional objects catalog."""
        settings = self.settings
        s3_origin = S3ContentOrigin(self, "Content", access_logs=self.access_logs)
        self.content_bucket = s3_origin.bucket
        if settings.tiering.enabled:
            StorageTiering(self, "Tiering", bucket=s3_origin.bucket, settings=settings.tiering)
        if settings.catalog_enabled:
            ObjectCatalogInfra(
                self,
                "Catalog",
                settings=settings,
                bucket=s3_origin.bucket,
                objects_table=self.tables.objects_table,
                credits_function=self.credits_api.function,
                code=credits_code,
                architecture=architecture,
            )
        return s3_origin.cloudfront_origin

    def _build_custom_content(
        self, edge_stack: EdgemeterEdgeStack, lambda_code: CodeFactory, settings_writer: EdgeSettingsWriter
    ) -> cloudfront.IOrigin:
        """The S3-compatible store, reached through the origin-request signer."""
        settings = self.settings
        assert settings.custom_origin is not None  # guaranteed by EdgemeterSettings
        content_origin = CustomContentOrigin(
            self, "Content", custom_origin=settings.custom_origin
        ).cloudfront_origin
        self.origin_signer = self._origin_signer(
            settings, settings.custom_origin, edge_stack, lambda_code, settings_writer
        )
        # With an S3 origin, cdk-nag sees this bucket receive the content bucket's access logs.
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This is the access log bucket (CloudFront standard logs); logging it into itself would "
            "loop, and a second log bucket would only move the finding.",
        )
        return content_origin

    def _build_distribution(self, content_origin: cloudfront.IOrigin) -> ContentDistribution:
        settings = self.settings
        failover = (
            OriginFailover(self, "Failover", primary=content_origin, settings=settings.failover)
            if settings.failover is not None
            else None
        )
        edge_headers = settings.synth_time_edge_settings().headers
        return ContentDistribution(
            self,
            "Cdn",
            settings=settings,
            origin=content_origin,
            failover=failover,
            access_logs=self.access_logs,
            viewer_request=self.viewer_request.version,
            origin_response=self.origin_response.version,
            origin_request=self.origin_signer.version if self.origin_signer is not None else None,
            edge_header_names=[edge_headers.account, edge_headers.charged, edge_headers.request_id],
        )

    def _build_monitoring(self, edge_stack: EdgemeterEdgeStack) -> None:
        """The dashboard and API alarms here; the CDN alarms notify the edge stack's us-east-1 topic."""
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            dashboard_name=self.settings.deployment_name,
            rest_api=self.credits_api.rest_api,
            edge_api=self.credits_api.edge_api.http_api,
            credits_function=self.credits_api.function,
            ledger_writer=self.ledger.function,
            tables={
                "users": self.tables.users_table,
                "credits": self.tables.credits_table,
                "ledger": self.ledger.table,
            },
            distribution_id=self.distribution.distribution.distribution_id,
            alarm_email=self.settings.alarm_email,
        )
        self.account_events.notify(self.monitoring.alarm_topic)
        self.ledger.notify(self.monitoring.alarm_topic)
        self.cdn_alarms = CdnAlarms(
            self,
            "CdnAlarms",
            alarm_name_prefix=self.settings.deployment_name,
            distribution_id=self.distribution.distribution.distribution_id,
            topic=edge_stack.cdn_alarm_topic,
        )

    def _origin_signer(
        self,
        settings: EdgemeterSettings,
        custom_origin: CustomOriginSettings,
        edge_stack: EdgemeterEdgeStack,
        lambda_code: CodeFactory,
        settings_writer: EdgeSettingsWriter,
    ) -> BakedEdgeFunction:
        signer = BakedEdgeFunction(
            self,
            "OriginSigner",
            edge_stack=edge_stack,
            code=lambda_code(ORIGIN_SIGNER_ASSET),
            handler=ORIGIN_SIGNER_HANDLER,
            description="origin-request: SigV4-sign requests to the S3-compatible origin",
            memory_size=128,
            timeout=Duration.seconds(5),
            settings_file_name=ORIGIN_SIGNER_SETTINGS_FILE,
            settings_document=origin_signer_settings_document(custom_origin),
            settings_writer=settings_writer,
            role_name=edge_role_name(settings, "origin-signer"),
        )
        # The store's credentials: this one secret, read-only (the ARN may lack Secrets Manager's suffix).
        secret_access = iam.Policy(
            self,
            "OriginSignerSecretAccess",
            statements=[
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[
                        custom_origin.credentials_secret_arn,
                        f"{custom_origin.credentials_secret_arn}-??????",
                    ],
                )
            ],
        )
        secret_access.attach_to_role(signer.role)
        return signer

    def _publish_cdn_url(self) -> None:
        """Where signed links point (issue 16): read by the credits Lambda on its first link."""
        cdn_host = self.settings.custom_domain or self.distribution.domain_name
        ssm.StringParameter(
            self,
            "CdnBaseUrl",
            parameter_name=cdn_base_url_parameter_name(self.settings),
            string_value=f"https://{cdn_host}",
            description="edgemeter: the CDN URL signed download links point at",
        )

    def _outputs(self) -> None:
        distribution = self.distribution
        cdn_host = self.settings.custom_domain or distribution.domain_name
        CfnOutput(self, "CdnUrl", value=f"https://{cdn_host}", description="where viewers GET/PUT objects")
        CfnOutput(self, "DistributionId", value=distribution.distribution.distribution_id)
        CfnOutput(
            self,
            "DistributionDomainName",
            value=distribution.domain_name,
            description="point the custom domain's CNAME/alias record here",
        )
        CfnOutput(
            self, "CreditsApiUrl", value=self.credits_api.url, description="for the CLI: edgemeter --api URL"
        )
        CfnOutput(
            self,
            "EdgeCreditsApiUrl",
            value=self.credits_api.edge_url,
            description="the edge's HTTP API (authorize, refunds), baked into the edge settings",
        )
        for output_id, policy in (
            ("EdgePolicyArn", self.credits_api.edge_policy),
            ("BillingReaderPolicyArn", self.credits_api.billing_reader_policy),
            ("BillingAdminPolicyArn", self.credits_api.billing_admin_policy),
        ):
            CfnOutput(self, output_id, value=policy.managed_policy_arn, description=policy.node.id)
        if self.content_bucket is not None:
            CfnOutput(self, "ContentBucketName", value=self.content_bucket.bucket_name)
        CfnOutput(self, "UsersTableName", value=self.tables.users_table.table_name)
        CfnOutput(self, "CreditsTableName", value=self.tables.credits_table.table_name)
        CfnOutput(self, "LedgerTableName", value=self.ledger.table.table_name)
        CfnOutput(self, "AccessLogsBucketName", value=self.access_logs.bucket_name)
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.alarm_topic.topic_arn)
        CfnOutput(self, "DashboardName", value=self.monitoring.dashboard.dashboard_name)
        edge_functions = [self.viewer_request, self.origin_response]
        if self.origin_signer is not None:
            edge_functions.append(self.origin_signer)
        for edge_function in edge_functions:
            CfnOutput(
                self,
                f"{edge_function.node.id}Version",
                value=edge_function.version.edge_arn,
                description="the Lambda@Edge version the distribution runs (settings baked in)",
            )
