"""The deployed billing console (issue 17): private bucket behind CloudFront (OAC) with a strict
CSP, /v1/* to the credits API, Cognito sign-in, and group roles limited to their routes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from aws_cdk.assertions import Template

from console.staff_access import ADMIN_GROUP, ADMIN_ROUTES, READER_GROUP, READER_ROUTES
from stacks.constructs.credits_api import API_STAGE_NAME
from tests.infra.conftest import SynthesizedApp

CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


@pytest.fixture(scope="module")
def console(s3_app: SynthesizedApp) -> Template:
    return Template.from_stack(s3_app.stacks.console)


def _only(template: Template, resource_type: str) -> tuple[str, Mapping[str, Any]]:
    resources = template.find_resources(resource_type)
    assert len(resources) == 1, f"expected one {resource_type}, found {sorted(resources)}"
    return next(iter(resources.items()))


def _routes(policy: Mapping[str, Any]) -> set[str]:
    """'METHOD /path' of every execute-api ARN the policy allows (the tail of each Fn::Join)."""
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "execute-api:Invoke"
    routes = set()
    for resource in statement["Resource"]:
        tail = resource["Fn::Join"][1][-1]
        stage, method, path = tail.split("/", 3)[1:]
        assert stage == API_STAGE_NAME
        routes.add(f"{method} /{path}")
    return routes


def test_the_main_stack_keeps_one_distribution(s3_app: SynthesizedApp, console: Template) -> None:
    assert len(s3_app.main.find_resources("AWS::CloudFront::Distribution")) == 1
    assert len(console.find_resources("AWS::CloudFront::Distribution")) == 1


def test_staff_policies_allow_exactly_their_routes(s3_app: SynthesizedApp) -> None:
    policies = {
        policy["Properties"]["Description"].split(",")[1].split(":")[0].strip(): policy
        for policy in s3_app.main.find_resources("AWS::IAM::ManagedPolicy").values()
        if policy["Properties"].get("Description", "").startswith("edgemeter billing console")
    }
    assert _routes(policies[READER_GROUP]) == {f"{route.method} {route.path}" for route in READER_ROUTES}
    assert _routes(policies[ADMIN_GROUP]) == {f"{route.method} {route.path}" for route in ADMIN_ROUTES}
    assert not any(
        route.startswith(("POST", "PATCH", "PUT", "DELETE")) for route in _routes(policies[READER_GROUP])
    )


def test_site_bucket_is_private_and_read_only_by_the_console_distribution(console: Template) -> None:
    buckets = console.find_resources("AWS::S3::Bucket")
    site_id, site = next((key, value) for key, value in buckets.items() if "Site" in key)
    assert site["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    policies = [
        policy
        for policy in console.find_resources("AWS::S3::BucketPolicy").values()
        if policy["Properties"]["Bucket"] == {"Ref": site_id}
    ]
    document = json.dumps(policies)
    assert "cloudfront.amazonaws.com" in document
    assert "AWS:SourceArn" in document
    _only(console, "AWS::CloudFront::OriginAccessControl")


def test_distribution_serves_the_page_and_forwards_the_api_uncached(console: Template) -> None:
    _, distribution = _only(console, "AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    (api_behavior,) = config["CacheBehaviors"]
    assert api_behavior["PathPattern"] == "/v1/*"
    assert api_behavior["CachePolicyId"] == CACHING_DISABLED
    assert api_behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert set(api_behavior["AllowedMethods"]) >= {"GET", "POST", "PATCH", "PUT", "DELETE"}
    api_origin = next(
        origin for origin in config["Origins"] if origin["Id"] == api_behavior["TargetOriginId"]
    )
    assert api_origin["OriginPath"] == f"/{API_STAGE_NAME}"
    assert api_origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert config["Logging"]["Prefix"] == "billing-console/"


def test_every_answer_carries_the_strict_csp(console: Template) -> None:
    _, distribution = _only(console, "AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    policy_id, headers_policy = _only(console, "AWS::CloudFront::ResponseHeadersPolicy")
    for behavior in [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]:
        assert behavior["ResponseHeadersPolicyId"] == {"Ref": policy_id}
    security = headers_policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = json.dumps(security["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert security["ContentTypeOptions"]["Override"] is True
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000


def test_user_pool_has_optional_totp_mfa_and_no_self_sign_up(console: Template) -> None:
    _, pool = _only(console, "AWS::Cognito::UserPool")
    properties = pool["Properties"]
    assert properties["MfaConfiguration"] == "OPTIONAL"
    assert properties["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert properties["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert properties["Policies"]["PasswordPolicy"]["MinimumLength"] >= 14
    groups = {
        group["Properties"]["GroupName"]
        for group in console.find_resources("AWS::Cognito::UserPoolGroup").values()
    }
    assert groups == {READER_GROUP, ADMIN_GROUP}
    _, client = _only(console, "AWS::Cognito::UserPoolClient")
    assert client["Properties"]["GenerateSecret"] is False
    assert client["Properties"]["AllowedOAuthFlows"] == ["code"]
    assert "aws.cognito.signin.user.admin" in client["Properties"]["AllowedOAuthScopes"]


def test_identity_pool_maps_groups_to_roles_and_denies_everyone_else(console: Template) -> None:
    pool_id, pool = _only(console, "AWS::Cognito::IdentityPool")
    assert pool["Properties"]["AllowUnauthenticatedIdentities"] is False
    assert pool["Properties"]["AllowClassicFlow"] is False
    _, attachment = _only(console, "AWS::Cognito::IdentityPoolRoleAttachment")
    (mapping,) = attachment["Properties"]["RoleMappings"].values()
    assert mapping["Type"] == "Rules"
    assert mapping["AmbiguousRoleResolution"] == "Deny"
    rules = mapping["RulesConfiguration"]["Rules"]
    assert [(rule["Claim"], rule["MatchType"], rule["Value"]) for rule in rules] == [
        ("cognito:groups", "Contains", ADMIN_GROUP),
        ("cognito:groups", "Contains", READER_GROUP),
    ]
    roles = console.find_resources("AWS::IAM::Role")
    for rule in rules:
        role_id = rule["RoleARN"]["Fn::GetAtt"][0]
        role = roles[role_id]["Properties"]
        assert rule["Value"] in role["Description"]
        (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert trust["Principal"] == {"Federated": "cognito-identity.amazonaws.com"}
        assert trust["Condition"]["StringEquals"]["cognito-identity.amazonaws.com:aud"] == {"Ref": pool_id}
        assert (
            trust["Condition"]["ForAnyValue:StringLike"]["cognito-identity.amazonaws.com:amr"]
            == "authenticated"
        )
        assert role["MaxSessionDuration"] == 3600
        assert len(role["ManagedPolicyArns"]) == 1
        assert "Policies" not in role


def test_the_built_console_and_its_config_are_deployed_with_an_invalidation(console: Template) -> None:
    deployments = console.find_resources("Custom::CDKBucketDeployment")
    (deployment,) = deployments.values()
    properties = deployment["Properties"]
    assert len(properties["SourceObjectKeys"]) == 2  # console/dist and config.json
    assert properties["DistributionPaths"] == ["/*"]
    assert properties["Prune"] is True
    # config.json's values are deploy-time markers: the stage URL, the pools, the client, the domain.
    markers = json.dumps(properties["SourceMarkers"])
    for config_value in (
        "execute-api",
        "BillingConsoleStaff",
        "BillingConsoleIdentities",
        "amazoncognito.com",
    ):
        assert config_value in markers


def test_outputs_name_the_console_and_the_staff_pool(console: Template) -> None:
    outputs = console.find_outputs("*")
    assert {"ConsoleUrl", "StaffUserPoolId"} <= set(outputs)
