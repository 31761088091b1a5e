"""Lambda@Edge origin-request handler: SigV4-sign requests to an S3-compatible custom origin.

CloudFront's origin access control signs only for AWS S3. For an S3-compatible
store (MinIO, Ceph, SeaweedFS) behind a custom origin, this function signs each
origin request with credentials kept in AWS Secrets Manager (a JSON secret
``{"accessKeyId": "...", "secretAccessKey": "..."}``, optionally
``"sessionToken"``), fetched with botocore and cached per container.

What is signed is exactly what CloudFront sends: the function first rewrites
the URI and query string into SigV4's canonical percent-encoding (the same
object and parameters, spelled one way), then signs ``host``, ``x-amz-date``,
``x-amz-content-sha256`` (``UNSIGNED-PAYLOAD`` for bodies, which the function
never sees whole), the session token and every ``x-amz-*`` header the viewer
request carries (S3 requires those to be signed).

Requests for other origins pass through untouched. If no credentials can be
had, the viewer gets a 502 rather than an unsigned request the store would
refuse anyway. The handler never raises.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from functions.origin_signer.settings import SignerSettings, SignerSettingsError, load_signer_settings
from functions.shared.cloudfront import cloudfront_record, generated_response, header_entry, header_values
from functions.shared.cloudfront_rules import uri_fits
from functions.shared.errors import ErrorCode, error_json
from functions.shared.http_methods import UPLOAD_METHODS
from functions.shared.json_log import log_json
from functions.shared.sigv4 import (
    SIGNING_HEADER_NAMES,
    canonical_path,
    canonical_querystring,
    sign_request,
    static_credentials,
)

if TYPE_CHECKING:
    from botocore.credentials import ReadOnlyCredentials

logger = logging.getLogger("edgemeter.origin_signer")

_DEFAULT_PORTS = {"http": 80, "https": 443}
CLOUDFRONT_REQUEST_ID_HEADER = "x-amz-cf-id"
_CLOUDFRONT_REQUEST_ID = re.compile(r"^[A-Za-z0-9_=+/.:-]{1,128}$")
# Fetched with a short timeout: a viewer is waiting on this origin request.
_SECRETS_MANAGER_TIMEOUT_SECONDS = 2

SecretFetcher = Callable[[str, str], str]
Clock = Callable[[], float]


class OriginCredentialsError(Exception):
    """The store's credentials could not be fetched or parsed."""


@dataclass(slots=True)
class _CachedCredentials:
    credentials: ReadOnlyCredentials
    fetched_at: float


@dataclass(slots=True)
class SignerRuntime:
    settings: SignerSettings
    fetch_secret: SecretFetcher
    clock: Clock
    cached: _CachedCredentials | None = None

    def credentials(self) -> ReadOnlyCredentials:
        """Cached credentials, refreshed after the TTL; a failed refresh keeps the last good ones."""
        now = self.clock()
        cached = self.cached
        if cached is not None and now - cached.fetched_at < self.settings.credentials_ttl_seconds:
            return cached.credentials
        try:
            secret = self.fetch_secret(
                self.settings.credentials_secret_arn, self.settings.credentials_secret_region
            )
            fresh = credentials_from_secret(secret)
        except Exception as exc:  # noqa: BLE001 - any fetch or parse failure falls back or is reported
            if cached is not None:
                # The store's keys rarely change; a Secrets Manager blip must not take downloads down.
                _log(logging.WARNING, "origin_credentials_refresh_failed", error=type(exc).__name__)
                return cached.credentials
            raise OriginCredentialsError(type(exc).__name__) from None
        self.cached = _CachedCredentials(credentials=fresh, fetched_at=now)
        return fresh


_current_runtime: SignerRuntime | None = None


def configure(
    settings: SignerSettings,
    *,
    fetch_secret: SecretFetcher | None = None,
    clock: Clock = time.monotonic,
) -> SignerRuntime:
    """Install the signer's per-container state (local runtime, tests); the default fetches from AWS."""
    global _current_runtime  # noqa: PLW0603 - per-container state is module state by design
    _current_runtime = SignerRuntime(
        settings=settings, fetch_secret=fetch_secret or fetch_secret_from_secrets_manager, clock=clock
    )
    return _current_runtime


def reset_runtime() -> None:
    global _current_runtime  # noqa: PLW0603 - see configure
    _current_runtime = None


def get_runtime() -> SignerRuntime:
    if _current_runtime is None:
        return configure(load_signer_settings())
    return _current_runtime


def fetch_secret_from_secrets_manager(secret_arn: str, region: str) -> str:
    """GetSecretValue through botocore (part of the Lambda runtime); returns the SecretString."""
    # Imported on first use: creating a client is the expensive part, once per container.
    import botocore.config  # noqa: PLC0415
    import botocore.session  # noqa: PLC0415

    client = botocore.session.get_session().create_client(
        "secretsmanager",
        region_name=region,
        config=botocore.config.Config(
            connect_timeout=_SECRETS_MANAGER_TIMEOUT_SECONDS,
            read_timeout=_SECRETS_MANAGER_TIMEOUT_SECONDS,
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    )
    # botocore builds client methods at runtime from the service model; the stubs cannot see them.
    reply = client.get_secret_value(SecretId=secret_arn)  # type: ignore[attr-defined]
    secret_string = reply.get("SecretString")
    if not isinstance(secret_string, str):
        raise OriginCredentialsError("secret has no SecretString")
    return secret_string


def credentials_from_secret(secret_string: str) -> ReadOnlyCredentials:
    document = json.loads(secret_string)
    if not isinstance(document, dict):
        raise OriginCredentialsError("secret is not a JSON object")
    access_key = document.get("accessKeyId")
    secret_key = document.get("secretAccessKey")
    session_token = document.get("sessionToken")
    if not isinstance(access_key, str) or not access_key or not isinstance(secret_key, str) or not secret_key:
        raise OriginCredentialsError("secret needs accessKeyId and secretAccessKey")
    if session_token is not None and not isinstance(session_token, str):
        raise OriginCredentialsError("sessionToken must be a string")
    return static_credentials(access_key, secret_key, session_token or None)


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda entry point: the origin request, signed when it goes to a custom origin."""
    request = _request_of(event)
    if request is None:
        _log(logging.ERROR, "origin_request_unreadable")
        return _error_response(400, ErrorCode.BAD_REQUEST, "The origin request could not be read.")
    try:
        return _sign_in_place(request, _cloudfront_request_id(event))
    except SignerSettingsError as exc:
        _log(logging.CRITICAL, "origin_signer_settings_invalid", error=str(exc))
    except OriginCredentialsError as exc:
        _log(logging.ERROR, "origin_credentials_unavailable", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - never raise to CloudFront; never send an unsigned request
        _log(logging.ERROR, "origin_request_failed", error=type(exc).__name__)
    return _error_response(
        502, ErrorCode.SERVICE_UNAVAILABLE, "The origin could not be reached; retry later."
    )


class _CustomOrigin(NamedTuple):
    """The parts of ``origin.custom`` the signature depends on."""

    protocol: str
    domain_name: str
    port: int
    path: str


def _sign_in_place(request: dict[str, Any], cloudfront_request_id: str | None) -> dict[str, Any]:
    origin = request.get("origin")
    custom_origin = origin.get("custom") if isinstance(origin, dict) else None
    if not isinstance(custom_origin, dict):
        # S3 origins are signed by CloudFront's origin access control.
        return request
    target = _custom_origin(custom_origin)
    method, uri, querystring = _request_line(request)
    canonical_uri = canonical_path(uri)
    canonical_query = canonical_querystring(querystring)
    if not uri_fits(canonical_uri, canonical_query):
        # CloudFront would refuse the signed request with a 502; viewer-request refuses these
        # before charging, so this only guards requests that reached us some other way.
        return _error_response(414, ErrorCode.URI_TOO_LONG, "The URI is too long to forward.")
    headers = request.get("headers")
    if not isinstance(headers, dict):
        headers = {}
        request["headers"] = headers
    request["uri"] = canonical_uri
    request["querystring"] = canonical_query
    runtime = get_runtime()
    signed_headers = sign_request(
        method,
        _origin_url(target, canonical_uri, canonical_query),
        _extra_signed_headers(headers, cloudfront_request_id),
        b"",
        runtime.credentials(),
        runtime.settings.signing_region,
        runtime.settings.service,
        sign_payload=method not in UPLOAD_METHODS,
    )
    _replace_signing_headers(headers, signed_headers)
    return request


def _custom_origin(custom_origin: dict[str, Any]) -> _CustomOrigin:
    protocol = custom_origin.get("protocol")
    domain_name = custom_origin.get("domainName")
    origin_path = custom_origin.get("path", "")
    if (
        not isinstance(protocol, str)
        or protocol not in _DEFAULT_PORTS
        or not isinstance(domain_name, str)
        or not domain_name
        or not isinstance(origin_path, str)
    ):
        raise ValueError("origin request is missing the custom origin's protocol, domain or path")
    port = custom_origin.get("port", _DEFAULT_PORTS[protocol])
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError("origin port is not a port number")
    return _CustomOrigin(protocol=protocol, domain_name=domain_name, port=port, path=origin_path)


def _request_line(request: dict[str, Any]) -> tuple[str, str, str]:
    """Method (uppercase), URI and query string, checked."""
    method = request.get("method")
    uri = request.get("uri")
    querystring = request.get("querystring", "")
    if (
        not isinstance(method, str)
        or not method.isalpha()
        or not isinstance(uri, str)
        or not uri.startswith("/")
        or not isinstance(querystring, str)
    ):
        raise ValueError("origin request is missing method, uri or querystring")
    return method.upper(), uri, querystring


def _origin_url(target: _CustomOrigin, canonical_uri: str, canonical_query: str) -> str:
    default_port = target.port == _DEFAULT_PORTS[target.protocol]
    host = target.domain_name if default_port else f"{target.domain_name}:{target.port}"
    origin_path = canonical_path(target.path) if target.path else ""
    url = f"{target.protocol}://{host}{origin_path}{canonical_uri}"
    return f"{url}?{canonical_query}" if canonical_query else url


def _extra_signed_headers(headers: dict[str, Any], cloudfront_request_id: str | None) -> dict[str, str]:
    """Every ``x-amz-*`` header present (S3 requires them signed), plus CloudFront's request id."""
    extra_signed: dict[str, str] = {}
    for name in headers:
        if isinstance(name, str) and name.startswith("x-amz-") and name not in SIGNING_HEADER_NAMES:
            value = ",".join(header_values(headers, name))
            if value:
                extra_signed[name] = value
    if cloudfront_request_id is not None:
        # CloudFront adds X-Amz-Cf-Id (= config.requestId) to the origin request after this
        # function runs, and functions may not set X-Amz-Cf-* themselves. Strict S3-compatible
        # stores refuse an unsigned x-amz-* header, so sign the value CloudFront will send.
        extra_signed[CLOUDFRONT_REQUEST_ID_HEADER] = cloudfront_request_id
    return extra_signed


def _replace_signing_headers(headers: dict[str, Any], signed_headers: dict[str, str]) -> None:
    for name in SIGNING_HEADER_NAMES:
        headers.pop(name, None)
    for name, value in signed_headers.items():
        if name == CLOUDFRONT_REQUEST_ID_HEADER:
            continue  # CloudFront sets it; a function that does is refused (disallowed header)
        headers[name] = header_entry(name, value)


def _cloudfront_request_id(event: Any) -> str | None:
    """``config.requestId`` of the event: the value CloudFront sends as X-Amz-Cf-Id."""
    record = cloudfront_record(event)
    config = record.get("config") if record is not None else None
    request_id = config.get("requestId") if isinstance(config, dict) else None
    if isinstance(request_id, str) and _CLOUDFRONT_REQUEST_ID.fullmatch(request_id):
        return request_id
    return None


def _request_of(event: Any) -> dict[str, Any] | None:
    record = cloudfront_record(event)
    request = record.get("request") if record is not None else None
    return request if isinstance(request, dict) else None


def _error_response(status: int, code: ErrorCode, message: str) -> dict[str, Any]:
    return generated_response(status, error_json(code, message))


def _log(level: int, event_name: str, **fields: Any) -> None:
    log_json(logger, level, event_name, **fields)
