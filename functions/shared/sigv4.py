"""SigV4 request signing: the one home for it in edgemeter.

Standard library plus botocore only (botocore ships with the Lambda runtime, so
the Lambda@Edge functions may import this module). Signing is botocore's own
``SigV4Auth``/``S3SigV4Auth`` on an ``AWSRequest``; nothing here computes a
signature by hand.

Users:
- the edge (``functions/edge_auth``) signs ``POST /v1/authorize`` and
  ``POST /v1/refunds`` for API Gateway (service ``execute-api``);
- the CLI signs credits API calls (``execute-api``);
- the origin signer and the local CDN's origin fetch sign S3 requests
  (service ``s3``, as CloudFront origin access control does).

API::

    credentials = load_credentials()          # once per container / process
    headers = sign_request("POST", url, {"content-type": "application/json"},
                           body, credentials, region="us-east-1",
                           service="execute-api")
    # send exactly ``headers`` (names are lowercase) with ``body`` to ``url``

For ``service="s3"`` the returned headers include ``x-amz-content-sha256``; pass
``sign_payload=False`` when the body is not in hand (a streamed upload) to send
``UNSIGNED-PAYLOAD`` instead of the body's digest.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:
    import botocore.config
    import botocore.session
    from botocore.credentials import Credentials, ReadOnlyCredentials

# botocore is imported where it is used, not here: importing it costs ~100 ms of a Lambda@Edge
# cold start, and the edge's paths that never sign (no key, bad request, negative-cache hits)
# should not pay it. bench/edge_package.py reports both the import and the first signature.

__all__ = [
    "SIGNING_HEADER_NAMES",
    "MissingCredentialsError",
    "canonical_path",
    "canonical_querystring",
    "load_credentials",
    "sign_request",
    "static_credentials",
]

# Headers ``sign_request`` may add or replace; callers sending a request drop any
# stale copies of these before merging.
SIGNING_HEADER_NAMES = frozenset(
    {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "host"}
)

# S3 (and S3-compatible stores) sign paths verbatim and carry the payload digest
# in a header, which is botocore's S3 signer; every other service uses plain SigV4.
_S3_SERVICE_NAME = "s3"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# SigV4 leaves these unreserved characters unencoded; everything else is %XX.
_SIGV4_UNRESERVED = "-_.~"


class MissingCredentialsError(RuntimeError):
    """No AWS credentials could be found (environment, profile, container or instance role)."""


def static_credentials(access_key: str, secret_key: str, token: str | None = None) -> ReadOnlyCredentials:
    """Credentials from known values (a secret, a test fixture)."""
    from botocore.credentials import ReadOnlyCredentials  # noqa: PLC0415 - see the module's imports

    return ReadOnlyCredentials(access_key, secret_key, token)


def load_credentials(session: botocore.session.Session | None = None) -> ReadOnlyCredentials:
    """A frozen snapshot of the botocore session's credentials.

    botocore's default chain reads the environment first, which is where
    Lambda (including Lambda@Edge) puts the execution role's temporary
    credentials. Call it once per container and again when a signature is
    rejected as expired; refreshable credentials refresh inside
    ``get_frozen_credentials``.

    Without ``session``, the environment is read first by botocore's own
    ``EnvProvider`` (the default chain's first source, so the same answer), and
    the default session's whole chain only when it has nothing: building a
    session costs a Lambda's first keyed request about 25 ms more.
    """
    resolved: Credentials | None
    if session is None:
        from botocore.credentials import EnvProvider  # noqa: PLC0415 - see the module's imports

        resolved = EnvProvider().load()
        if resolved is None:
            import botocore.session  # noqa: PLC0415

            resolved = botocore.session.get_session().get_credentials()
    else:
        resolved = session.get_credentials()
    if resolved is None:
        raise MissingCredentialsError("no AWS credentials found for SigV4 signing")
    frozen = resolved.get_frozen_credentials()
    if not frozen.access_key or not frozen.secret_key:
        raise MissingCredentialsError("AWS credentials are incomplete (access key or secret key missing)")
    return frozen


def sign_request(  # noqa: PLR0917 - the agreed call shape mirrors an HTTP request, in order
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Credentials | ReadOnlyCredentials,
    region: str,
    service: str,
    *,
    sign_payload: bool = True,
) -> dict[str, str]:
    """Sign one request with SigV4 and return every header to send, names lowercase.

    ``url`` must be the exact URL that will be requested: its path is signed as
    given (already percent-encoded) and its query string must be in canonical
    form (keys and values percent-encoded, ``&``-separated). ``headers`` are all
    signed, so pass only headers that reach the server unchanged. The returned
    mapping holds those headers plus ``host``, ``x-amz-date``, ``authorization``
    and, when present, ``x-amz-security-token`` and ``x-amz-content-sha256``.
    ``sign_payload=False`` only matters for ``s3``: it signs ``UNSIGNED-PAYLOAD``.
    """
    split_url = urlsplit(url)
    if split_url.scheme not in ("http", "https") or not split_url.hostname:
        raise ValueError("sign_request needs an absolute http(s) URL")
    request_headers = {
        name.lower(): value for name, value in headers.items() if name.lower() not in SIGNING_HEADER_NAMES
    }
    # The Host header is signed; set it from the URL (default port omitted, as
    # HTTP clients send it) so the signature matches what is sent.
    host = split_url.hostname if ":" not in split_url.hostname else f"[{split_url.hostname}]"
    if split_url.port is not None and split_url.port != _DEFAULT_PORTS[split_url.scheme]:
        host = f"{host}:{split_url.port}"
    request_headers["host"] = host
    from botocore.auth import S3SigV4Auth, SigV4Auth  # noqa: PLC0415 - see the module's imports
    from botocore.awsrequest import AWSRequest  # noqa: PLC0415

    request = AWSRequest(method=method.upper(), url=url, headers=request_headers, data=body)
    signer: SigV4Auth
    if service == _S3_SERVICE_NAME:
        signer = S3SigV4Auth(credentials, service, region)
        if not sign_payload:
            request.context["client_config"] = _unsigned_payload_client_config()
    else:
        signer = SigV4Auth(credentials, service, region)
    signer.add_auth(request)
    return {name.lower(): str(value) for name, value in request.headers.items()}


@functools.cache
def _unsigned_payload_client_config() -> botocore.config.Config:
    """How botocore's S3 signer is told not to hash the payload (its client config)."""
    from botocore.config import Config  # noqa: PLC0415 - see the module's imports

    return Config(s3={"payload_signing_enabled": False})


def canonical_path(path: str) -> str:
    """Each segment percent-decoded and re-encoded the SigV4 way (``/`` separators kept).

    The origin signer sends this form (so what is signed is what is sent); the edge's
    viewer-request measures it to refuse, before charging, a URI that would outgrow
    CloudFront's limit once signed.
    """
    return "/".join(quote(unquote(segment), safe=_SIGV4_UNRESERVED) for segment in path.split("/"))


def canonical_querystring(querystring: str) -> str:
    """Pairs re-encoded the SigV4 way and sorted, as botocore canonicalises them."""
    if not querystring:
        return ""
    pairs: list[tuple[str, str]] = []
    for raw_pair in querystring.split("&"):
        if not raw_pair:
            continue
        raw_name, _, raw_value = raw_pair.partition("=")
        pairs.append(
            (
                quote(unquote(raw_name), safe=_SIGV4_UNRESERVED),
                quote(unquote(raw_value), safe=_SIGV4_UNRESERVED),
            )
        )
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))
