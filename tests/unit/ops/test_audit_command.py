"""Where `edgemeter audit` reads from, and with which credentials, without any I/O.

The local runtime's DynamoDB Local is passed in by the CLI (ops does not import local/); the
placeholder credentials go to the scan itself, never into os.environ.
"""

from __future__ import annotations

import os

import pytest
import typer
from typer.testing import CliRunner

from ops.audit import DynamoDBCredentials
from ops.audit_command import EXIT_UNREADABLE, LocalDynamoDB, audit_settings, register, scan_credentials

LOCAL = LocalDynamoDB("http://127.0.0.1:8000", DynamoDBCredentials("local", "local"))


@pytest.fixture(autouse=True)
def _no_endpoint_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGEMETER_DYNAMODB_ENDPOINT", raising=False)


def test_without_an_endpoint_the_audit_reads_the_local_runtime() -> None:
    assert audit_settings(None, None, None, False, LOCAL).dynamodb_endpoint == "http://127.0.0.1:8000"


def test_an_explicit_endpoint_and_aws_win_over_the_local_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEMETER_DYNAMODB_ENDPOINT", "http://127.0.0.1:9999")

    assert audit_settings("http://127.0.0.1:7000", None, None, False, LOCAL).dynamodb_endpoint == (
        "http://127.0.0.1:7000"
    )
    assert audit_settings(None, None, None, True, LOCAL).dynamodb_endpoint is None
    assert audit_settings(None, None, None, False, LOCAL).dynamodb_endpoint == "http://127.0.0.1:9999"


def test_without_a_local_runtime_the_audit_must_be_told_where_to_read() -> None:
    with pytest.raises(ValueError, match="--endpoint"):
        audit_settings(None, None, None, False, None)


def test_placeholders_sign_for_a_local_endpoint_only_when_no_credentials_are_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    local_settings = audit_settings(None, None, None, False, LOCAL)
    aws_settings = audit_settings(None, None, None, True, LOCAL)

    with_caller_credentials = scan_credentials(local_settings, LOCAL)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    without_credentials = scan_credentials(local_settings, LOCAL)

    assert with_caller_credentials is None
    assert without_credentials == DynamoDBCredentials("local", "local")
    assert scan_credentials(aws_settings, LOCAL) is None
    assert "AWS_ACCESS_KEY_ID" not in os.environ


def test_the_command_without_a_table_to_read_exits_unreadable() -> None:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _group() -> None:
        """Makes `audit` a named subcommand, as in the edgemeter CLI."""

    result = CliRunner().invoke(app, ["audit"])

    assert result.exit_code == EXIT_UNREADABLE
    assert "--endpoint" in result.output
