"""The edge routes' HTTP API on the template (issue 14 §6).

What the edge path needs from API Gateway, checked on the HTTP API that now serves it: IAM on
every route and no other route, the credits function behind payload 1.0 (the REST proxy
event's shape, so one resolver serves both APIs), throttling on the stage and each route,
JSON access logs that carry no path or query string, and the edge settings pointing at it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks.constructs.credits_api import CREDITS_HANDLER
from stacks.constructs.edge_http_api import EDGE_ACCESS_LOG_FIELDS, EDGE_API_STAGE_NAME, EDGE_ROUTES
from tests.infra.conftest import SynthesizedApp

EDGE_ROUTE_KEYS = {f"{method} {path}" for method, path in EDGE_ROUTES}


def _only(template: Template, resource_type: str) -> tuple[str, dict[str, Any]]:
    resources = template.find_resources(resource_type)
    assert len(resources) == 1, f"expected one {resource_type}, found {sorted(resources)}"
    ((logical_id, resource),) = resources.items()
    return logical_id, resource["Properties"]


def _credits_function_id(template: Template) -> str:
    (logical_id,) = [
        logical_id
        for logical_id, function in template.find_resources("AWS::Lambda::Function").items()
        if function["Properties"].get("Handler") == CREDITS_HANDLER
    ]
    return logical_id


def test_the_http_api_has_exactly_the_edge_routes_each_iam_authorized(s3_app: SynthesizedApp) -> None:
    api_id, api = _only(s3_app.main, "AWS::ApiGatewayV2::Api")
    assert api["ProtocolType"] == "HTTP"
    routes = s3_app.main.find_resources("AWS::ApiGatewayV2::Route")
    assert {route["Properties"]["RouteKey"] for route in routes.values()} == EDGE_ROUTE_KEYS
    for logical_id, route in routes.items():
        assert route["Properties"]["AuthorizationType"] == "AWS_IAM", logical_id
        assert route["Properties"]["ApiId"] == {"Ref": api_id}


def test_the_integration_is_the_credits_function_with_the_rest_event_shape(s3_app: SynthesizedApp) -> None:
    _, integration = _only(s3_app.main, "AWS::ApiGatewayV2::Integration")
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "1.0"
    assert _credits_function_id(s3_app.main) in json.dumps(integration["IntegrationUri"])


def test_the_stage_throttles_each_route_and_serves_the_root(s3_app: SynthesizedApp) -> None:
    _, stage = _only(s3_app.main, "AWS::ApiGatewayV2::Stage")
    throttle = s3_app.settings.api_throttle
    assert stage["StageName"] == EDGE_API_STAGE_NAME == "$default"
    assert stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == throttle.rate_limit
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == throttle.burst_limit
    assert set(stage["RouteSettings"]) == EDGE_ROUTE_KEYS
    for route_key, route_settings in stage["RouteSettings"].items():
        assert route_settings["ThrottlingRateLimit"] == throttle.rate_limit, route_key
        assert route_settings["ThrottlingBurstLimit"] == throttle.burst_limit, route_key


def test_access_logs_are_json_lines_without_paths_or_query_strings(s3_app: SynthesizedApp) -> None:
    _, stage = _only(s3_app.main, "AWS::ApiGatewayV2::Stage")
    log_settings = stage["AccessLogSettings"]
    log_group_id = log_settings["DestinationArn"]["Fn::GetAtt"][0]
    assert log_group_id in s3_app.main.find_resources("AWS::Logs::LogGroup")
    line = json.loads(log_settings["Format"])
    assert line == EDGE_ACCESS_LOG_FIELDS
    variables = set(line.values())
    assert {"$context.requestId", "$context.routeKey", "$context.status"} <= variables
    # The route key names the route; the path and query string (and any header) are never logged.
    assert not any("path" in variable.lower() or "querystring" in variable.lower() for variable in variables)
    assert not any("header" in variable.lower() or "body" in variable.lower() for variable in variables)


def test_the_edge_settings_point_at_the_http_api_not_the_rest_api(s3_app: SynthesizedApp) -> None:
    api_id, _ = _only(s3_app.main, "AWS::ApiGatewayV2::Api")
    rest_api_id, _ = _only(s3_app.main, "AWS::ApiGateway::RestApi")
    for resource in s3_app.main.find_resources("Custom::EdgemeterEdgeSettings").values():
        if resource["Properties"]["SettingsFileName"] != "functions/edge_auth/config.json":
            continue
        settings_json = json.dumps(resource["Properties"]["SettingsJson"])
        assert api_id in settings_json
        assert rest_api_id not in settings_json


def test_the_billing_routes_stay_on_the_rest_api_behind_iam(s3_app: SynthesizedApp) -> None:
    resources = s3_app.main.find_resources("AWS::ApiGateway::Resource")
    assert {resource["Properties"]["PathPart"] for resource in resources.values()} == {"v1", "{proxy+}"}
    for logical_id, method in s3_app.main.find_resources("AWS::ApiGateway::Method").items():
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM", logical_id


def test_only_the_edge_policy_may_invoke_the_http_api(s3_app: SynthesizedApp) -> None:
    api_id, _ = _only(s3_app.main, "AWS::ApiGatewayV2::Api")
    invoking = [
        policy["Properties"]
        for policy in s3_app.main.find_resources("AWS::IAM::ManagedPolicy").values()
        if api_id in json.dumps(policy["Properties"]["PolicyDocument"])
    ]
    (edge_policy,) = invoking
    assert {json.dumps(role) for role in edge_policy["Roles"]} == {
        '"Edgemeter-eu-west-1-viewer-request"',
        '"Edgemeter-eu-west-1-origin-response"',
    }


@pytest.mark.parametrize("metric", ["5xx", "Latency"])
def test_the_edge_api_has_alarms_on_server_errors_and_latency(s3_app: SynthesizedApp, metric: str) -> None:
    api_id, _ = _only(s3_app.main, "AWS::ApiGatewayV2::Api")
    # A metric alarm or a math expression over the API's metrics: either names the API and the metric.
    alarms = [
        alarm["Properties"]
        for alarm in s3_app.main.find_resources("AWS::CloudWatch::Alarm").values()
        if '"Namespace": "AWS/ApiGateway"' in json.dumps(alarm["Properties"])
        and api_id in json.dumps(alarm["Properties"])
        and f'"MetricName": "{metric}"' in json.dumps(alarm["Properties"])
    ]
    assert len(alarms) == 1
    assert "AlarmTopic" in json.dumps(alarms[0]["AlarmActions"])
