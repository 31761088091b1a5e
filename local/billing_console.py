"""The billing console on the local credits server: /console, its config and its staff principals.

The console is served from the same origin as the local API (http://127.0.0.1:8081), so it
needs no CORS, and every response carries the same strict Content-Security-Policy that the
deployed CloudFront response headers policy sets.

Locally there is no Cognito: ``/console/config.json`` hands the page the local, fake
credentials of one of two principals (they sign only requests to this local API):

- ``admin`` (the default): the local credentials every local tool uses; shown as BillingAdmin.
- ``reader`` (``/console/?principal=reader``): a second local credential that this server maps
  to a read-only principal and refuses whatever the BillingReader policy does not allow,
  the way API Gateway refuses a call the caller's IAM policy does not allow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from console.staff_access import ADMIN_GROUP, READER_GROUP, group_may_call
from functions.shared.errors import ErrorCode, error_json
from local.config import LocalConfig
from local.dynamodb_local import PROJECT_ROOT
from local.sigv4_verify import SigV4Verifier, VerifiedCaller

CONSOLE_PATH = "/console"
CONSOLE_DIST = PROJECT_ROOT / "console" / "dist"
# A public placeholder like the local credentials themselves; it signs nothing outside this machine.
LOCAL_READER_ACCESS_KEY_ID = "local-billing-reader"
LOCAL_READER_SECRET_ACCESS_KEY = "local-billing-reader"  # noqa: S105
_ASSET_NAME = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9]+)+$")
_CREDENTIAL_ACCESS_KEY = re.compile(r"Credential=([^/\s,]+)/")
_MEDIA_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".json": "application/json",
    ".txt": "text/plain",
}


def content_security_policy(connect_sources: Sequence[str]) -> str:
    """No inline script or style, no eval, nothing from another origin but the APIs it calls."""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {' '.join(connect_sources)}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ]
    )


SECURITY_HEADERS = {
    "Content-Security-Policy": content_security_policy(["'self'"]),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class StaffCaller:
    """A verified local caller and the staff group it acts as (None: the unrestricted local principal)."""

    caller: VerifiedCaller
    group: str | None

    def may_call(self, method: str, path: str) -> bool:
        return self.group is None or group_may_call(self.group, method, path)


class LocalStaffVerifier:
    """Verifies a signature with the credential its Authorization header names."""

    def __init__(self, config: LocalConfig) -> None:
        self._admin = SigV4Verifier(
            access_key_id=config.credentials.access_key_id,
            secret_access_key=config.credentials.secret_access_key,
        )
        self._reader = SigV4Verifier(
            access_key_id=LOCAL_READER_ACCESS_KEY_ID, secret_access_key=LOCAL_READER_SECRET_ACCESS_KEY
        )

    def verify(
        self, *, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> StaffCaller:
        """Raise SignatureError unless validly signed by one of the two local credentials."""
        authorization = next((value for name, value in headers if name.lower() == "authorization"), "")
        named = _CREDENTIAL_ACCESS_KEY.search(authorization)
        if named is not None and named[1] == LOCAL_READER_ACCESS_KEY_ID:
            caller = self._reader.verify(method=method, url=url, headers=headers, body=body)
            return StaffCaller(caller, READER_GROUP)
        return StaffCaller(self._admin.verify(method=method, url=url, headers=headers, body=body), None)


def access_denied(caller: StaffCaller, method: str, path: str) -> web.Response:
    """API Gateway's answer to a call the caller's IAM policy does not allow (403)."""
    message = (
        f"User: {caller.caller.access_key_id} ({caller.group}) is not authorized to perform: "
        f"execute-api:Invoke on resource: {method} {path}"
    )
    return web.Response(
        status=403, text=error_json("access_denied", message), content_type="application/json"
    )


def local_console_config(config: LocalConfig, principal: str) -> dict[str, object]:
    """What the console reads from config.json locally: the API (same origin) and whom to sign as."""
    if principal == "reader":
        name, group = "local reader", READER_GROUP
        access_key_id, secret = LOCAL_READER_ACCESS_KEY_ID, LOCAL_READER_SECRET_ACCESS_KEY
    else:
        name, group = "local admin", ADMIN_GROUP
        access_key_id, secret = config.credentials.access_key_id, config.credentials.secret_access_key
    return {
        "mode": "local",
        "apiUrl": config.credits_url,
        "region": config.region,
        "principal": name,
        "groups": [group],
        "credentials": {"accessKeyId": access_key_id, "secretAccessKey": secret},
    }


class ConsoleSite:
    """Serves console/dist (built by `make console`) under /console with the security headers."""

    def __init__(self, config: LocalConfig, dist_dir: Path = CONSOLE_DIST) -> None:
        self.config = config
        self.dist_dir = dist_dir

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(CONSOLE_PATH, self.redirect_to_index)
        app.router.add_get(f"{CONSOLE_PATH}/", self.index)
        app.router.add_get(f"{CONSOLE_PATH}/config.json", self.config_document)
        app.router.add_get(CONSOLE_PATH + "/{name}", self.asset)

    async def redirect_to_index(self, request: web.Request) -> web.StreamResponse:
        # Relative asset URLs (app.js, config.json) resolve under /console/ only with the slash.
        location = f"{CONSOLE_PATH}/" + (f"?{request.query_string}" if request.query_string else "")
        raise web.HTTPFound(location, headers=SECURITY_HEADERS)

    async def index(self, request: web.Request) -> web.StreamResponse:
        return self._file("index.html")

    async def asset(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if not _ASSET_NAME.match(name):
            return self._not_found()
        return self._file(name)

    async def config_document(self, request: web.Request) -> web.Response:
        document = local_console_config(self.config, request.query.get("principal", "admin"))
        return web.Response(
            text=json.dumps(document),
            content_type="application/json",
            headers={**SECURITY_HEADERS, "Cache-Control": "no-store"},
        )

    def _file(self, name: str) -> web.StreamResponse:
        path = self.dist_dir / name
        media_type = _MEDIA_TYPES.get(path.suffix)
        if not self.dist_dir.is_dir():
            return web.Response(
                status=503,
                text=error_json(
                    ErrorCode.SERVICE_UNAVAILABLE, "the console is not built: run `make console`"
                ),
                content_type="application/json",
                headers=SECURITY_HEADERS,
            )
        if media_type is None or not path.is_file():
            return self._not_found()
        return web.Response(
            body=path.read_bytes(),
            content_type=media_type,
            charset="utf-8",
            headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
        )

    @staticmethod
    def _not_found() -> web.Response:
        return web.Response(
            status=404,
            text=error_json(ErrorCode.NOT_FOUND, "no such console file"),
            content_type="application/json",
            headers=SECURITY_HEADERS,
        )
