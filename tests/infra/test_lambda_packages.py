"""Every Lambda's asset ships every edgemeter module its handler imports.

A package the handler reaches (directly or through another module, lazily or not) but the
asset leaves out fails only in AWS, at the first cold start: ImportError. The import graph
(grimp, import-linter's engine) finds every module upstream of each handler; each must lie
in one of the asset's package directories (stacks/lambda_packages.py) or be a parent
package whose ``__init__.py`` the bundler adds.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import grimp
import pytest

from stacks.constructs.account_events import ACCOUNT_EVENTS_HANDLER
from stacks.constructs.credits_api import CREDITS_HANDLER
from stacks.constructs.ledger import LEDGER_WRITER_HANDLER
from stacks.constructs.object_catalog import S3_EVENTS_HANDLER
from stacks.lambda_packages import (
    ACCOUNT_EVENTS_PACKAGE_DIRS,
    CREDITS_PACKAGE_DIRS,
    EDGE_AUTH_PACKAGE_DIRS,
    LEDGER_WRITER_PACKAGE_DIRS,
    ORIGIN_SIGNER_PACKAGE_DIRS,
)
from stacks.main_stack import ORIGIN_RESPONSE_HANDLER, ORIGIN_SIGNER_HANDLER, VIEWER_REQUEST_HANDLER
from tests.infra.conftest import SynthesizedApp

LAMBDAS = {
    "credits": (CREDITS_HANDLER, CREDITS_PACKAGE_DIRS),
    "catalog events": (S3_EVENTS_HANDLER, CREDITS_PACKAGE_DIRS),
    "viewer-request": (VIEWER_REQUEST_HANDLER, EDGE_AUTH_PACKAGE_DIRS),
    "origin-response": (ORIGIN_RESPONSE_HANDLER, EDGE_AUTH_PACKAGE_DIRS),
    "origin signer": (ORIGIN_SIGNER_HANDLER, ORIGIN_SIGNER_PACKAGE_DIRS),
    "account events": (ACCOUNT_EVENTS_HANDLER, ACCOUNT_EVENTS_PACKAGE_DIRS),
    "ledger writer": (LEDGER_WRITER_HANDLER, LEDGER_WRITER_PACKAGE_DIRS),
}


@pytest.fixture(scope="module")
def functions_graph() -> grimp.ImportGraph:
    return grimp.build_graph("functions", cache_dir=None)


def handler_module(handler: str) -> str:
    """``functions.credits.handler.lambda_handler`` -> ``functions.credits.handler``."""
    return handler.rsplit(".", 1)[0]


def shipped(module: str, package_dirs: tuple[str, ...]) -> bool:
    path = PurePosixPath(*module.split("."))
    in_a_package = any(path == PurePosixPath(d) or PurePosixPath(d) in path.parents for d in package_dirs)
    # A parent package (functions, functions.credits for functions/credits/data) comes along
    # as its __init__.py, which is all an import of the package itself needs.
    parent_init = any(path in PurePosixPath(d).parents for d in package_dirs)
    return in_a_package or parent_init


@pytest.mark.parametrize("lambda_name", sorted(LAMBDAS))
def test_the_asset_ships_every_module_the_handler_imports(
    lambda_name: str, functions_graph: grimp.ImportGraph
) -> None:
    handler, package_dirs = LAMBDAS[lambda_name]
    module = handler_module(handler)
    imported = functions_graph.find_upstream_modules(module) | {module}

    missing = sorted(name for name in imported if not shipped(name, package_dirs))

    assert missing == [], f"{lambda_name} imports modules its asset {package_dirs} leaves out"


def test_a_module_outside_the_package_dirs_is_reported() -> None:
    assert shipped("functions.shared.errors", ("functions/shared",))
    assert shipped("functions", ("functions/shared",))  # a parent __init__.py
    assert not shipped("functions.credits.settings", ("functions/credits/data",))


def test_every_edgemeter_handler_the_app_deploys_is_checked_here(s3_app: SynthesizedApp) -> None:
    templates = [s3_app.main, s3_app.edge]
    deployed = {
        function["Properties"]["Handler"]
        for template in templates
        for function in template.find_resources("AWS::Lambda::Function").values()
        if function["Properties"].get("Handler", "").startswith("functions.")
    }

    assert deployed <= {handler for handler, _ in LAMBDAS.values()}
    assert CREDITS_HANDLER in deployed
