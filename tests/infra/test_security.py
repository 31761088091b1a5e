"""The security-relevant facts of the synthesized templates, for both origin kinds."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from tests.infra.conftest import SynthesizedApp

EDGE_TRUSTED_SERVICES = {"lambda.amazonaws.com", "edgelambda.amazonaws.com"}
API_KEY_HEADERS = {"x-api-key", "authorization"}


@pytest.fixture(params=["s3_app", "custom_app"])
def any_app(request: pytest.FixtureRequest) -> SynthesizedApp:
    app: SynthesizedApp = request.getfixturevalue(request.param)
    return app


def _resources(template: Template, resource_type: str) -> dict[str, Any]:
    return dict(template.find_resources(resource_type))


def _only(template: Template, resource_type: str) -> dict[str, Any]:
    resources = _resources(template, resource_type)
    assert len(resources) == 1, f"expected one {resource_type}, found {sorted(resources)}"
    return next(iter(resources.values()))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_api_method_requires_iam_authorization(any_app: SynthesizedApp) -> None:
    methods = _resources(any_app.main, "AWS::ApiGateway::Method")
    assert methods, "the credits API has no methods"
    for logical_id, method in methods.items():
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM", logical_id


def _edge_policy(app: SynthesizedApp) -> dict[str, Any]:
    policies = _resources(app.main, "AWS::IAM::ManagedPolicy")
    edge_policies = [
        policy
        for policy in policies.values()
        if any("viewer-request" in str(role) for role in policy["Properties"].get("Roles", []))
    ]
    assert len(edge_policies) == 1
    edge_policy: dict[str, Any] = edge_policies[0]
    return edge_policy


def test_edge_policy_allows_only_authorize_and_refund(any_app: SynthesizedApp) -> None:
    statements = _edge_policy(any_app)["Properties"]["PolicyDocument"]["Statement"]
    assert [statement["Action"] for statement in statements] == ["execute-api:Invoke"]
    assert statements[0]["Effect"] == "Allow"
    routes = [json.dumps(resource) for resource in statements[0]["Resource"]]
    assert len(routes) == 2
    # The edge routes live on their own HTTP API, served by its $default stage (issue 14 §6).
    assert sum(route.endswith('/$default/POST/v1/authorize"]]}') for route in routes) == 1
    assert sum(route.endswith('/$default/POST/v1/refunds"]]}') for route in routes) == 1
    http_api_id = next(iter(_resources(any_app.main, "AWS::ApiGatewayV2::Api")))
    assert all(http_api_id in json.dumps(resource) for resource in statements[0]["Resource"])


def test_edge_roles_get_api_access_only_through_the_edge_policy(any_app: SynthesizedApp) -> None:
    edge_policy = _edge_policy(any_app)
    assert set(edge_policy["Properties"]["Roles"]) == {
        "Edgemeter-eu-west-1-viewer-request",
        "Edgemeter-eu-west-1-origin-response",
    }
    for resource_type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for logical_id in _resources(any_app.edge, resource_type):
            assert "execute-api" not in json.dumps(_resources(any_app.edge, resource_type)[logical_id]), (
                logical_id
            )
        for logical_id, policy in _resources(any_app.main, resource_type).items():
            role_names = {json.dumps(role) for role in policy["Properties"].get("Roles", [])}
            attached_to_edge = role_names & {json.dumps(role) for role in edge_policy["Properties"]["Roles"]}
            if attached_to_edge and policy != edge_policy:
                assert "execute-api" not in json.dumps(policy), logical_id


def test_edge_roles_trust_lambda_and_edgelambda(any_app: SynthesizedApp) -> None:
    roles = _resources(any_app.edge, "AWS::IAM::Role")
    assert roles
    for logical_id, role in roles.items():
        principals = {
            service
            for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
            for service in _as_list(statement["Principal"]["Service"])
        }
        assert principals == EDGE_TRUSTED_SERVICES, logical_id


def test_billing_policies_do_not_reach_the_edge_routes(any_app: SynthesizedApp) -> None:
    for logical_id, policy in _resources(any_app.main, "AWS::IAM::ManagedPolicy").items():
        if policy == _edge_policy(any_app):
            continue
        document = json.dumps(policy["Properties"]["PolicyDocument"])
        assert "/v1/authorize" not in document, logical_id
        assert "/v1/refunds" not in document, logical_id
        assert '/live/*/v1/*"' not in document, logical_id


def test_content_bucket_blocks_public_access_and_is_reachable_only_through_oac(
    s3_app: SynthesizedApp,
) -> None:
    buckets = _resources(s3_app.main, "AWS::S3::Bucket")
    content_ids = [logical_id for logical_id in buckets if logical_id.startswith("ContentBucket")]
    assert len(content_ids) == 1
    content_bucket = buckets[content_ids[0]]["Properties"]
    assert content_bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert content_bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "LoggingConfiguration" in content_bucket

    distribution_id = next(iter(_resources(s3_app.main, "AWS::CloudFront::Distribution")))
    policies = [
        policy["Properties"]["PolicyDocument"]["Statement"]
        for policy in _resources(s3_app.main, "AWS::S3::BucketPolicy").values()
        if policy["Properties"]["Bucket"] == {"Ref": content_ids[0]}
    ]
    assert len(policies) == 1
    allows = [statement for statement in policies[0] if statement["Effect"] == "Allow"]
    denies = [statement for statement in policies[0] if statement["Effect"] == "Deny"]
    assert allows, "CloudFront must be allowed to read and write objects"
    for statement in allows:
        assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        source_arn = statement["Condition"]["StringEquals"]["AWS:SourceArn"]
        assert distribution_id in json.dumps(source_arn)
    assert any(statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for statement in denies)
    assert len(_resources(s3_app.main, "AWS::CloudFront::OriginAccessControl")) == 1


def test_custom_origin_is_https_only_and_signed(custom_app: SynthesizedApp) -> None:
    config = _only(custom_app.main, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["DomainName"] == "objects.example.com"
    assert origin["OriginPath"] == "/edgemeter-objects"
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]
    assert origin["CustomOriginConfig"]["HTTPSPort"] == 9000
    event_types = {
        association["EventType"]
        for association in config["DefaultCacheBehavior"]["LambdaFunctionAssociations"]
    }
    assert "origin-request" in event_types
    assert _resources(custom_app.main, "AWS::S3::Bucket").keys() == {
        logical_id
        for logical_id in _resources(custom_app.main, "AWS::S3::Bucket")
        if "AccessLogs" in logical_id
    }
    secret_policies = [
        policy
        for policy in _resources(custom_app.main, "AWS::IAM::Policy").values()
        if "secretsmanager:GetSecretValue" in json.dumps(policy)
    ]
    assert len(secret_policies) == 1
    assert secret_policies[0]["Properties"]["Roles"] == ["Edgemeter-eu-west-1-origin-signer"]


def test_tables_have_pitr_deletion_protection_retain_and_encryption(any_app: SynthesizedApp) -> None:
    tables = any_app.main.find_resources("AWS::DynamoDB::Table")
    assert len(tables) == 4  # users, credits, objects, and the ledger (issue 14)
    for logical_id, table in tables.items():
        properties = table["Properties"]
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, (
            logical_id
        )
        assert properties["DeletionProtectionEnabled"] is True, logical_id
        assert properties["BillingMode"] == "PAY_PER_REQUEST", logical_id
        assert properties["SSESpecification"]["SSEEnabled"] is True, logical_id
        assert table["DeletionPolicy"] == "Retain", logical_id
        assert table["UpdateReplacePolicy"] == "Retain", logical_id


def test_cache_key_excludes_the_api_key_headers(any_app: SynthesizedApp) -> None:
    cache_policy = _only(any_app.main, "AWS::CloudFront::CachePolicy")["Properties"]["CachePolicyConfig"]
    key = cache_policy["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert key["CookiesConfig"] == {"CookieBehavior": "none"}
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "none"}
    assert key["EnableAcceptEncodingGzip"] is True
    assert key["EnableAcceptEncodingBrotli"] is True
    # Nor do the key headers reach the origin through the origin request policy.
    origin_request = _only(any_app.main, "AWS::CloudFront::OriginRequestPolicy")["Properties"]
    forwarded = {
        name.lower() for name in origin_request["OriginRequestPolicyConfig"]["HeadersConfig"]["Headers"]
    }
    assert forwarded
    assert not forwarded & API_KEY_HEADERS


def test_distribution_is_https_only_logged_compressed_and_accepts_uploads(any_app: SynthesizedApp) -> None:
    config = _only(any_app.main, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "https-only"
    assert behavior["Compress"] is True
    assert "PUT" in behavior["AllowedMethods"]
    assert config["Logging"]["Bucket"]


def test_viewer_request_and_origin_response_run_the_baked_versions(any_app: SynthesizedApp) -> None:
    config = _only(any_app.main, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    associations = {
        association["EventType"]: association["LambdaFunctionARN"]
        for association in config["DefaultCacheBehavior"]["LambdaFunctionAssociations"]
    }
    baked = _resources(any_app.main, "Custom::EdgemeterEdgeSettings")
    for event_type in ("viewer-request", "origin-response"):
        arn = associations[event_type]
        logical_id, attribute = arn["Fn::GetAtt"]
        assert attribute == "VersionArn"
        assert logical_id in baked
    any_app.main.has_resource_properties(
        "Custom::EdgemeterEdgeSettings",
        {"SettingsFileName": "functions/edge_auth/config.json", "FunctionArn": Match.any_value()},
    )


def test_credits_api_has_access_logs_tracing_and_throttling(any_app: SynthesizedApp) -> None:
    stage = _only(any_app.main, "AWS::ApiGateway::Stage")["Properties"]
    assert stage["TracingEnabled"] is True
    assert stage["AccessLogSetting"]["DestinationArn"]
    (method_settings,) = stage["MethodSettings"]
    assert method_settings["ThrottlingRateLimit"] == 1000
    assert method_settings["ThrottlingBurstLimit"] == 2000
    assert method_settings["DataTraceEnabled"] is False


def test_cdn_error_rate_alarm_is_put_in_us_east_1_and_notifies_a_topic_there(any_app: SynthesizedApp) -> None:
    (alarm,) = any_app.main.find_resources("Custom::EdgemeterCdnAlarm").values()
    # The SDK call is a JSON document inside an Fn::Join; its literal parts are what matters here.
    separator, parts = alarm["Properties"]["Create"]["Fn::Join"]
    call_text = separator.join(part for part in parts if isinstance(part, str))
    assert '"action":"putMetricAlarm"' in call_text
    assert '"region":"us-east-1"' in call_text
    assert '"MetricName":"5xxErrorRate"' in call_text
    topic_name = "Edgemeter-eu-west-1-cdn-alarms"
    assert '"AlarmActions":["arn:aws:sns:us-east-1:' in call_text
    assert f':{topic_name}"]' in call_text
    any_app.edge.has_resource_properties("AWS::SNS::Topic", {"TopicName": topic_name})
