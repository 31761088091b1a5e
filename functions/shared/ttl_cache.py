"""A small bounded TTL cache for per-container state (the edge's and the credits service's).

Lambda containers serve one request at a time; a lock still guards the entries
because the local runtime and tests may share one instance across threads
(uncontended, it costs well under a microsecond). The bound keeps an abusive
stream of distinct keys from growing memory without limit, and the TTL bounds
how long an entry is trusted.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

CachedValue = TypeVar("CachedValue")


class TtlCache(Generic[CachedValue]):
    """Least-recently-used cache whose entries expire ``ttl_seconds`` after being stored."""

    def __init__(self, max_entries: int, ttl_seconds: float, clock: Callable[[], float]) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, CachedValue]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, cache_key: str) -> CachedValue | None:
        """The live value for ``cache_key``, or None (expired entries are dropped)."""
        with self._lock:
            entry = self._entries.get(cache_key)
            if entry is None:
                return None
            expires_at, value = entry
            if self._clock() >= expires_at:
                del self._entries[cache_key]
                return None
            self._entries.move_to_end(cache_key)
            return value

    def put(self, cache_key: str, value: CachedValue) -> None:
        """Store ``value`` for the cache's TTL (a TTL of 0 turns the cache off)."""
        if self._ttl_seconds <= 0:
            return
        with self._lock:
            self._entries[cache_key] = (self._clock() + self._ttl_seconds, value)
            self._entries.move_to_end(cache_key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def discard(self, cache_key: str) -> None:
        """Forget ``cache_key`` (no error when it is not cached)."""
        with self._lock:
            self._entries.pop(cache_key, None)

    def keys(self) -> list[str]:
        """Current cache keys (for inspection: they must be digests, never keys)."""
        with self._lock:
            return list(self._entries)
