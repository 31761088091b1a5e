"""The deployed shard-rate scheduler (issue 14): an EventBridge rule invokes home's credits function
every minute with the follow event, and EventBridge may invoke it from that rule only."""

from __future__ import annotations

import json
from typing import Any, cast

from aws_cdk import CfnResource
from aws_cdk.assertions import Template

from functions.credits.store.shard_rate_schedule import FOLLOW_SHARD_RATES_EVENT
from tests.infra.conftest import SynthesizedApp


def _follower_rules(template: Template) -> dict[str, dict[str, Any]]:
    """The rules (by logical id) whose target sends the follow event."""
    return {
        logical_id: rule["Properties"]
        for logical_id, rule in template.find_resources("AWS::Events::Rule").items()
        if any(
            json.loads(target.get("Input", "{}")) == FOLLOW_SHARD_RATES_EVENT
            for target in rule["Properties"]["Targets"]
        )
    }


def test_home_runs_the_shard_rate_follower_every_minute_on_its_credits_function(
    s3_app: SynthesizedApp,
) -> None:
    template, main = s3_app.main, s3_app.stacks.main
    ((rule_id, rule),) = _follower_rules(template).items()
    (target,) = rule["Targets"]
    function_id = main.get_logical_id(cast(CfnResource, main.credits_api.function.node.default_child))

    assert rule["ScheduleExpression"] == "rate(1 minute)"
    assert rule["State"] == "ENABLED"
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
        },
    )


def test_the_custom_origin_deployment_schedules_it_too(custom_app: SynthesizedApp) -> None:
    assert len(_follower_rules(custom_app.main)) == 1
