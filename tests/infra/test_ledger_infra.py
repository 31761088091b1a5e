"""The stream-derived ledger on the template (issue 14 §3): append-only in IAM, and its writer's wiring.

The ledger's append-only guarantee is IAM's: the credits role may read the ledger table and
nothing more, the ledger writer's role may PutItem into it and nothing more, and no other role
reaches it at all. The checks read every policy statement of the template, so a write action
added anywhere (a ``grant_write_data``, a ``dynamodb:*``, a ``*`` resource) fails them; the
last test adds one on purpose and watches the check report it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from functions.credits.data.models import LedgerTableModel
from functions.shared.environment_variables import (
    EDGEMETER_LEDGER_RECHECK_QUEUE_URL,
    EDGEMETER_LEDGER_TABLE,
)
from functions.tables.schema import table_key_schema
from stacks.app_composition import compose_edgemeter
from stacks.constructs.credits_api import CREDITS_HANDLER
from stacks.constructs.ledger import (
    CREDITS_TABLE_ACTIONS,
    LEDGER_READ_ACTIONS,
    LEDGER_WRITE_ACTIONS,
    LEDGER_WRITER_HANDLER,
)
from stacks.settings import load_settings
from tests.infra.conftest import SynthesizedApp, cdk_json_context, source_only_code, synthesize

REGIONS_CONTEXT = {"edgemeter:regions": {"home": "eu-west-1", "credits": ["us-east-1", "ap-northeast-1"]}}

# Actions that change nothing in a table; every other dynamodb action (and any wildcard) writes.
DYNAMODB_READ_ACTIONS = frozenset(
    {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DescribeTable",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:DescribeStream",
    }
)
# Granted on ``*`` with every stream event source (no resource-level permission); lists stream ARNs.
RESOURCELESS_LISTING = "dynamodb:ListStreams"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _logical_id_of_table(template: Template, prefix: str) -> str:
    (logical_id,) = [
        logical_id
        for logical_id in template.find_resources("AWS::DynamoDB::Table")
        if logical_id.startswith(prefix)
    ]
    return logical_id


def _role_of_handler(template: Template, handler: str) -> str:
    (function,) = [
        function
        for function in template.find_resources("AWS::Lambda::Function").values()
        if function["Properties"].get("Handler") == handler
    ]
    role_logical_id: str = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return role_logical_id


def _policies_by_role(template: Template) -> list[tuple[str, dict[str, Any]]]:
    """(role, statement) for every statement of every policy attached to a role of the template."""
    pairs: list[tuple[str, dict[str, Any]]] = []
    for resource_type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for logical_id, policy in template.find_resources(resource_type).items():
            roles = [json.dumps(role) for role in policy["Properties"].get("Roles", [])] or [logical_id]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                pairs.extend((role, statement) for role in roles)
    for logical_id, role in template.find_resources("AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            for statement in inline["PolicyDocument"]["Statement"]:
                pairs.append((json.dumps({"Ref": logical_id}), statement))
    return pairs


def _reaches(statement: dict[str, Any], table_logical_id: str) -> bool:
    """The statement names the table, or any resource at all (``*``)."""
    resources = _as_list(statement.get("Resource", []))
    return any(resource == "*" or table_logical_id in json.dumps(resource) for resource in resources)


def _is_dynamodb_write(action: str) -> bool:
    return action in ("*", "dynamodb:*") or (
        action.startswith("dynamodb:") and action not in DYNAMODB_READ_ACTIONS
    )


def ledger_access(template: Template, ledger_table_id: str) -> dict[str, set[str]]:
    """role -> the dynamodb actions its Allow statements grant on the ledger table (``*`` included)."""
    access: dict[str, set[str]] = {}
    for role, statement in _policies_by_role(template):
        if statement.get("Effect") != "Allow" or not _reaches(statement, ledger_table_id):
            continue
        actions = {
            action
            for action in _as_list(statement["Action"])
            if (action.startswith("dynamodb:") or action == "*") and action != RESOURCELESS_LISTING
        }
        if actions:
            access.setdefault(role, set()).update(actions)
    return access


def ledger_writers(template: Template) -> dict[str, set[str]]:
    """role -> the write actions it holds on the ledger table."""
    ledger_table_id = _logical_id_of_table(template, "LedgerTable")
    return {
        role: writes
        for role, actions in ledger_access(template, ledger_table_id).items()
        if (writes := {action for action in actions if _is_dynamodb_write(action)})
    }


def _ref(logical_id: str) -> str:
    return json.dumps({"Ref": logical_id})


def test_the_ledger_table_is_kept_like_the_money_tables_and_expires_nothing(s3_app: SynthesizedApp) -> None:
    ledger_id = _logical_id_of_table(s3_app.main, "LedgerTable")
    table = s3_app.main.find_resources("AWS::DynamoDB::Table")[ledger_id]
    properties = table["Properties"]
    key_schema = table_key_schema(LedgerTableModel)
    assert properties["KeySchema"] == [
        {"AttributeName": key_schema.hash_key, "KeyType": "HASH"},
        {"AttributeName": key_schema.range_key, "KeyType": "RANGE"},
    ]
    assert (key_schema.hash_key, key_schema.range_key) == ("pk", "sk")  # the deploy contract
    assert {definition["AttributeType"] for definition in properties["AttributeDefinitions"]} == {"S"}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    # No TTL (an entry never expires), no stream, no index: the deploy contract.
    assert "TimeToLiveSpecification" not in properties
    assert "StreamSpecification" not in properties
    assert "GlobalSecondaryIndexes" not in properties


def test_the_credits_role_only_reads_the_ledger(s3_app: SynthesizedApp) -> None:
    template = s3_app.main
    ledger_id = _logical_id_of_table(template, "LedgerTable")
    credits_role = _ref(_role_of_handler(template, CREDITS_HANDLER))

    access = ledger_access(template, ledger_id)

    assert access[credits_role] == set(LEDGER_READ_ACTIONS)
    assert credits_role not in ledger_writers(template)


def test_the_ledger_writer_only_puts_items_into_the_ledger(s3_app: SynthesizedApp) -> None:
    template = s3_app.main
    ledger_id = _logical_id_of_table(template, "LedgerTable")
    writer_role = _ref(_role_of_handler(template, LEDGER_WRITER_HANDLER))

    assert ledger_access(template, ledger_id)[writer_role] == {"dynamodb:PutItem"}
    assert set(LEDGER_WRITE_ACTIONS) == {"dynamodb:PutItem"}


def test_nobody_else_reaches_the_ledger_and_only_the_writer_writes_it(s3_app: SynthesizedApp) -> None:
    template = s3_app.main
    ledger_id = _logical_id_of_table(template, "LedgerTable")
    credits_role = _ref(_role_of_handler(template, CREDITS_HANDLER))
    writer_role = _ref(_role_of_handler(template, LEDGER_WRITER_HANDLER))

    assert set(ledger_access(template, ledger_id)) == {credits_role, writer_role}
    assert ledger_writers(template) == {writer_role: {"dynamodb:PutItem"}}


def test_the_writer_touches_the_credits_table_and_its_queue_as_the_contract_says(
    s3_app: SynthesizedApp,
) -> None:
    template = s3_app.main
    credits_id = _logical_id_of_table(template, "DataCreditsTable")
    writer_role = _ref(_role_of_handler(template, LEDGER_WRITER_HANDLER))
    table_statements = [
        statement
        for role, statement in _policies_by_role(template)
        if role == writer_role
        and any(
            resource == {"Fn::GetAtt": [credits_id, "Arn"]} for resource in _as_list(statement["Resource"])
        )
    ]
    assert {action for statement in table_statements for action in _as_list(statement["Action"])} == set(
        CREDITS_TABLE_ACTIONS
    )
    sqs_actions = {
        action
        for role, statement in _policies_by_role(template)
        if role == writer_role
        for action in _as_list(statement["Action"])
        if action.startswith("sqs:")
    }
    assert {"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} <= (
        sqs_actions
    )


def _writer_properties(app: SynthesizedApp) -> dict[str, Any]:
    (function,) = [
        function["Properties"]
        for function in app.main.find_resources("AWS::Lambda::Function").values()
        if function["Properties"].get("Handler") == LEDGER_WRITER_HANDLER
    ]
    properties: dict[str, Any] = function
    return properties


def test_the_writer_reads_the_credits_stream_with_the_contracts_settings(s3_app: SynthesizedApp) -> None:
    mappings = s3_app.main.find_resources("AWS::Lambda::EventSourceMapping")
    credits_id = _logical_id_of_table(s3_app.main, "DataCreditsTable")
    writer_function_id = next(
        logical_id
        for logical_id, function in s3_app.main.find_resources("AWS::Lambda::Function").items()
        if function["Properties"].get("Handler") == LEDGER_WRITER_HANDLER
    )
    writer_mappings = [
        mapping["Properties"]
        for mapping in mappings.values()
        if mapping["Properties"]["FunctionName"] == {"Ref": writer_function_id}
    ]
    stream_arn = {"Fn::GetAtt": [credits_id, "StreamArn"]}
    (stream,) = [mapping for mapping in writer_mappings if mapping["EventSourceArn"] == stream_arn]
    assert stream["BatchSize"] <= 100
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream["BisectBatchOnFunctionError"] is True
    assert stream["ParallelizationFactor"] == 1
    assert stream["StartingPosition"] == "TRIM_HORIZON"
    assert "Filters" not in json.dumps(stream)  # every shard write reaches the writer
    assert stream["DestinationConfig"]["OnFailure"]["Destination"]
    (recheck,) = [mapping for mapping in writer_mappings if mapping is not stream]
    assert recheck["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue_id = recheck["EventSourceArn"]["Fn::GetAtt"][0]
    queue = s3_app.main.find_resources("AWS::SQS::Queue")[queue_id]["Properties"]
    assert queue["DelaySeconds"] == 60
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 1
    variables = _writer_properties(s3_app)["Environment"]["Variables"]
    assert variables[EDGEMETER_LEDGER_RECHECK_QUEUE_URL] == {"Ref": queue_id}


def test_the_writer_shares_the_credits_functions_table_environment(s3_app: SynthesizedApp) -> None:
    writer = _writer_properties(s3_app)["Environment"]["Variables"]
    (credits,) = [
        function["Properties"]["Environment"]["Variables"]
        for function in s3_app.main.find_resources("AWS::Lambda::Function").values()
        if function["Properties"].get("Handler") == CREDITS_HANDLER
    ]
    for variable in ("EDGEMETER_USERS_TABLE", "EDGEMETER_CREDITS_TABLE", "EDGEMETER_PRICING"):
        assert writer[variable] == credits[variable], variable
    ledger_id = _logical_id_of_table(s3_app.main, "LedgerTable")
    assert writer[EDGEMETER_LEDGER_TABLE] == credits[EDGEMETER_LEDGER_TABLE] == {"Ref": ledger_id}


def test_alarms_on_the_ledger_falling_behind_failing_or_giving_up_reach_the_topic(
    s3_app: SynthesizedApp,
) -> None:
    alarms = [
        alarm["Properties"]
        for logical_id, alarm in s3_app.main.find_resources("AWS::CloudWatch::Alarm").items()
        if logical_id.startswith("Ledger")
    ]
    metric_names = sorted(alarm["MetricName"] for alarm in alarms)
    assert metric_names == [
        "ApproximateNumberOfMessagesVisible",
        "ApproximateNumberOfMessagesVisible",
        "Errors",
        "IteratorAge",
    ]
    for alarm in alarms:
        assert alarm["AlarmActions"], alarm["MetricName"]
        assert "AlarmTopic" in json.dumps(alarm["AlarmActions"])


def test_a_write_action_added_on_the_ledger_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    app = App(context=cdk_json_context(), outdir=str(tmp_path))
    stacks = compose_edgemeter(app, load_settings(app.node), lambda_code=source_only_code)
    # What a careless change would do: the ordinary CDK grant, which includes UpdateItem/DeleteItem.
    stacks.main.ledger.table.grant_read_write_data(stacks.main.credits_api.function)
    template = Template.from_stack(stacks.main)
    credits_role = _ref(_role_of_handler(template, CREDITS_HANDLER))

    writers = ledger_writers(template)

    assert {"dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= writers[credits_role]
    assert set(writers) != {_ref(_role_of_handler(template, LEDGER_WRITER_HANDLER))}


def test_no_table_stream_has_more_consumers_than_dynamodb_streams_allows(s3_app: SynthesizedApp) -> None:
    # DynamoDB Streams: no more than two processes read a shard at once; a third consumer is throttled.
    consumers: dict[str, int] = {}
    for mapping in s3_app.main.find_resources("AWS::Lambda::EventSourceMapping").values():
        source = json.dumps(mapping["Properties"]["EventSourceArn"])
        if "StreamArn" in source:
            consumers[source] = consumers.get(source, 0) + 1
    credits_id = _logical_id_of_table(s3_app.main, "DataCreditsTable")
    credits_stream = json.dumps({"Fn::GetAtt": [credits_id, "StreamArn"]})
    assert consumers[credits_stream] == 2  # the account events and the ledger writer
    assert all(count <= 2 for count in consumers.values()), consumers


@pytest.fixture(scope="module")
def regional_templates(tmp_path_factory: pytest.TempPathFactory) -> list[Template]:
    app = synthesize(REGIONS_CONTEXT, tmp_path_factory.mktemp("cdk-ledger-regions"))
    return [Template.from_stack(stack) for stack in app.stacks.regional]


def test_every_credits_region_has_its_own_append_only_ledger(regional_templates: list[Template]) -> None:
    assert len(regional_templates) == 2
    for template in regional_templates:
        ledger_id = _logical_id_of_table(template, "LedgerTable")
        credits_role = _ref(_role_of_handler(template, CREDITS_HANDLER))
        writer_role = _ref(_role_of_handler(template, LEDGER_WRITER_HANDLER))
        access = ledger_access(template, ledger_id)
        assert access[credits_role] == set(LEDGER_READ_ACTIONS)
        assert ledger_writers(template) == {writer_role: {"dynamodb:PutItem"}}
        assert set(access) == {credits_role, writer_role}


def test_the_dashboard_shows_the_ledger_writers_lag(s3_app: SynthesizedApp) -> None:
    (dashboard,) = s3_app.main.find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    writer_id = next(
        logical_id
        for logical_id, function in s3_app.main.find_resources("AWS::Lambda::Function").items()
        if function["Properties"].get("Handler") == LEDGER_WRITER_HANDLER
    )
    assert "Ledger writer: lag behind the balances" in body
    assert writer_id in body
    assert "IteratorAge" in body
