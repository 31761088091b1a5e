"""The local CDN's edge cache: TTLs from response headers within a cache policy, LRU under a size cap.

Only complete ``200`` responses to GET whose size is known and within
``max_object_bytes`` are stored (the CDN tees them while streaming to the
viewer); bigger objects stream through uncached so memory stays bounded by
``max_bytes``. The cache key is built from the URI (and, if the policy says
so, the query string) only: no header is part of it, so the API key never is.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode

from local.config import CacheConfig

# Query parameters that could carry a credential are never part of a cache key.
_CREDENTIAL_QUERY_NAMES = frozenset({"x-api-key", "api_key", "apikey", "api-key", "key", "token"})


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


class ResponseCache:
    """An LRU of complete responses with a total-size cap."""

    def __init__(self, policy: CacheConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._entries: OrderedDict[str, CachedResponse] = OrderedDict()
        self._size = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    @property
    def size_bytes(self) -> int:
        return self._size

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
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        if entry.expires_at <= self._clock():
            self._remove(key)
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: str, status: int, headers: Sequence[tuple[str, str]], body: bytes) -> bool:
        """Store a response if the policy allows; returns whether it was stored."""
        now = self._clock()
        ttl = ttl_seconds(headers, self.policy, now=time.time())
        if ttl <= 0 or not self.can_store(len(body)):
            return False
        self._remove(key)
        self._entries[key] = CachedResponse(status, tuple(headers), body, now, now + ttl)
        self._size += len(body)
        while self._size > self.policy.max_bytes and self._entries:
            oldest = next(iter(self._entries))
            self._remove(oldest)
            self.evictions += 1
        return key in self._entries

    def invalidate(self, key: str) -> None:
        self._remove(key)

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._size -= len(entry.body)
