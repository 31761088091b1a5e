"""Signed download links: a random token that stands for one key, limited to a path or a prefix,
until an expiry, optionally for a number of uses.

The token (``eml_`` + 43 url-safe characters) is shown once, in the link's URL; only its
SHA-256 digest is stored (``functions/shared/api_keys.hash_api_key``) and sent by the edge.
The link's facts are checked here; the key behind it is then checked as any key is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from functions.shared.api_keys import LINK_TOKEN_PARAMETER, generate_link_token, hash_api_key
from functions.shared.errors import DenialReason
from functions.shared.http_methods import DOWNLOAD_METHODS

DEFAULT_LINK_MAX_EXPIRES_IN_SECONDS = 7 * 24 * 3600
MAX_LINK_USES = 1_000_000_000


@dataclass(frozen=True, slots=True)
class NewLinkToken:
    token: str
    digest: str


def new_link_token() -> NewLinkToken:
    token = generate_link_token()
    return NewLinkToken(token=token, digest=hash_api_key(token))


@dataclass(frozen=True, slots=True)
class LinkFacts:
    """What a stored link grants. Exactly one of ``path`` and ``prefix`` is set."""

    link_id: str
    account_id: str
    key_id: str
    key_digest: str
    path: str | None
    prefix: str | None
    expires_at: datetime
    max_uses: int | None
    uses: int

    @property
    def target(self) -> str:
        """The path, or the prefix, the link opens."""
        target = self.path if self.path is not None else self.prefix
        assert target is not None
        return target

    def covers(self, path: str) -> bool:
        if self.path is not None:
            return path == self.path
        return self.prefix is not None and path.startswith(self.prefix)


def link_denial(link: LinkFacts, method: str, path: str, now: datetime) -> DenialReason | None:
    """Why ``link`` cannot serve this request, judged on its own facts (the key comes after).

    Uses are checked again inside the charge, which counts them under a condition; this
    early answer only spares a charge attempt that must fail.
    """
    if now >= link.expires_at:
        return DenialReason.LINK_EXPIRED
    if method not in DOWNLOAD_METHODS:
        return DenialReason.KEY_SCOPE_DENIED
    if not link.covers(path):
        return DenialReason.LINK_PATH_DENIED
    if link.max_uses is not None and link.uses >= link.max_uses:
        return DenialReason.LINK_EXHAUSTED
    return None


def link_url(cdn_base_url: str, target: str, token: str) -> str:
    """``<cdn>/<path>?em_link=<token>``; the path is percent-encoded as a URL path."""
    return f"{cdn_base_url.rstrip('/')}{quote(target, safe='/')}?{LINK_TOKEN_PARAMETER}={token}"
