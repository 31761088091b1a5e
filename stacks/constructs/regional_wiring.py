"""Regional credits wired across the stacks (issue 15): who may write which region's credits table,
what each credits function is told about the others, and home's upkeep schedule.

Called once by ``compose_edgemeter`` after every stack exists (``wire_regional_credits``):

- **Names.** Each credits region's credits table is named ``<deployment>-credits-<region>``, so
  home and the peer regions name it in their policies and settings without a cross-region
  reference (peers referencing each other would be a cycle). Home's credits table keeps the name
  CloudFormation gave it (renaming it would replace it); home publishes that name in an SSM
  parameter of a fixed name in its own region, which the regions read on first use.
- **Topology.** Every credits function gets ``EDGEMETER_CREDITS_REGIONS`` (functions/credits/regions/
  topology.py): home, each region's table, and home's table (home itself) or its parameter (regions).
- **Least privilege.** Home's function: the item actions of the store, transfer book and lease on
  each regional credits table, reads of their ledgers, and GetItem/UpdateItem on each region's users
  replica (it opens an account's balance item there with the account's status, and marks a revoked
  key there before the revocation returns). A region's function: the same on its peers'
  tables, on home's credits table (the tables of home's stack whose logical id says
  ``CreditsTable``: its physical name is generated) and ssm:GetParameter on home's parameter.
- **Upkeep.** An EventBridge rule invokes home's credits function every minute with
  ``REGIONAL_UPKEEP_EVENT`` (settle, leases, refills, idle returns).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from functions.credits.regions.leases import RENEW_EVERY
from functions.credits.regions.upkeep_event import REGIONAL_UPKEEP_EVENT
from functions.shared.environment_variables import EDGEMETER_CREDITS_REGIONS
from stacks.constructs.regional_credits import RegionalCreditsStack
from stacks.constructs.regional_users_table import users_table_name
from stacks.nag import acknowledge
from stacks.settings import EdgemeterSettings

# What the credits store, the transfer book, the lease and the account registry do to items.
CROSS_REGION_ITEM_ACTIONS: tuple[str, ...] = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)


def regional_credits_table_name(settings: EdgemeterSettings, region: str) -> str:
    return f"{settings.deployment_name}-credits-{region}"


def regional_ledger_table_name(settings: EdgemeterSettings, region: str) -> str:
    """The credits service's default for a credits table without an explicit ledger table."""
    return f"{regional_credits_table_name(settings, region)}-ledger"


# Opening a region's balance item reads the account; a revocation updates the key items.
HOME_USERS_ACTIONS: tuple[str, ...] = ("dynamodb:GetItem", "dynamodb:UpdateItem")
LEDGER_READ_ACTIONS: tuple[str, ...] = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")


def home_credits_table_parameter(settings: EdgemeterSettings) -> str:
    return f"/edgemeter/{settings.deployment_name}/home-credits-table"


def _table_arn(region: str, table_name: str) -> str:
    return f"arn:{Aws.PARTITION}:dynamodb:{region}:{Aws.ACCOUNT_ID}:table/{table_name}"


class RegionalCreditsWiring(Construct):
    """Home's side: the published table name, its function's topology and grants, the upkeep rule."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EdgemeterSettings,
        home_function: lambda_.Function,
        home_credits_table: dynamodb.ITable,
        credits_regions: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        home = Stack.of(self).region
        tables = {region: regional_credits_table_name(settings, region) for region in credits_regions}
        ssm.StringParameter(
            self,
            "HomeCreditsTableName",
            parameter_name=home_credits_table_parameter(settings),
            string_value=home_credits_table.table_name,
            description="edgemeter: home's credits table, read by the credits regions (issue 15)",
        )
        topology = {
            "home": home,
            "credits_tables": tables,
            "home_credits_table": home_credits_table.table_name,
        }
        home_function.add_environment(EDGEMETER_CREDITS_REGIONS, Stack.of(self).to_json_string(topology))
        # Home also marks a revoked key in each region's users replica (regional_standing.py).
        _grant_cross_region(
            home_function, settings, tables, users_regions=credits_regions, users_actions=HOME_USERS_ACTIONS
        )
        upkeep_input = events.RuleTargetInput.from_object(REGIONAL_UPKEEP_EVENT)
        events.Rule(
            self,
            "Upkeep",
            description="edgemeter: settle transfers, renew leases, refill regions, return idle credit",
            schedule=events.Schedule.rate(Duration.seconds(RENEW_EVERY.total_seconds())),
            targets=[targets.LambdaFunction(home_function, event=upkeep_input)],
        )


def _grant_cross_region(
    function: lambda_.Function,
    settings: EdgemeterSettings,
    tables: dict[str, str],
    *,
    users_regions: Sequence[str],
    users_actions: Sequence[str] = ("dynamodb:GetItem",),
) -> None:
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=list(CROSS_REGION_ITEM_ACTIONS),
            resources=[_table_arn(region, name) for region, name in tables.items()],
        )
    )
    # The regions' ledgers (issue 14), read for their usage (the refill rate) and billing reads.
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=list(LEDGER_READ_ACTIONS),
            resources=[_table_arn(region, f"{name}-ledger") for region, name in tables.items()],
        )
    )
    users = users_table_name(settings.deployment_name)
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=list(users_actions),
            resources=[_table_arn(region, users) for region in users_regions],
        )
    )


def wire_credits_region(
    stack: Stack,
    *,
    settings: EdgemeterSettings,
    function: lambda_.Function,
    credits_table: dynamodb.ITable,
    home: str,
    home_stack_name: str,
    credits_regions: Sequence[str],
) -> None:
    """A credits region's side: its table's name, its function's topology and cross-region grants."""
    region = stack.region
    cfn_table = credits_table.node.default_child
    assert isinstance(cfn_table, dynamodb.CfnTable)
    cfn_table.table_name = regional_credits_table_name(settings, region)
    # The region's stream-derived ledger (issue 14), when its stack has one: named as the credits
    # service derives it from the credits table, so home opens it with no further setting.
    ledger = getattr(stack, "ledger", None)
    if ledger is not None:
        cfn_ledger = ledger.table.node.default_child
        assert isinstance(cfn_ledger, dynamodb.CfnTable)
        cfn_ledger.table_name = regional_ledger_table_name(settings, region)
    peers = {r: regional_credits_table_name(settings, r) for r in credits_regions if r != region}
    topology = {
        "home": home,
        "credits_tables": {r: regional_credits_table_name(settings, r) for r in credits_regions},
        "home_credits_table_parameter": home_credits_table_parameter(settings),
    }
    function.add_environment(EDGEMETER_CREDITS_REGIONS, json.dumps(topology))
    _grant_cross_region(function, settings, peers, users_regions=[home, *peers])
    # Home's credits table: CloudFormation named it <home stack>-<logical id>-<suffix>.
    home_tables = _table_arn(home, f"{home_stack_name}-*CreditsTable*")
    function.add_to_role_policy(
        iam.PolicyStatement(actions=list(CROSS_REGION_ITEM_ACTIONS), resources=[home_tables])
    )
    parameter = home_credits_table_parameter(settings)
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=["ssm:GetParameter"],
            resources=[f"arn:{Aws.PARTITION}:ssm:{home}:{Aws.ACCOUNT_ID}:parameter{parameter}"],
        )
    )
    assert function.role is not None
    acknowledge(
        function.role,
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:dynamodb:{home}:<AWS::AccountId>:table/"
        f"{home_stack_name}-*CreditsTable*]",
        "Home's credits table has a generated name (renaming it would replace the table and its money); "
        "the pattern names home's stack and the credits table's logical id, nothing else.",
    )


def wire_regional_credits(
    settings: EdgemeterSettings,
    *,
    home_stack: Stack,
    home_function: lambda_.Function,
    home_credits_table: dynamodb.ITable,
    regional: Sequence[RegionalCreditsStack],
) -> None:
    """Both sides, once every stack exists; nothing without ``edgemeter:regions``."""
    if settings.regions is None:
        return
    credits_regions = [stack.region for stack in regional]
    RegionalCreditsWiring(
        home_stack,
        "RegionalCreditsWiring",
        settings=settings,
        home_function=home_function,
        home_credits_table=home_credits_table,
        credits_regions=credits_regions,
    )
    for stack in regional:
        wire_credits_region(
            stack,
            settings=settings,
            function=stack.function,
            credits_table=stack.credits_table,
            home=settings.regions.home,
            home_stack_name=home_stack.stack_name,
            credits_regions=credits_regions,
        )
