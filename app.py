#!/usr/bin/env python3
"""CDK entry point: ``cdk synth`` / ``cdk deploy --all`` (settings: the ``edgemeter:*`` keys of cdk.json)."""

from __future__ import annotations

import sys

from aws_cdk import App

from stacks.app_composition import compose_edgemeter
from stacks.settings import SettingsError, load_settings


def main() -> int:
    app = App()
    try:
        settings = load_settings(app.node)
    except SettingsError as error:
        print(error, file=sys.stderr)  # the CDK CLI shows the app's stderr
        return 1
    compose_edgemeter(app, settings)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
