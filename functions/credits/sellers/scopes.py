"""Key scopes and spend limits: what a key may do, fixed when it is issued.

A scope names the HTTP methods a key may use and the path prefixes it may reach; a missing
part does not restrict. A spend limit caps the credits a key may be charged over its life
(net of refunds); the counter lives in its own item, written only for keys that have a limit
(docs/decisions.md, "Sellers' features").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from functions.shared.http_methods import HTTP_METHODS

SCOPE_PREFIX_MAX_LENGTH = 1024
MAX_SCOPE_PREFIXES = 20


class ScopeError(ValueError):
    """A scope that names an unknown method or a prefix that is not a path."""


@dataclass(frozen=True, slots=True)
class KeyScope:
    """Methods and path prefixes a key may use; ``None`` leaves that dimension open."""

    methods: frozenset[str] | None = None
    prefixes: tuple[str, ...] | None = None

    @classmethod
    def build(cls, methods: Iterable[str] | None, prefixes: Iterable[str] | None) -> KeyScope:
        """A validated scope (raises ``ScopeError``)."""
        method_set = None if methods is None else frozenset(methods)
        prefix_tuple = None if prefixes is None else tuple(prefixes)
        if method_set is not None:
            unknown = sorted(method_set - set(HTTP_METHODS))
            if unknown or not method_set:
                known = list(HTTP_METHODS)
                raise ScopeError(f"scope methods must be some of {known}; got {unknown or 'none'}")
        if prefix_tuple is not None:
            if not prefix_tuple or len(prefix_tuple) > MAX_SCOPE_PREFIXES:
                raise ScopeError(f"scope prefixes: between 1 and {MAX_SCOPE_PREFIXES}")
            for prefix in prefix_tuple:
                if not is_path_prefix(prefix):
                    raise ScopeError("every scope prefix is a path: it starts with '/'")
        return cls(method_set, prefix_tuple)

    @property
    def unrestricted(self) -> bool:
        return self.methods is None and self.prefixes is None

    def allows(self, method: str, path: str) -> bool:
        """Whether a request with ``method`` on ``path`` is inside the scope."""
        if self.methods is not None and method not in self.methods:
            return False
        return self.covers(path)

    def covers(self, path_or_prefix: str) -> bool:
        """Whether every path starting with ``path_or_prefix`` is inside the prefixes."""
        if self.prefixes is None:
            return True
        return any(path_or_prefix.startswith(prefix) for prefix in self.prefixes)


def is_path_prefix(candidate: str) -> bool:
    """A path or path prefix: starts with '/', no control characters, bounded length."""
    return (
        candidate.startswith("/")
        and len(candidate) <= SCOPE_PREFIX_MAX_LENGTH
        and not any(ord(character) < 0x20 or ord(character) == 0x7F for character in candidate)
    )


def scope_from_stored(methods: Iterable[str] | None, prefixes: Iterable[str] | None) -> KeyScope:
    """The scope as stored on a key item (no re-validation: it was validated at issue time)."""
    return KeyScope(
        None if methods is None else frozenset(methods),
        None if prefixes is None else tuple(prefixes),
    )


def spend_ceiling(spend_limit: int, price: int) -> int | None:
    """The highest counter value a charge of ``price`` may start from, or None if it can never fit.

    A charge adds ``price`` to the key's counter only IF the counter is at most this value,
    so the counter never passes the limit, under any concurrency.
    """
    ceiling = spend_limit - price
    return None if ceiling < 0 else ceiling
