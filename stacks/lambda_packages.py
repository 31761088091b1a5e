"""What goes into each Lambda asset: its repository-relative package directories, spelled once.

Standard library only, so the edge package tests (tests/unit/edge_auth/test_package.py) read
the same lists as the CDK app without importing the CDK. The bundler adds each directory's
parent ``__init__.py`` files (``functions/__init__.py``) by itself (stacks/bundling.py).
tests/infra/test_lambda_packages.py checks, on the import graph, that each list holds every
edgemeter module its handler imports.
"""

from __future__ import annotations

# viewer-request and origin-response: standard library (+ the runtime's botocore) only.
EDGE_AUTH_PACKAGE_DIRS = ("functions/edge_auth", "functions/shared")
# The origin-request signer for S3-compatible origins: the same shared code, its own handler.
ORIGIN_SIGNER_PACKAGE_DIRS = ("functions/origin_signer", "functions/shared")
# The credits Lambda, and the catalog event Lambda (same packages, same dependencies).
CREDITS_PACKAGE_DIRS = (
    "functions/credits",
    "functions/catalog",
    "functions/observability",
    "functions/shared",
    "functions/tables",
)
# The account events stream consumer: its own package and the credits models it reads stream
# images with (which import the credits package's errors and seller records, and the shared code).
ACCOUNT_EVENTS_PACKAGE_DIRS = (
    "functions/account_events",
    "functions/credits",
    "functions/shared",
    "functions/tables",
)
# The ledger writer (issue 14): its own package and the credits package's store and models it
# writes ledger entries and compensations with (same dependencies as the credits Lambda).
LEDGER_WRITER_PACKAGE_DIRS = (
    "functions/ledger_writer",
    "functions/credits",
    "functions/catalog",
    "functions/observability",
    "functions/shared",
    "functions/tables",
)
