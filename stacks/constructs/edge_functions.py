"""Lambda@Edge functions whose settings file is written into their package at deploy time.

``cloudfront.experimental.EdgeFunction`` puts each function in the us-east-1 edge
stack. The values the edge needs (the credits API URL first of all) are tokens
of the main stack, unknown at synth time, so the package is deployed without
settings and ``EdgeSettingsWriter`` (a custom resource in the main stack) writes
the resolved settings file into it, updates the code and publishes the numbered
version the distribution uses. See stacks/edge_settings_writer/handler.py and
docs/decisions.md ("Infrastructure").
"""

from __future__ import annotations

from typing import Any

from aws_cdk import (
    ArnFormat,
    CustomResource,
    Duration,
    Fn,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.bundling import PROJECT_ROOT, warn_if_shipped_without_bytecode
from stacks.nag import acknowledge, nag_account, nag_partition

# Python runtime of every edgemeter Lambda; the asset's wheels are built for it (stacks/bundling.py).
LAMBDA_PYTHON_RUNTIME = lambda_.Runtime.PYTHON_3_12
LAMBDA_PYTHON_VERSION = "3.12"
_SETTINGS_WRITER_CODE_DIR = PROJECT_ROOT / "stacks" / "edge_settings_writer"


def unqualified_function_arn(version_arn: str) -> str:
    """Drop the ``:<version>`` of a version ARN token (arn:aws:lambda:region:account:function:name)."""
    parts = Fn.split(":", version_arn, 8)
    return Fn.join(":", [Fn.select(index, parts) for index in range(7)])


def _edge_function_role(edge_stack: Stack, role_id: str, role_name: str, description: str) -> iam.Role:
    # The role lives with the function in us-east-1. Its explicit name lets the main stack
    # attach policies to it: a cross-region reference can only be made by name, and a
    # generated name would need the account at synth time (synth runs without credentials).
    return iam.Role(
        edge_stack,
        role_id,
        role_name=role_name,
        assumed_by=iam.CompositePrincipal(
            iam.ServicePrincipal("lambda.amazonaws.com"), iam.ServicePrincipal("edgelambda.amazonaws.com")
        ),
        description=f"edgemeter Lambda@Edge: {description}",
    )


class EdgeSettingsWriter(Construct):
    """The custom resource provider (one Lambda in the main region) that bakes settings into edge packages."""

    def __init__(self, scope: Construct, construct_id: str, *, log_retention: logs.RetentionDays) -> None:
        super().__init__(scope, construct_id)
        log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Writes edgemeter settings into Lambda@Edge packages and publishes versions",
        )
        log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=LAMBDA_PYTHON_RUNTIME,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(_SETTINGS_WRITER_CODE_DIR), exclude=["__pycache__", "*.pyc"]),
            role=self.role,
            # Usually seconds; the handler's own waits (IAM propagation, two code updates, the
            # download) add up to at most about 8 minutes, so it always answers CloudFormation in time.
            timeout=Duration.minutes(10),
            memory_size=512,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            description="edgemeter: bakes settings into Lambda@Edge packages at deploy time",
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Pinned to the Python runtime every edgemeter Lambda uses (Lambda@Edge supports it); "
            "bumped together with the wheels' --python-version in stacks/bundling.py.",
        )

    def allow_updates_of(self, function_arn: str) -> None:
        """Let the writer read, update and publish one edge function (unqualified ARN)."""
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "lambda:GetFunction",
                    "lambda:GetFunctionConfiguration",
                    "lambda:UpdateFunctionCode",
                    "lambda:PublishVersion",
                ],
                resources=[function_arn],
            )
        )


class BakedEdgeFunction(Construct):
    """One ``EdgeFunction`` plus the deploy-time settings file; ``version`` is what CloudFront runs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        edge_stack: Stack,
        code: lambda_.Code,
        handler: str,
        description: str,
        memory_size: int,
        timeout: Duration,
        settings_file_name: str,
        settings_document: dict[str, Any],
        settings_writer: EdgeSettingsWriter,
        role_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = _edge_function_role(edge_stack, f"{construct_id}Role", role_name, description)
        # The id doubles as the function's construct id in the shared edge stack: keep it unique.
        self.edge_function = cloudfront.experimental.EdgeFunction(
            self,
            f"{construct_id}Function",
            stack_id=edge_stack.node.id,
            runtime=LAMBDA_PYTHON_RUNTIME,
            handler=handler,
            code=code,
            role=self.role,
            memory_size=memory_size,
            timeout=timeout,
            description=f"edgemeter: {description}",
        )
        self._allow_logging_in_every_region(edge_stack, construct_id)
        warn_if_shipped_without_bytecode(self.edge_function.lambda_, code)
        acknowledge(
            self.edge_function.lambda_,
            "AwsSolutions-L1",
            "Pinned to the Python runtime the asset is built for (stacks/bundling.py) and that Lambda@Edge "
            "supports; bumped deliberately together with LAMBDA_PYTHON_VERSION.",
        )
        self.version: lambda_.IVersion = self._bake_settings(
            settings_writer, settings_file_name, settings_document
        )

    def _bake_settings(
        self, settings_writer: EdgeSettingsWriter, settings_file_name: str, settings_document: dict[str, Any]
    ) -> lambda_.IVersion:
        """The custom resource that writes the settings file and publishes the version CloudFront runs."""
        function_arn = unqualified_function_arn(self.edge_function.edge_arn)
        settings_writer.allow_updates_of(function_arn)
        baked_settings = CustomResource(
            self,
            "Settings",
            service_token=settings_writer.function.function_arn,
            resource_type="Custom::EdgemeterEdgeSettings",
            properties={
                # The version ARN (not the bare function) so new code re-triggers the bake.
                "FunctionArn": self.edge_function.edge_arn,
                "SettingsFileName": settings_file_name,
                "SettingsJson": Stack.of(self).to_json_string(settings_document),
            },
        )
        # The writer must be allowed to update the function before CloudFormation runs it.
        baked_settings.node.add_dependency(settings_writer.role)
        return lambda_.Version.from_version_arn(
            self, "BakedVersion", baked_settings.get_att_string("VersionArn")
        )

    def _allow_logging_in_every_region(self, edge_stack: Stack, construct_id: str) -> None:
        # Lambda@Edge writes to /aws/lambda/us-east-1.<name> in the region of whichever
        # edge location ran it, so the log permissions must name every region.
        function_name = self.edge_function.lambda_.function_name
        log_group_arn = edge_stack.format_arn(
            service="logs",
            region="*",
            resource="log-group",
            resource_name=f"/aws/lambda/us-east-1.{function_name}",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        policy = iam.Policy(
            edge_stack,
            f"{construct_id}LogsPolicy",
            statements=[
                iam.PolicyStatement(
                    actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[log_group_arn, f"{log_group_arn}:log-stream:*"],
                )
            ],
        )
        policy.attach_to_role(self.role)
        function_logical_id = edge_stack.get_logical_id(self.edge_function.lambda_.node.default_child)  # type: ignore[arg-type]
        log_group_finding = (
            f"arn:{nag_partition(edge_stack)}:logs:*:{nag_account(edge_stack)}:log-group:"
            f"/aws/lambda/us-east-1.<{function_logical_id}>"
        )
        for finding in (log_group_finding, f"{log_group_finding}:log-stream:*"):
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::{finding}]",
                "Lambda@Edge logs to /aws/lambda/us-east-1.<function> in the region of the edge location "
                "that ran it: the region (and each log stream name) is only known at run time.",
            )
