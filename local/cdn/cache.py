"""The local CDN's edge cache: TTLs from response headers within a cache policy, LRU under a size cap.

Only complete ``200`` responses to GET whose size is known and within
``max_object_bytes`` are stored (the CDN tees them while streaming to the
viewer); bigger objects stream through uncached so memory stays bounded by
``max_bytes`` (cachetools' TLRU cache: per-entry expiry, LRU eviction, sized
in body bytes). The cache key is built from the URI (and, if the policy says
so, the query string) only: no header is part of it, so the API key never is,
and credential-like parameters (a signed link's ``em_link`` too) are dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode

from cachetools import TLRUCache

from functions.shared.api_keys import LINK_TOKEN_PARAMETER
from local.config import CacheConfig

# Query parameters that could carry a credential are never part of a cache key.
_CREDENTIAL_QUERY_NAMES = frozenset(
    {"x-api-key", "api_key", "apikey", "api-key", "key", "token", LINK_TOKEN_PARAMETER}
)


@dataclass(frozen=True)
class CachedResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    stored_at: float
    expires_at: float

    @property
    def etag(self) -> str | None:
        return next((value for name, value in self.headers if name.lower() == "etag"), None)

    def age_seconds(self, now: float) -> int:
        return max(0, int(now - self.stored_at))


def cache_key(uri: str, querystring: str, *, include_query_string: bool) -> str:
    if not include_query_string or not querystring:
        return uri
    kept = sorted(
        (name, value)
        for name, value in parse_qsl(querystring, keep_blank_values=True)
        if name.lower() not in _CREDENTIAL_QUERY_NAMES
    )
    return f"{uri}?{urlencode(kept)}" if kept else uri


def ttl_seconds(headers: Sequence[tuple[str, str]], policy: CacheConfig, *, now: float) -> int:
    """How long CloudFront would keep a response: header TTL clamped to the policy's [min, max]."""
    lowered = {name.lower(): value for name, value in headers}
    directives: dict[str, str | None] = {}
    for part in lowered.get("cache-control", "").split(","):
        name, _, value = part.strip().partition("=")
        if name:
            directives[name.lower()] = value.strip('"') or None
    if {"no-store", "no-cache", "private"} & directives.keys():
        return policy.min_ttl_seconds
    header_ttl: int | None = None
    for directive in ("s-maxage", "max-age"):
        raw = directives.get(directive)
        if raw is not None and raw.isdigit():
            header_ttl = int(raw)
            break
    if header_ttl is None and "expires" in lowered:
        try:
            header_ttl = max(0, int(parsedate_to_datetime(lowered["expires"]).timestamp() - now))
        except (TypeError, ValueError):
            header_ttl = 0  # an invalid Expires means "already expired"
    if header_ttl is None:
        return policy.default_ttl_seconds
    return max(policy.min_ttl_seconds, min(policy.max_ttl_seconds, header_ttl))


class _ResponseLru(TLRUCache[str, CachedResponse]):
    """cachetools' TLRU cache sized in body bytes, with each entry's own expiry; counts evictions."""

    def __init__(self, max_bytes: int, clock: Callable[[], float]) -> None:
        super().__init__(
            maxsize=max_bytes,
            ttu=lambda _key, response, _now: response.expires_at,
            timer=clock,
            getsizeof=lambda response: len(response.body),
        )
        self.evictions = 0

    def popitem(self) -> tuple[str, CachedResponse]:
        # Called by cachetools only to make room: an eviction.
        item = super().popitem()
        self.evictions += 1
        return item


class ResponseCache:
    """An LRU of complete responses with a total-size cap (cachetools.TLRUCache)."""

    def __init__(self, policy: CacheConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._entries = _ResponseLru(max(policy.max_bytes, 1), clock)
        self.hits = 0
        self.misses = 0

    @property
    def evictions(self) -> int:
        return self._entries.evictions

    @property
    def size_bytes(self) -> int:
        return int(self._entries.currsize)

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[str]:
        return list(self._entries)

    def can_store(self, content_length: int | None) -> bool:
        return (
            self.policy.enabled
            and content_length is not None
            and content_length <= min(self.policy.max_object_bytes, self.policy.max_bytes)
        )

    def get(self, key: str) -> CachedResponse | None:
        entry = self._entries.get(key)  # expired entries are gone for cachetools' TLRU
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        return entry

    def put(self, key: str, status: int, headers: Sequence[tuple[str, str]], body: bytes) -> bool:
        """Store a response if the policy allows; returns whether it was stored."""
        now = self._clock()
        ttl = ttl_seconds(headers, self.policy, now=time.time())
        if ttl <= 0 or not self.can_store(len(body)):
            return False
        self._entries[key] = CachedResponse(status, tuple(headers), body, now, now + ttl)
        return key in self._entries

    def invalidate(self, key: str) -> None:
        self._entries.pop(key, None)
