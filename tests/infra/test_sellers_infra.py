"""Signed links in the deployed shape (issue 16): the credits Lambda finds the CDN's URL in an SSM
parameter the stack writes from the distribution, and may read that one parameter only."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from functions.catalog.models import index_key_schema
from functions.credits.data.models import AccountListIndex
from stacks.constructs.credits_api import cdn_base_url_parameter_name
from tests.infra.conftest import SynthesizedApp, synthesize


def _only(resources: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    (resource,) = [value for logical_id, value in resources.items() if logical_id.startswith(prefix)]
    properties: dict[str, Any] = resource["Properties"]
    return properties


def test_the_cdn_url_parameter_names_the_distribution(s3_app: SynthesizedApp) -> None:
    name = cdn_base_url_parameter_name(s3_app.settings)
    parameter = _only(s3_app.main.find_resources("AWS::SSM::Parameter"), "CdnBaseUrl")
    assert parameter["Name"] == name
    assert parameter["Type"] == "String"
    rendered = json.dumps(parameter["Value"])
    assert "https://" in rendered
    assert "DomainName" in rendered


def test_the_credits_lambda_is_told_the_parameter_and_may_read_only_it(s3_app: SynthesizedApp) -> None:
    name = cdn_base_url_parameter_name(s3_app.settings)
    functions = s3_app.main.find_resources("AWS::Lambda::Function")
    (credits,) = [
        value["Properties"]
        for value in functions.values()
        if value["Properties"].get("Handler") == "functions.credits.handler.lambda_handler"
    ]
    assert credits["Environment"]["Variables"]["EDGEMETER_CDN_BASE_URL_PARAMETER"] == name
    statements = [
        statement
        for policy in s3_app.main.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Action") == "ssm:GetParameter"
    ]
    assert len(statements) == 1
    assert f"parameter{name}" in json.dumps(statements[0]["Resource"])


def test_the_regional_users_global_table_has_the_account_list_too(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    regional = synthesize(
        {"edgemeter:regions": {"home": "eu-west-1", "credits": ["us-east-1"]}}, tmp_path_factory.mktemp("cdk")
    )
    (users,) = [
        table["Properties"]
        for table in regional.main.find_resources("AWS::DynamoDB::GlobalTable").values()
        if str(table["Properties"]["TableName"]).endswith("-users")
    ]
    expected = index_key_schema(AccountListIndex)
    (index,) = users["GlobalSecondaryIndexes"]
    assert index["IndexName"] == expected.index_name
    assert [element["AttributeName"] for element in index["KeySchema"]] == [
        expected.hash_key,
        expected.range_key,
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}
