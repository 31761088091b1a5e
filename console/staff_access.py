"""Which credits API routes each billing staff group may call: the one home of both policies.

The deployed BillingReader and BillingAdmin roles get execute-api:Invoke on exactly these
routes (stacks/constructs/billing_console.py), and the local credits server refuses the local
reader principal what the reader policy does not allow, so the console's read-only mode is
tested against the same rule that AWS enforces.

A route's path uses IAM's wildcard: ``*`` matches any characters, ``/`` included, as it does
in an execute-api resource ARN.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Final, NamedTuple

READER_GROUP: Final = "BillingReader"
ADMIN_GROUP: Final = "BillingAdmin"


class ApiRoute(NamedTuple):
    method: str
    path: str

    def allows(self, method: str, path: str) -> bool:
        return method.upper() == self.method and fnmatchcase(path, self.path)


# Reading accounts, keys (without the key itself, which is never stored), the ledger and usage.
READER_ROUTES: Final[tuple[ApiRoute, ...]] = (
    ApiRoute("GET", "/v1/accounts"),
    ApiRoute("GET", "/v1/accounts/*"),
)

# The reader's routes plus what the console changes. Not account creation, signed links or the
# edge's routes (/v1/authorize, /v1/refunds): the console does none of those.
ADMIN_ROUTES: Final[tuple[ApiRoute, ...]] = (
    *READER_ROUTES,
    ApiRoute("PATCH", "/v1/accounts/*"),
    ApiRoute("POST", "/v1/accounts/*/grants"),
    ApiRoute("POST", "/v1/accounts/*/keys"),
    ApiRoute("DELETE", "/v1/accounts/*/keys/*"),
    ApiRoute("PUT", "/v1/accounts/*/alerts"),
)

ROUTES_BY_GROUP: Final[dict[str, tuple[ApiRoute, ...]]] = {
    READER_GROUP: READER_ROUTES,
    ADMIN_GROUP: ADMIN_ROUTES,
}


def group_may_call(group: str, method: str, path: str) -> bool:
    return any(route.allows(method, path) for route in ROUTES_BY_GROUP.get(group, ()))
