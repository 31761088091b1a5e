"""cli/common.py: the exit codes, error reporting and region fallback both CLI modules use."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from cli.catalog import catalog_app
from cli.common import EXIT_UNREACHABLE, EXIT_USAGE, FALLBACK_AWS_REGION, aws_region, fail
from cli.main import app


@pytest.fixture
def no_region_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


@pytest.mark.usefixtures("no_region_in_environment")
def test_region_option_wins_then_aws_region_then_aws_default_region(monkeypatch: pytest.MonkeyPatch):
    assert aws_region(None) == FALLBACK_AWS_REGION == "us-east-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert aws_region(None) == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert aws_region(None) == "ap-south-1"
    assert aws_region("sa-east-1") == "sa-east-1"


def test_fail_prints_the_error_on_stderr_and_exits_with_its_code():
    failing = typer.Typer()

    @failing.command()
    def unreachable() -> None:
        try:
            raise ConnectionError("refused")
        except ConnectionError as error:
            fail(EXIT_UNREACHABLE, f"could not connect: {error}")

    result = CliRunner().invoke(failing, [])
    assert result.exit_code == EXIT_UNREACHABLE
    assert "error: could not connect: refused" in result.stderr
    assert result.stdout == ""


def test_credits_cli_reports_bad_usage_through_the_shared_exit_code():
    result = CliRunner().invoke(app, ["--api", "ftp://example.invalid", "balance", "acct_1"])
    assert result.exit_code == EXIT_USAGE
    assert "--api must be an http(s) URL" in result.stderr


def test_catalog_cli_reports_bad_usage_through_the_shared_exit_code():
    result = CliRunner().invoke(catalog_app, ["sync", "--bucket", "b", "--prefix", "clips/"])
    assert result.exit_code == EXIT_USAGE
    assert "--prefix needs --dry-run" in result.stderr
