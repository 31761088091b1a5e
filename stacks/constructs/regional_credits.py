"""A credits region's stack (issue 15): the edge-only credits API, the credits Lambda, its own table.

A credits region charges the viewers nearest to it. It reads keys and accounts from its replica of
the users global table (read-only: home is their one writer) and writes only its own credits table
(its balance shards, charge records and ledger). Its API has the two edge routes and nothing else:
grants, keys and every billing route exist in home only (docs/decisions.md, "Regional credits").
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.credits.data.models import CreditsTableModel
from functions.credits.regions.void_notices import APPLY_VOID_NOTICES_EVENT
from functions.credits.store.shard_rate_schedule import FOLLOW_SHARD_RATES_EVENT
from functions.shared.environment_variables import EDGEMETER_EDGE_ROLES, EDGEMETER_VOID_NOTICES_TABLE
from stacks.constructs.credits_api import CREDITS_HANDLER, credits_function_environment
from stacks.constructs.data_tables import ModelTable
from stacks.constructs.edge_functions import LAMBDA_PYTHON_RUNTIME
from stacks.constructs.edge_http_api import EdgeHttpApi
from stacks.constructs.ledger import LedgerInfra
from stacks.constructs.regional_users_table import users_table_name, void_notices_table_name
from stacks.nag import acknowledge
from stacks.settings import EdgemeterSettings, log_retention


def schedule_void_notice_applier(scope: Construct, function: lambda_.IFunction) -> events.Rule:
    """Once a minute the region's credits function applies the void notices naming its region."""
    return events.Rule(
        scope,
        "VoidNoticeApplier",
        description="edgemeter: refund the charges that void notices name in this region (issue 15)",
        schedule=events.Schedule.rate(Duration.minutes(1)),
        targets=[
            targets.LambdaFunction(
                function, event=events.RuleTargetInput.from_object(APPLY_VOID_NOTICES_EVENT)
            )
        ],
    )


def schedule_shard_rate_follower(scope: Construct, function: lambda_.IFunction) -> events.Rule:
    """Once a minute home's credits function follows the shard rate of the watched busy accounts
    (issue 14, functions/credits/store/shard_rate_schedule.py)."""
    return events.Rule(
        scope,
        "ShardRateFollower",
        description="edgemeter: set the balance shard count of busy accounts from their rate (issue 14)",
        schedule=events.Schedule.rate(Duration.minutes(1)),
        targets=[
            targets.LambdaFunction(
                function, event=events.RuleTargetInput.from_object(FOLLOW_SHARD_RATES_EVENT)
            )
        ],
    )


def regional_stack_name(settings: EdgemeterSettings, region: str) -> str:
    return f"{settings.stack_name_prefix}-credits-{region}"


class RegionalCreditsStack(Stack):
    """One credits region: ``url`` is its API's base URL (the edge's settings list it)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EdgemeterSettings,
        region: str,
        account: str | None,
        code: lambda_.Code,
        architecture: lambda_.Architecture,
        edge_role_names: tuple[str, ...],
        ledger_writer_code: lambda_.Code,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            stack_name=regional_stack_name(settings, region),
            env=Environment(account=account, region=region),
            description=f"edgemeter credits region {region}: edge-only credits API, Lambda, credits table",
            # The API's URL is read by the home stack (the edge settings it bakes): another region.
            cross_region_references=True,
        )
        self.credits_table = ModelTable(self, "Credits", model=CreditsTableModel).table
        # The replica of the users global table home creates: same name in every region.
        self.users_replica = dynamodb.TableV2.from_table_name(
            self, "UsersReplica", users_table_name(settings.deployment_name)
        )
        # This region's replica of the void notices' global table (home creates it).
        self.void_notices_replica = dynamodb.TableV2.from_table_name(
            self, "VoidNoticesReplica", void_notices_table_name(settings.deployment_name)
        )
        self.function = self._build_function(settings, code, architecture)
        self.credits_table.grant_read_write_data(self.function)
        self.users_replica.grant_read_data(self.function)
        self.void_notices_replica.grant_read_write_data(self.function)
        self.function.add_environment(
            EDGEMETER_VOID_NOTICES_TABLE, void_notices_table_name(settings.deployment_name)
        )
        schedule_void_notice_applier(self, self.function)
        self.ledger = self._build_ledger(settings, ledger_writer_code, architecture)
        # The edge's two routes on an HTTP API, as in home (issue 14 §6).
        self.edge_api = EdgeHttpApi(
            self,
            "EdgeApi",
            settings=settings,
            function=self.function,
            description=f"edgemeter regional credits API ({self.region}): the edge routes only, IAM-signed",
        )
        self.edge_policy = self._build_edge_policy(edge_role_names)
        self.url = self.edge_api.url
        CfnOutput(self, "CreditsApiUrl", value=self.url, description="this region's edge-only credits API")
        CfnOutput(self, "CreditsTableName", value=self.credits_table.table_name)

    def _build_ledger(
        self, settings: EdgemeterSettings, code: lambda_.Code, architecture: lambda_.Architecture
    ) -> LedgerInfra:
        """This region's stream-derived ledger, built as home's is (issue 14)."""
        return LedgerInfra(
            self,
            "Ledger",
            settings=settings,
            code=code,
            architecture=architecture,
            credits_table=self.credits_table,
            credits_function=self.function,
            function_environment=credits_function_environment(
                settings, self.users_replica, self.credits_table
            ),
        )

    def _build_function(
        self, settings: EdgemeterSettings, code: lambda_.Code, architecture: lambda_.Architecture
    ) -> lambda_.Function:
        function_logs = logs.LogGroup(
            self, "FunctionLogs", retention=log_retention(settings), removal_policy=RemovalPolicy.RETAIN
        )
        role = iam.Role(
            self,
            "FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"edgemeter regional credits Lambda ({self.region})",
        )
        function_logs.grant_write(role)
        function = lambda_.Function(
            self,
            "Function",
            runtime=LAMBDA_PYTHON_RUNTIME,
            architecture=architecture,
            handler=CREDITS_HANDLER,
            code=code,
            role=role,
            memory_size=1024,
            # Authorize and refunds only: well inside API Gateway's 29 s, like home's function.
            timeout=Duration.seconds(28),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=function_logs,
            logging_format=lambda_.LoggingFormat.JSON,
            description="edgemeter regional credits service (authorize, refunds)",
            environment=credits_function_environment(settings, self.users_replica, self.credits_table),
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray's PutTraceSegments and PutTelemetryRecords (active tracing) do not support "
            "resource-level permissions; every other statement of this role names its table.",
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Pinned to Python 3.12 like home's credits function: the bundled wheels are built for it.",
        )
        return function

    def _build_edge_policy(self, edge_role_names: tuple[str, ...]) -> iam.ManagedPolicy:
        """The edge roles (us-east-1, named) may invoke this region's two routes: IAM is global."""
        edge_roles = [
            iam.Role.from_role_name(self, f"EdgeRole{index}", role_name)
            for index, role_name in enumerate(edge_role_names)
        ]
        # The function refuses any other IAM caller of the edge routes (HTTP APIs have no resource policy).
        self.function.add_environment(EDGEMETER_EDGE_ROLES, ",".join(edge_role_names))
        return self.edge_api.invoke_policy(
            "EdgePolicy",
            f"edgemeter edge functions: POST /v1/authorize and /v1/refunds in {self.region}",
            roles=edge_roles,
        )
