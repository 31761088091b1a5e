"""Synthesize the app once per session and origin kind; tests read the templates with aws_cdk.assertions.

The credits asset here is bundled without its pip dependencies (a lighter path that
needs no network); ``make synth-check`` runs the real bundling through the CDK CLI.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from stacks.app_composition import EdgemeterStacks, compose_edgemeter
from stacks.bundling import PROJECT_ROOT, PythonAssetSpec, python_lambda_code
from stacks.settings import EdgemeterSettings, load_settings

CUSTOM_ORIGIN_CONTEXT: dict[str, Any] = {
    "edgemeter:originKind": "custom",
    "edgemeter:customOrigin": {
        "endpoint": "https://objects.example.com:9000",
        "bucket": "edgemeter-objects",
        "signingRegion": "us-east-1",
        "credentialsSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:edgemeter/minio",
    },
}


def cdk_json_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    return context


def source_only_code(spec: PythonAssetSpec) -> lambda_.Code:
    """The asset without third-party wheels: same layout and bundler, no pip (no network)."""
    return python_lambda_code(dataclasses.replace(spec, requirements_file=None))


@dataclasses.dataclass(frozen=True)
class SynthesizedApp:
    settings: EdgemeterSettings
    stacks: EdgemeterStacks
    main: Template
    edge: Template


def synthesize(overrides: dict[str, Any], outdir: Path) -> SynthesizedApp:
    app = App(context=cdk_json_context() | overrides, outdir=str(outdir))
    settings = load_settings(app.node)
    stacks = compose_edgemeter(app, settings, lambda_code=source_only_code)
    # from_stack synthesizes the app, which runs cdk-nag: an unsuppressed finding fails here.
    return SynthesizedApp(
        settings=settings,
        stacks=stacks,
        main=Template.from_stack(stacks.main),
        edge=Template.from_stack(stacks.edge),
    )


@pytest.fixture(scope="session")
def s3_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    return synthesize({}, tmp_path_factory.mktemp("cdk-s3"))


@pytest.fixture(scope="session")
def custom_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    return synthesize(CUSTOM_ORIGIN_CONTEXT, tmp_path_factory.mktemp("cdk-custom"))
