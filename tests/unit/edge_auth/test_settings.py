"""Edge settings: the baked document's schema, validated with clear errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from functions.edge_auth.settings import (
    EdgeSettings,
    SettingsError,
    load_settings_file,
    parse_settings,
    settings_document,
)

EXAMPLE_PATH = Path(__file__).parents[3] / "functions" / "edge_auth" / "config.example.json"


def example_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(EXAMPLE_PATH.read_text())
    return document


def test_example_file_is_valid_and_round_trips() -> None:
    settings = load_settings_file(EXAMPLE_PATH)
    assert settings.credits_api.region == "us-east-1"
    assert settings.authorize_budget_ms == 1500
    assert settings.query_key.enabled is False
    assert settings_document(settings) == example_document()
    assert parse_settings(settings_document(settings)) == settings


def test_minimal_document_gets_defaults() -> None:
    settings = parse_settings({"credits_api": {"url": "http://127.0.0.1:8081", "region": "us-east-1"}})
    assert settings.headers.api_key == "x-api-key"
    assert settings.cache.unknown_key_ttl_seconds == 30
    assert settings.credits_api.service == "execute-api"


@pytest.mark.parametrize(
    ("mutate", "expected_message"),
    [
        (lambda d: d.pop("credits_api"), "credits_api: required"),
        (lambda d: d["credits_api"].update(region="mars-1"), "credits_api.region"),
        (lambda d: d["credits_api"].update(url="http://credits.example.com"), "plain http is only allowed"),
        (lambda d: d["credits_api"].update(url="ftp://x"), "not an absolute http(s) URL"),
        (
            lambda d: d.update(authorize_budget_ms=5000),
            "authorize_budget_ms: must be an integer from 50 to 3000",
        ),
        (lambda d: d.update(authorize_budget_ms=True), "authorize_budget_ms: must be an integer"),
        (lambda d: d.update(refund_budget_ms="3000"), "refund_budget_ms: must be an integer"),
        (lambda d: d["cache"].update(unknown_key_ttl_seconds=3600), "cache.unknown_key_ttl_seconds"),
        (lambda d: d["cache"].update(max_entries=0), "cache.max_entries"),
        (lambda d: d["headers"].update(account="x-api-key"), "must be distinct"),
        (lambda d: d["headers"].update(charged="X-Charged"), "not a lowercase header name"),
        (lambda d: d["headers"].update(account="x-amz-account"), "reserved"),
        (lambda d: d["headers"].update(api_key="authorization"), "reserved"),
        (lambda d: d["query_key"].update(enabled="yes"), "query_key.enabled: must be true or false"),
        (lambda d: d["query_key"].update(parameter="a&b"), "query_key.parameter"),
        (lambda d: d.update(authorise_budget_ms=100), "authorise_budget_ms: unknown field"),
        (lambda d: d.update(schema_version=2), "schema_version: expected 1"),
        (lambda d: d.update(cache=[]), "cache: must be an object"),
    ],
)
def test_invalid_documents_name_the_problem(mutate: Any, expected_message: str) -> None:
    document = copy.deepcopy(example_document())
    mutate(document)
    with pytest.raises(SettingsError, match="invalid edge settings") as raised:
        parse_settings(document)
    assert expected_message in str(raised.value)


def test_every_problem_is_reported_at_once() -> None:
    document = example_document()
    document["authorize_budget_ms"] = 9000
    document["credits_api"]["region"] = "nowhere"
    with pytest.raises(SettingsError) as raised:
        parse_settings(document)
    assert "authorize_budget_ms" in str(raised.value)
    assert "credits_api.region" in str(raised.value)


def test_settings_object_validates_itself() -> None:
    settings = parse_settings(example_document())
    with pytest.raises(SettingsError, match="refund_budget_ms"):
        EdgeSettings(credits_api=settings.credits_api, refund_budget_ms=60_000)


@pytest.mark.parametrize(
    ("content", "expected_message"),
    [(None, "is missing from the package"), ("{not json", "is not JSON"), ("[1]", "must be a JSON object")],
)
def test_settings_file_problems_are_clear(tmp_path: Path, content: str | None, expected_message: str) -> None:
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SettingsError, match=expected_message):
        load_settings_file(path)
