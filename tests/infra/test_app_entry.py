"""app.py: the CLI's context wins; run directly it reads cdk.json; bad settings stop it with the message."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import app
from stacks.bundling import PROJECT_ROOT


def test_direct_run_reads_cdk_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDK_CONTEXT_JSON", raising=False)
    context = app._context_when_run_directly()
    assert context is not None
    assert context["edgemeter:originKind"] == "s3"


def test_cli_context_is_left_to_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDK_CONTEXT_JSON", "{}")
    assert app._context_when_run_directly() is None


def test_invalid_settings_exit_with_the_message() -> None:
    # What the CLI hands the app for `cdk synth -c edgemeter:originKind=custom` without customOrigin
    # (a subprocess: jsii's node process reads CDK_CONTEXT_JSON from the environment it starts with).
    context = {"edgemeter:region": "eu-west-1", "edgemeter:originKind": "custom"}
    completed = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "app.py")],
        env=os.environ | {"CDK_CONTEXT_JSON": json.dumps(context)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 1
    assert "originKind 'custom' needs edgemeter:customOrigin" in completed.stderr
