"""The key scope as the API states it (pydantic), for the key routes' request and reply models.

Apart from ``schemas.py`` because ``functions/credits/schemas.py`` imports it (issue and list
keys carry a scope) while ``schemas.py`` imports ``functions/credits/schemas.py``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from functions.credits.sellers.scopes import MAX_SCOPE_PREFIXES, SCOPE_PREFIX_MAX_LENGTH, KeyScope
from functions.shared.http_methods import HTTP_METHODS, HttpMethod

PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
# A path or a path prefix: starts with '/', no control characters.
PATH_PATTERN = r"^/[^\x00-\x1f\x7f]*$"

PathPrefix = Annotated[str, Field(min_length=1, max_length=SCOPE_PREFIX_MAX_LENGTH, pattern=PATH_PATTERN)]


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("values must not repeat")
    return values


class KeyScopeModel(BaseModel):
    """What a key may do; a missing part does not restrict."""

    # Strict and closed like every request model of the API (functions/credits/schemas.py).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    methods: Annotated[list[HttpMethod], AfterValidator(_unique)] | None = Field(
        default=None, min_length=1, max_length=len(HTTP_METHODS), examples=[["GET", "HEAD"]]
    )
    prefixes: Annotated[list[PathPrefix], AfterValidator(_unique)] | None = Field(
        default=None, min_length=1, max_length=MAX_SCOPE_PREFIXES, examples=[["/reports/"]]
    )

    def to_scope(self) -> KeyScope:
        return KeyScope.build(self.methods, self.prefixes)

    @classmethod
    def from_scope(cls, scope: KeyScope | None) -> KeyScopeModel | None:
        if scope is None or scope.unrestricted:
            return None
        methods = None if scope.methods is None else [m for m in HTTP_METHODS if m in scope.methods]
        return cls(methods=methods, prefixes=None if scope.prefixes is None else list(scope.prefixes))
