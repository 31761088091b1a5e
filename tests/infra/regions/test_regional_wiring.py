"""Regional credits wired across the stacks (issue 15): names, topology, cross-region least
privilege, home's published table name and its upkeep schedule, on one synth."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from functions.credits.regions.topology import RegionsTopology
from functions.credits.regions.upkeep_event import REGIONAL_UPKEEP_EVENT
from functions.shared.environment_variables import EDGEMETER_CREDITS_REGIONS
from stacks.constructs.credits_api import CREDITS_HANDLER
from tests.infra.conftest import SynthesizedApp, synthesize

HOME = "eu-west-1"
CREDITS_REGIONS = ("us-east-1", "ap-northeast-1")
REGIONS_CONTEXT = {"edgemeter:regions": {"home": HOME, "credits": list(CREDITS_REGIONS)}}
PARAMETER = f"/edgemeter/Edgemeter-{HOME}/home-credits-table"
_WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


@pytest.fixture(scope="module")
def regional_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    return synthesize(REGIONS_CONTEXT, tmp_path_factory.mktemp("cdk-regions-wiring"))


def _regional(app: SynthesizedApp, region: str) -> Template:
    (stack,) = [stack for stack in app.stacks.regional if stack.region == region]
    return Template.from_stack(stack)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _arn(resource: Any) -> str:
    """A resource ARN with the partition and account tokens as placeholders; a GetAtt as JSON."""
    if isinstance(resource, str):
        return resource
    if "Fn::Join" in resource:
        _, parts = resource["Fn::Join"]
        placeholders = {"AWS::Partition": "aws", "AWS::AccountId": "<account>"}
        return "".join(
            part if isinstance(part, str) else placeholders.get(part.get("Ref", ""), json.dumps(part))
            for part in parts
        )
    return json.dumps(resource)


def _credits_function(template: Template) -> dict[str, Any]:
    functions: list[dict[str, Any]] = [
        function["Properties"]
        for function in template.find_resources("AWS::Lambda::Function").values()
        if function["Properties"]["Handler"] == CREDITS_HANDLER
    ]
    (function,) = functions
    return function


def _credits_role_statements(template: Template) -> list[dict[str, Any]]:
    """Every statement of the credits function's role (not the ledger writer's, not the edge's)."""
    role = _credits_function(template)["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _grants(template: Template) -> list[tuple[set[str], str]]:
    return [
        (set(_as_list(statement["Action"])), _arn(resource))
        for statement in _credits_role_statements(template)
        for resource in _as_list(statement["Resource"])
    ]


def _topology(template: Template) -> RegionsTopology:
    value = _credits_function(template)["Environment"]["Variables"][EDGEMETER_CREDITS_REGIONS]
    if isinstance(value, dict):  # home: its own credits table's name is a reference
        _, parts = value["Fn::Join"]
        value = "".join(part if isinstance(part, str) else "home-table-ref" for part in parts)
    return RegionsTopology.model_validate_json(value)


def test_every_credits_function_knows_home_and_every_regional_table(regional_app: SynthesizedApp) -> None:
    tables = {region: f"Edgemeter-{HOME}-credits-{region}" for region in CREDITS_REGIONS}
    home = _topology(regional_app.main)
    assert (home.home, home.credits_tables, home.home_credits_table) == (HOME, tables, "home-table-ref")
    for region in CREDITS_REGIONS:
        topology = _topology(_regional(regional_app, region))
        assert (topology.home, topology.credits_tables) == (HOME, tables)
        # A region cannot be told home's generated table name at synth (a cycle): it reads it.
        assert (topology.home_credits_table, topology.home_credits_table_parameter) == (None, PARAMETER)


def test_home_publishes_its_credits_table_name_and_regions_may_read_only_that_parameter(
    regional_app: SynthesizedApp,
) -> None:
    (published,) = [
        resource["Properties"]
        for resource in regional_app.main.find_resources("AWS::SSM::Parameter").values()
        if resource["Properties"]["Name"] == PARAMETER
    ]
    (credits_table_id,) = [
        logical_id
        for logical_id in regional_app.main.find_resources("AWS::DynamoDB::Table")
        if "CreditsTable" in logical_id
    ]
    assert published["Value"] == {"Ref": credits_table_id}
    for region in CREDITS_REGIONS:
        ssm = [
            (actions, arn)
            for actions, arn in _grants(_regional(regional_app, region))
            if "ssm:" in str(actions)
        ]
        assert ssm == [({"ssm:GetParameter"}, f"arn:aws:ssm:{HOME}:<account>:parameter{PARAMETER}")]


def test_home_writes_each_regional_credits_table_by_name_and_nothing_else_cross_region(
    regional_app: SynthesizedApp,
) -> None:
    cross_region = [
        (actions, arn)
        for actions, arn in _grants(regional_app.main)
        if any(f":dynamodb:{region}:" in arn for region in CREDITS_REGIONS)
    ]
    written = sorted(arn for actions, arn in cross_region if actions & _WRITES and not arn.endswith("-users"))
    assert written == sorted(
        f"arn:aws:dynamodb:{region}:<account>:table/Edgemeter-{HOME}-credits-{region}"
        for region in CREDITS_REGIONS
    )
    for actions, arn in cross_region:
        if arn.endswith("-users"):
            # Opening a region's balance item reads the account; a revocation marks the key there.
            assert actions == {"dynamodb:GetItem", "dynamodb:UpdateItem"}
        elif arn.endswith("-ledger"):
            assert actions == {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
        else:
            assert arn in written
            assert "dynamodb:Scan" not in actions


def test_a_region_writes_only_credits_tables_and_its_void_notices_never_users(
    regional_app: SynthesizedApp,
) -> None:
    for region in CREDITS_REGIONS:
        template = _regional(regional_app, region)
        (peer,) = [other for other in CREDITS_REGIONS if other != region]
        writable_suffixes = (
            f":dynamodb:{region}:<account>:table/Edgemeter-{HOME}-void-notices",
            f":dynamodb:{peer}:<account>:table/Edgemeter-{HOME}-credits-{peer}",
            # Home's credits table: generated name, the pattern names its stack and logical id.
            f":dynamodb:{HOME}:<account>:table/Edgemeter-*CreditsTable*",
        )
        (own_table_id,) = [
            logical_id
            for logical_id in template.find_resources("AWS::DynamoDB::Table")
            if "Credits" in logical_id
        ]
        for actions, arn in _grants(template):
            if not actions & _WRITES:
                continue
            assert "users" not in arn, (region, arn)
            assert own_table_id in arn or arn.endswith(writable_suffixes), (region, arn)


def test_home_runs_the_regional_upkeep_every_minute_and_no_region_does(regional_app: SynthesizedApp) -> None:
    def upkeep_rules(template: Template) -> list[dict[str, Any]]:
        return [
            rule["Properties"]
            for rule in template.find_resources("AWS::Events::Rule").values()
            if json.loads(rule["Properties"]["Targets"][0].get("Input", "{}")) == REGIONAL_UPKEEP_EVENT
        ]

    (rule,) = upkeep_rules(regional_app.main)
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    for region in CREDITS_REGIONS:
        assert upkeep_rules(_regional(regional_app, region)) == []


def test_without_regions_no_function_is_told_of_regions(s3_app: SynthesizedApp) -> None:
    variables = _credits_function(s3_app.main).get("Environment", {}).get("Variables", {})
    assert EDGEMETER_CREDITS_REGIONS not in variables
    assert s3_app.main.find_resources("AWS::SSM::Parameter", {"Properties": {"Name": PARAMETER}}) == {}
