"""Infrastructure of the account events (issue 16): the custom bus and the stream consumer.

The construct is synthesized in a small stack of its own, with cdk-nag on (an unsuppressed
finding fails the synth), next to two tables streaming NEW_AND_OLD_IMAGES as DataTables makes
them. The composed app's wiring is checked on the session-synthesized template when present.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk.assertions import Match, Template

from functions.account_events.events import EVENT_SOURCE, EventType
from functions.credits.data.models import CreditsTableModel, UsersTableModel
from functions.credits.store.low_balance_alerts import LOW_ALERT_ATTRIBUTES
from functions.shared.environment_variables import EDGEMETER_EVENT_BUS_NAME
from stacks.bundling import LambdaCpu
from stacks.constructs.account_events import (
    ACCOUNT_EVENTS_HANDLER,
    CREDITS_STREAM_FILTER,
    STREAM_LAG_ALARM_MS,
    STREAM_RETRY_ATTEMPTS,
    USERS_STREAM_FILTER,
    AccountEventsInfra,
    account_events_asset_spec,
)
from stacks.constructs.data_tables import ModelTable
from stacks.nag import ACKNOWLEDGED_FINDINGS, enable_aws_solutions_checks
from stacks.settings import load_settings
from tests.infra.conftest import SynthesizedApp, cdk_json_context, source_only_code


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    app = App(context=cdk_json_context(), outdir=str(tmp_path_factory.mktemp("cdk-account-events")))
    enable_aws_solutions_checks(app)
    settings = load_settings(app.node)
    stack = Stack(app, "AccountEvents", env={"region": "eu-west-1"})
    AccountEventsInfra(
        stack,
        "AccountEvents",
        settings=settings,
        code=source_only_code(account_events_asset_spec(LambdaCpu.ARM64)),
        architecture=lambda_.Architecture.ARM_64,
        users_table=ModelTable(stack, "Users", model=UsersTableModel).table,
        credits_table=ModelTable(stack, "Credits", model=CreditsTableModel).table,
    )
    # Synthesizes the app: cdk-nag runs here and fails it on any unsuppressed finding.
    return Template.from_stack(stack)


def _only(template: Template, resource_type: str) -> tuple[str, Mapping[str, Any]]:
    resources = template.find_resources(resource_type)
    assert len(resources) == 1, sorted(resources)
    return next(iter(resources.items()))


def _logical_id(template: Template, resource_type: str, prefix: str) -> str:
    matching = [name for name in template.find_resources(resource_type) if name.startswith(prefix)]
    assert len(matching) == 1, matching
    return matching[0]


def test_both_tables_stream_new_and_old_images(template: Template) -> None:
    tables = template.find_resources("AWS::DynamoDB::Table")
    assert len(tables) == 2
    for table in tables.values():
        assert table["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_the_custom_bus_and_the_arm64_consumer_that_publishes_to_it(template: Template) -> None:
    bus_id, bus = _only(template, "AWS::Events::EventBus")
    assert bus["Properties"]["Name"].endswith("-account-events")
    _, function = _only(template, "AWS::Lambda::Function")
    properties = function["Properties"]
    assert properties["Handler"] == ACCOUNT_EVENTS_HANDLER
    assert properties["Architectures"] == ["arm64"]
    assert properties["Environment"]["Variables"][EDGEMETER_EVENT_BUS_NAME] == {"Ref": bus_id}


def test_two_stream_mappings_bisect_report_item_failures_and_go_to_the_queue(template: Template) -> None:
    queue_id = _logical_id(template, "AWS::SQS::Queue", "AccountEventsFailedRecords")
    mappings = template.find_resources("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 2
    streams: set[str] = set()
    patterns: list[dict[str, Any]] = []
    for mapping in mappings.values():
        properties = mapping["Properties"]
        assert properties["StartingPosition"] == "TRIM_HORIZON"
        assert properties["BisectBatchOnFunctionError"] is True
        assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert properties["MaximumRetryAttempts"] == STREAM_RETRY_ATTEMPTS
        assert properties["DestinationConfig"] == {
            "OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}
        }
        streams.add(properties["EventSourceArn"]["Fn::GetAtt"][0])
        (filter_entry,) = properties["FilterCriteria"]["Filters"]
        patterns.append(json.loads(filter_entry["Pattern"]))
    assert len(streams) == 2  # one mapping per table
    assert sorted(patterns, key=json.dumps) == sorted(
        [USERS_STREAM_FILTER, CREDITS_STREAM_FILTER], key=json.dumps
    )


def test_the_failed_records_queue_is_encrypted_and_tls_only(template: Template) -> None:
    template.has_resource_properties(
        "AWS::SQS::Queue", {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 24 * 3600}
    )
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        )
                    ]
                )
            }
        },
    )


def _statements(template: Template) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_least_privilege_put_events_on_its_bus_and_stream_reads_only(template: Template) -> None:
    bus_id = _logical_id(template, "AWS::Events::EventBus", "AccountEventsBus")
    statements = _statements(template)
    put_events = [statement for statement in statements if "events:PutEvents" in _actions(statement)]
    assert len(put_events) == 1
    assert put_events[0]["Resource"] == {"Fn::GetAtt": [bus_id, "Arn"]}
    every_action = {action for statement in statements for action in _actions(statement)}
    # Table data: only the sharded totals' reads and the alert item's own attributes (issue 14).
    assert not {action for action in every_action if action.startswith("dynamodb:")} - {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:UpdateItem",
    }
    (update,) = [statement for statement in statements if "dynamodb:UpdateItem" in _actions(statement)]
    assert _actions(update) == ["dynamodb:UpdateItem"]
    assert update["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"] == list(
        LOW_ALERT_ATTRIBUTES
    )
    assert update["Condition"]["StringEqualsIfExists"]["dynamodb:ReturnValues"] == "NONE"
    stream_resources: list[Any] = []
    for statement in statements:
        if "dynamodb:GetRecords" in _actions(statement):
            resource = statement["Resource"]
            stream_resources.extend(resource if isinstance(resource, list) else [resource])
    # Exactly the two tables' streams (CDK merges them into one statement).
    assert sorted(resource["Fn::GetAtt"][1] for resource in stream_resources) == ["StreamArn", "StreamArn"]
    list_streams = [statement for statement in statements if "dynamodb:ListStreams" in _actions(statement)]
    assert [_actions(statement) for statement in list_streams] == [["dynamodb:ListStreams"]]
    assert all(not action.startswith("events:") or action == "events:PutEvents" for action in every_action)


def test_alarms_on_given_up_batches_and_on_a_consumer_falling_behind(template: Template) -> None:
    queue_id = _logical_id(template, "AWS::SQS::Queue", "AccountEventsFailedRecords")
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    by_metric = {alarm["Properties"]["MetricName"]: alarm["Properties"] for alarm in alarms.values()}
    assert set(by_metric) == {"ApproximateNumberOfMessagesVisible", "IteratorAge"}
    given_up = by_metric["ApproximateNumberOfMessagesVisible"]
    assert given_up["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
    assert given_up["Threshold"] == 1
    assert by_metric["IteratorAge"]["Threshold"] == STREAM_LAG_ALARM_MS


def test_the_composed_app_sends_the_events_alarms_to_the_alarm_topic(s3_app: SynthesizedApp) -> None:
    alarms = s3_app.main.find_resources("AWS::CloudWatch::Alarm")
    mine = [alarm for logical_id, alarm in alarms.items() if logical_id.startswith("AccountEvents")]
    assert len(mine) == 2
    for alarm in mine:
        (action,) = alarm["Properties"]["AlarmActions"]
        assert action["Ref"].startswith("MonitoringAlarmTopic")


def test_cdk_nag_suppressions_are_only_the_named_ones(template: Template) -> None:
    mine = {
        finding
        for path, finding, _ in ACKNOWLEDGED_FINDINGS
        if path.startswith("AccountEvents/AccountEvents")
    }
    assert mine == {"AwsSolutions-SQS3", "AwsSolutions-L1", "AwsSolutions-IAM5[Resource::*]"}


def test_the_readme_rule_sends_balance_low_to_an_sns_topic(tmp_path_factory: pytest.TempPathFactory) -> None:
    """README's CDK example, as written there, against the construct's bus."""
    app = App(context=cdk_json_context(), outdir=str(tmp_path_factory.mktemp("cdk-readme-rule")))
    stack = Stack(app, "Rule", env={"region": "eu-west-1"})
    infra = AccountEventsInfra(
        stack,
        "AccountEvents",
        settings=load_settings(app.node),
        code=lambda_.Code.from_inline("def handler(event, context): ..."),
        architecture=lambda_.Architecture.ARM_64,
        users_table=ModelTable(stack, "Users", model=UsersTableModel).table,
        credits_table=ModelTable(stack, "Credits", model=CreditsTableModel).table,
    )
    bus, self = infra.bus, stack
    topic = sns.Topic(self, "LowBalance")
    topic.add_subscription(subscriptions.EmailSubscription("billing@example.com"))
    events.Rule(self, "LowBalanceEmail", event_bus=bus,
                event_pattern=events.EventPattern(source=["edgemeter.accounts"], detail_type=["balance.low"]),
                targets=[targets.SnsTopic(topic, message=events.RuleTargetInput.from_text(
                    f"Account {events.EventField.from_path('$.detail.account_id')} is down to "
                    f"{events.EventField.from_path('$.detail.detail.balance')} credits"))])  # fmt: skip
    template = Template.from_stack(stack)
    topic_id = _logical_id(template, "AWS::SNS::Topic", "LowBalance")
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventBusName": {"Ref": _logical_id(template, "AWS::Events::EventBus", "AccountEventsBus")},
            "EventPattern": {"source": [EVENT_SOURCE], "detail-type": [EventType.BALANCE_LOW.value]},
            "Targets": [Match.object_like({"Arn": {"Ref": topic_id}})],
        },
    )
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email"})


def test_the_main_stack_consumes_the_data_tables_streams_and_passes_cdk_nag(s3_app: SynthesizedApp) -> None:
    """The composed app (session synth, cdk-nag on): one bus, the consumer on both Data tables."""
    template = s3_app.main
    assert len(template.find_resources("AWS::Events::EventBus")) == 1
    tables = template.find_resources("AWS::DynamoDB::Table")
    streamed = {
        logical_id
        for logical_id, table in tables.items()
        if table["Properties"].get("StreamSpecification") == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    }
    mappings = template.find_resources("AWS::Lambda::EventSourceMapping")
    consumed = {
        mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
        for mapping in mappings.values()
        if "FilterCriteria" in mapping["Properties"]
    }
    assert len(consumed) == 2
    assert consumed <= streamed
    assert all(table_id.startswith(("DataUsers", "DataCredits")) for table_id in consumed)
