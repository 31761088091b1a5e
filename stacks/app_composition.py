"""Build the whole edgemeter app (both stacks, cdk-nag) from validated settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

from aws_cdk import App, Tags

from stacks.bundling import python_lambda_code
from stacks.constructs.billing_console import BillingConsoleStack, BillingStaffPolicies
from stacks.constructs.credits_api import API_STAGE_NAME
from stacks.constructs.ledger import ledger_writer_asset_spec
from stacks.constructs.regional_credits import RegionalCreditsStack
from stacks.constructs.regional_wiring import wire_regional_credits
from stacks.edge_stack import EdgemeterEdgeStack
from stacks.main_stack import (
    LAMBDA_CPUS,
    CodeFactory,
    EdgemeterStack,
    credits_asset_spec,
    edge_role_name,
    lambda_architecture,
)
from stacks.nag import enable_aws_solutions_checks
from stacks.settings import EdgemeterSettings


@dataclass(frozen=True)
class EdgemeterStacks:
    main: EdgemeterStack
    edge: EdgemeterEdgeStack
    # The billing console (issue 17): its own stack, next to the main one.
    console: BillingConsoleStack
    # One per credits region of ``edgemeter:regions`` (issue 15); empty with one region.
    regional: tuple[RegionalCreditsStack, ...] = ()


def compose_edgemeter(
    app: App, settings: EdgemeterSettings, *, lambda_code: CodeFactory = python_lambda_code
) -> EdgemeterStacks:
    """Add both stacks to ``app`` and run the AwsSolutions checks on them at synth.

    The account comes from the CLI's credentials when there are any (``CDK_DEFAULT_ACCOUNT``);
    without credentials the stacks are account-agnostic, which synthesizes the same templates.
    """
    account = os.environ.get("CDK_DEFAULT_ACCOUNT")
    edge = EdgemeterEdgeStack(app, "EdgemeterEdge", settings=settings, account=account)
    regional = _regional_credits_stacks(app, settings, edge, account, lambda_code)
    main = EdgemeterStack(
        app,
        "Edgemeter",
        settings=settings,
        edge_stack=edge,
        account=account,
        lambda_code=lambda_code,
        regional_credits_api_urls={stack.region: stack.url for stack in regional},
    )
    # Regional credits (issue 15): cross-region grants, each function's topology, home's upkeep.
    wire_regional_credits(
        settings,
        home_stack=main,
        home_function=main.credits_api.function,
        home_credits_table=main.tables.credits_table,
        regional=regional,
    )
    console = _billing_console_stack(app, settings, main, account)
    for stack in (main, edge, console, *regional):
        Tags.of(stack).add("application", "edgemeter")
    enable_aws_solutions_checks(app)
    return EdgemeterStacks(main=main, edge=edge, console=console, regional=regional)


def _billing_console_stack(
    app: App, settings: EdgemeterSettings, main: EdgemeterStack, account: str | None
) -> BillingConsoleStack:
    """The console's stack; the staff groups' invoke policies go next to the API in the main stack."""
    rest_api = main.credits_api.rest_api
    staff = BillingStaffPolicies(main, "BillingStaff", rest_api=rest_api, stage_name=API_STAGE_NAME)
    return BillingConsoleStack(
        app,
        "EdgemeterBillingConsole",
        settings=settings,
        rest_api=rest_api,
        stage_name=API_STAGE_NAME,
        staff_policies=staff.policies,
        account=account,
    )


def _regional_credits_stacks(
    app: App,
    settings: EdgemeterSettings,
    edge: EdgemeterEdgeStack,
    account: str | None,
    lambda_code: CodeFactory,
) -> tuple[RegionalCreditsStack, ...]:
    """A credits stack per credits region; each attaches its invoke policy to the edge roles by name."""
    if settings.regions is None:
        return ()
    stacks = []
    for region in settings.regions.credits:
        stack = RegionalCreditsStack(
            app,
            f"EdgemeterCredits-{region}",
            settings=settings,
            region=region,
            account=account,
            # A Code object binds to one stack's assets: each stack gets its own.
            code=lambda_code(credits_asset_spec(settings)),
            architecture=lambda_architecture(settings),
            ledger_writer_code=lambda_code(
                ledger_writer_asset_spec(LAMBDA_CPUS[settings.lambda_architecture])
            ),
            edge_role_names=(
                edge_role_name(settings, "viewer-request"),
                edge_role_name(settings, "origin-response"),
            ),
        )
        # The edge roles its policy attaches to are created by the edge stack.
        stack.add_stack_dependency(edge)
        stacks.append(stack)
    return tuple(stacks)
