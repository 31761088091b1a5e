#!/usr/bin/env python3
"""CDK entry point: ``cdk synth`` / ``cdk deploy --all`` (settings: the ``edgemeter:*`` keys of cdk.json).

Also runs as ``python app.py`` (no CDK CLI): it then reads cdk.json's context itself
and writes the cloud assembly to ``cdk.out`` (or ``$CDK_OUTDIR``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from aws_cdk import App

from stacks.app_composition import compose_edgemeter
from stacks.settings import EdgemeterSettingsError, load_settings

CDK_JSON = Path(__file__).resolve().with_name("cdk.json")


def _context_when_run_directly() -> dict[str, Any] | None:
    # The CLI hands the app its context (cdk.json, cdk.context.json, -c) in CDK_CONTEXT_JSON.
    if "CDK_CONTEXT_JSON" in os.environ:
        return None
    context: dict[str, Any] = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]
    return context


def main() -> int:
    run_directly = "CDK_CONTEXT_JSON" not in os.environ
    app = App(
        context=_context_when_run_directly(),
        outdir=os.environ.get("CDK_OUTDIR", "cdk.out") if run_directly else None,
    )
    try:
        settings = load_settings(app.node)
    except EdgemeterSettingsError as error:
        print(error, file=sys.stderr)  # the CDK CLI shows the app's stderr
        return 1
    compose_edgemeter(app, settings)
    assembly = app.synth()
    if run_directly:
        print(f"cloud assembly written to {assembly.directory}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
