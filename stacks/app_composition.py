"""Build the whole edgemeter app (both stacks, cdk-nag) from validated settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

from aws_cdk import App, Tags

from stacks.bundling import python_lambda_code
from stacks.edge_stack import EdgemeterEdgeStack
from stacks.main_stack import CodeFactory, EdgemeterStack
from stacks.nag import enable_aws_solutions_checks
from stacks.settings import EdgemeterSettings


@dataclass(frozen=True)
class EdgemeterStacks:
    main: EdgemeterStack
    edge: EdgemeterEdgeStack


def compose_edgemeter(
    app: App, settings: EdgemeterSettings, *, lambda_code: CodeFactory = python_lambda_code
) -> EdgemeterStacks:
    """Add both stacks to ``app`` and run the AwsSolutions checks on them at synth.

    The account comes from the CLI's credentials when there are any (``CDK_DEFAULT_ACCOUNT``);
    without credentials the stacks are account-agnostic, which synthesizes the same templates.
    """
    account = os.environ.get("CDK_DEFAULT_ACCOUNT")
    edge = EdgemeterEdgeStack(app, "EdgemeterEdge", settings=settings, account=account)
    main = EdgemeterStack(
        app, "Edgemeter", settings=settings, edge_stack=edge, account=account, lambda_code=lambda_code
    )
    for stack in (main, edge):
        Tags.of(stack).add("application", "edgemeter")
    enable_aws_solutions_checks(app)
    return EdgemeterStacks(main=main, edge=edge)
