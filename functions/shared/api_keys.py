"""API keys: the one home for generating, recognising and hashing them.

Standard library only: the edge function (Lambda@Edge, no third-party packages)
imports this module as well as the credits service and the CLI.

A key is shown to its owner exactly once. Everything else (the users table,
the edge-to-credits call, logs) only ever sees its SHA-256 hex digest.
"""

from __future__ import annotations

import hashlib
import re

API_KEY_PREFIX = "em_"
# 32 random bytes -> 43 url-safe base64 characters.
_API_KEY_RANDOM_BYTES = 32
_API_KEY_PATTERN = re.compile(r"^em_[A-Za-z0-9_-]{43}$")
_DIGEST_PATTERN = re.compile(r"^[0-9a-f]{64}$")
# Keys longer than this are never hashed: refuse garbage before doing any work.
MAX_PRESENTED_KEY_LENGTH = 256


def generate_api_key() -> str:
    """Return a new random API key with the recognisable ``em_`` prefix."""
    # Imported here: the edge imports this module and never issues keys; secrets would add
    # base64, hmac and random to its cold start.
    import secrets  # noqa: PLC0415

    return API_KEY_PREFIX + secrets.token_urlsafe(_API_KEY_RANDOM_BYTES)


def looks_like_api_key(candidate: str) -> bool:
    """True when ``candidate`` has the shape of a key we issued (cheap pre-check)."""
    return bool(_API_KEY_PATTERN.fullmatch(candidate))


def hash_api_key(api_key: str) -> str:
    """SHA-256 hex digest of a key: what is stored, cached and sent to the credits API."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def is_key_digest(candidate: str) -> bool:
    """True for a lowercase 64-character SHA-256 hex digest."""
    return bool(_DIGEST_PATTERN.fullmatch(candidate))


# Signed download links (issue 16): ``eml_`` + 43 url-safe characters, in the query parameter
# ``em_link``. Like keys, only their SHA-256 digest (``hash_api_key``) is stored and sent.
LINK_TOKEN_PREFIX = "eml_"  # noqa: S105 - a prefix, not a secret
LINK_TOKEN_PARAMETER = "em_link"  # noqa: S105 - a parameter name, not a secret
_LINK_TOKEN_PATTERN = re.compile(r"^eml_[A-Za-z0-9_-]{43}$")


def generate_link_token() -> str:
    """A new random link token with the recognisable ``eml_`` prefix."""
    import secrets  # noqa: PLC0415 - see generate_api_key

    return LINK_TOKEN_PREFIX + secrets.token_urlsafe(_API_KEY_RANDOM_BYTES)


def looks_like_link_token(candidate: str) -> bool:
    """True when ``candidate`` has the shape of a link token we issue (cheap pre-check)."""
    return bool(_LINK_TOKEN_PATTERN.fullmatch(candidate))
