"""Regional credits (issue 15) on the templates: one synth, the stacks per region, least privilege."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from functions.credits.data.models import UsersTableModel
from functions.credits.regions.void_notices import APPLY_VOID_NOTICES_EVENT
from functions.edge_auth.settings import parse_settings
from functions.shared.environment_variables import EDGEMETER_VOID_NOTICES_TABLE
from functions.tables.schema import table_key_schema
from stacks.constructs.regional_credits import RegionalCreditsStack
from stacks.settings import EdgemeterSettingsError, settings_from_context
from tests.infra.conftest import SynthesizedApp, cdk_json_context, synthesize

HOME = "eu-west-1"
CREDITS_REGIONS = ("us-east-1", "ap-northeast-1")
REGIONS_CONTEXT = {"edgemeter:regions": {"home": HOME, "credits": list(CREDITS_REGIONS)}}


@pytest.fixture(scope="module")
def regional_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    return synthesize(REGIONS_CONTEXT, tmp_path_factory.mktemp("cdk-regions"))


def _regional(app: SynthesizedApp, region: str) -> tuple[RegionalCreditsStack, Template]:
    (stack,) = [stack for stack in app.stacks.regional if stack.region == region]
    return stack, Template.from_stack(stack)


def _statements(template: Template) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for resource_type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy in template.find_resources(resource_type).values():
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_one_synth_gives_home_edge_and_a_credits_stack_per_region(regional_app: SynthesizedApp) -> None:
    assert regional_app.stacks.main.region == HOME
    assert regional_app.stacks.edge.region == "us-east-1"
    assert regional_app.stacks.console is not None  # the billing console's stack, as without regions
    assert sorted(stack.region for stack in regional_app.stacks.regional) == sorted(CREDITS_REGIONS)
    for region in CREDITS_REGIONS:
        stack, template = _regional(regional_app, region)
        assert stack.stack_name == f"Edgemeter-credits-{region}"
        # The credits table and the ledger table, the credits function and the ledger writer (issue 14).
        template.resource_count_is("AWS::DynamoDB::Table", 2)
        template.resource_count_is("AWS::Lambda::Function", 2)
        # The edge routes' HTTP API (issue 14 §6); no REST API in a credits region.
        template.resource_count_is("AWS::ApiGatewayV2::Api", 1)
        template.resource_count_is("AWS::ApiGateway::RestApi", 0)


def test_users_are_a_global_table_replicated_to_every_credits_region(regional_app: SynthesizedApp) -> None:
    tables = {
        table["Properties"]["TableName"]: table["Properties"]
        for table in regional_app.main.find_resources("AWS::DynamoDB::GlobalTable").values()
    }
    assert sorted(tables) == [f"Edgemeter-{HOME}-users", f"Edgemeter-{HOME}-void-notices"]
    properties = tables[f"Edgemeter-{HOME}-users"]
    assert properties["TableName"] == f"Edgemeter-{HOME}-users"
    assert sorted(replica["Region"] for replica in properties["Replicas"]) == sorted((HOME, *CREDITS_REGIONS))
    key_schema = table_key_schema(UsersTableModel)
    assert properties["KeySchema"] == [
        {"AttributeName": key_schema.hash_key, "KeyType": "HASH"},
        {"AttributeName": key_schema.range_key, "KeyType": "RANGE"},
    ]
    assert properties["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    for replica in properties["Replicas"]:
        assert replica["DeletionProtectionEnabled"] is True
    # The single-region users table is gone from home (one users table, replicated).
    table_names = [
        str(table["Properties"])
        for table in regional_app.main.find_resources("AWS::DynamoDB::Table").values()
    ]
    assert all("users" not in name.lower() for name in table_names)


def test_a_regional_role_touches_only_its_own_table_and_reads_the_users_replica(
    regional_app: SynthesizedApp,
) -> None:
    for region in CREDITS_REGIONS:
        _, template = _regional(regional_app, region)
        (credits_table_id,) = [
            logical_id
            for logical_id in template.find_resources("AWS::DynamoDB::Table")
            if "Credits" in logical_id
        ]
        (ledger_table_id,) = [
            logical_id
            for logical_id in template.find_resources("AWS::DynamoDB::Table")
            if "Ledger" in logical_id
        ]
        dynamodb_statements = [
            statement
            for statement in _statements(template)
            if any(str(action).startswith("dynamodb:") for action in _as_list(statement["Action"]))
        ]
        assert dynamodb_statements
        for statement in dynamodb_statements:
            resources = json.dumps(statement["Resource"])
            actions = set(_as_list(statement["Action"]))
            if credits_table_id in resources:
                assert "users" not in resources
                continue
            if ledger_table_id in resources:
                continue  # this region's ledger: tests/infra/test_ledger_infra.py checks who writes it
            if f":dynamodb:{region}:" not in resources:
                continue  # home's and the peers' tables: test_regional_wiring.py checks those grants
            if f"table/Edgemeter-{HOME}-void-notices" in resources:
                continue  # this region's replica of the void notices: written by design
            # Every other DynamoDB statement is the users replica, in this region, read-only.
            assert f"table/Edgemeter-{HOME}-users" in resources
            assert not actions & {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
            assert not any("Write" in action for action in actions)


def test_regional_apis_have_the_edge_routes_only(regional_app: SynthesizedApp) -> None:
    for region in CREDITS_REGIONS:
        _, template = _regional(regional_app, region)
        # The HTTP API of the edge routes (issue 14 §6): exactly two routes, both IAM-authorized.
        http_routes = template.find_resources("AWS::ApiGatewayV2::Route").values()
        assert sorted(route["Properties"]["RouteKey"] for route in http_routes) == [
            "POST /v1/authorize",
            "POST /v1/refunds",
        ]
        assert all(route["Properties"]["AuthorizationType"] == "AWS_IAM" for route in http_routes)
        (edge_policy,) = template.find_resources("AWS::IAM::ManagedPolicy").values()
        assert sorted(edge_policy["Properties"]["Roles"]) == sorted(
            [f"Edgemeter-{HOME}-viewer-request", f"Edgemeter-{HOME}-origin-response"]
        )
        routes = json.dumps(edge_policy["Properties"]["PolicyDocument"])
        assert "/POST/v1/authorize" in routes
        assert "/POST/v1/refunds" in routes
        assert "grants" not in routes
        assert "accounts" not in routes


def _resolve(value: Any) -> str:
    """A token of the settings JSON as a placeholder string (Refs, GetAtts of the exports reader)."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_resolve(part) for part in parts)
    if "Ref" in value:
        reference = value["Ref"]
        if reference == "AWS::URLSuffix":
            return "amazonaws.com"
        return "live" if "Stage" in reference else "a1b2c3d4e5"
    if "Fn::GetStackOutput" in value:
        # A cross-region reference: an output of the regional stack (its API's id), read at deploy.
        output = value["Fn::GetStackOutput"]
        assert output["StackName"] == f"Edgemeter-credits-{output['Region']}"
        return "live" if "Stage" in output["OutputName"] else "r1e2g3i4o5"
    raise AssertionError(f"unexpected token in settings JSON: {value}")


def test_edge_settings_name_every_region_and_the_nearest_first(regional_app: SynthesizedApp) -> None:
    # Viewer-request and origin-response bake the same document: read the first.
    writer, *_ = [
        resource
        for resource in regional_app.main.find_resources("Custom::EdgemeterEdgeSettings").values()
        if resource["Properties"]["SettingsFileName"] == "functions/edge_auth/config.json"
    ]
    settings = parse_settings(json.loads(_resolve(writer["Properties"]["SettingsJson"])))
    assert settings.credits_api.region == HOME
    assert sorted(api.region for api in settings.regional_credits.apis) == sorted(CREDITS_REGIONS)
    for api in settings.regional_credits.apis:
        # The region's HTTP API, served at its root by the $default stage (issue 14 §6).
        assert api.url == f"https://r1e2g3i4o5.execute-api.{api.region}.amazonaws.com/"
    order = dict(settings.regional_credits.order)
    assert order["ap-northeast-1"][0] == "ap-northeast-1"
    assert order["us-east-2"][0] == "us-east-1"
    assert order["eu-west-2"][0] == HOME
    assert all(HOME in regions for regions in order.values())


@pytest.mark.parametrize(
    ("regions", "problem"),
    [
        ({"home": "us-east-1", "credits": ["ap-northeast-1"]}, "regions.home must be edgemeter:region"),
        ({"home": HOME, "credits": [HOME]}, "list only the other regions"),
        ({"home": HOME, "credits": ["us-east-1", "us-east-1"]}, "lists a region twice"),
        ({"home": HOME, "credits": ["me-south-1"]}, "not in the latency table"),
        ({"home": HOME, "credits": []}, "edgemeter:regions.credits"),
    ],
)
def test_invalid_regions_stop_the_synth(regions: dict[str, Any], problem: str) -> None:
    context = {key.removeprefix("edgemeter:"): value for key, value in cdk_json_context().items()}
    with pytest.raises(EdgemeterSettingsError, match=problem):
        settings_from_context(
            {**{k: v for k, v in context.items() if not k.startswith("@")}, "regions": regions}
        )


def test_without_regions_there_is_no_regional_stack(s3_app: SynthesizedApp, tmp_path: Path) -> None:
    assert s3_app.stacks.regional == ()
    assert s3_app.main.find_resources("AWS::DynamoDB::GlobalTable") == {}


def test_every_credits_function_knows_the_void_notices_table(regional_app: SynthesizedApp) -> None:
    def void_notice_tables(template: Template) -> list[object]:
        return [
            function["Properties"]["Environment"]["Variables"][EDGEMETER_VOID_NOTICES_TABLE]
            for function in template.find_resources("AWS::Lambda::Function").values()
            if EDGEMETER_VOID_NOTICES_TABLE
            in function["Properties"].get("Environment", {}).get("Variables", {})
        ]

    # Home's credits function names the table it creates (a reference), each region its replica.
    assert len(void_notice_tables(regional_app.main)) == 1
    for region in CREDITS_REGIONS:
        assert void_notice_tables(_regional(regional_app, region)[1]) == [f"Edgemeter-{HOME}-void-notices"]


def test_every_credits_region_and_home_apply_their_void_notices_every_minute(
    regional_app: SynthesizedApp,
) -> None:
    templates = [regional_app.main] + [_regional(regional_app, region)[1] for region in CREDITS_REGIONS]
    for template in templates:
        rules = [
            rule["Properties"]
            for rule in template.find_resources("AWS::Events::Rule").values()
            if rule["Properties"].get("ScheduleExpression") == "rate(1 minute)"
            # Other rules run every minute too (shard rates, issue 14): this one sends the apply event.
            and json.loads(rule["Properties"]["Targets"][0].get("Input", "{}")) == APPLY_VOID_NOTICES_EVENT
        ]
        (rule,) = rules
        (target,) = rule["Targets"]
        assert json.loads(target["Input"]) == APPLY_VOID_NOTICES_EVENT
