"""Revocation, suspension and closing reach every region (issue 15 §4), or the reply says which not.

Home writes the change in its own store, then in every credits region's store in parallel, before
the call returns; a region that cannot be reached is reported in ``pending_regions``. The standing
lease (leases.py, regional_standing.py) makes such a region stop charging on its own within 60 s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from functions.credits.store.errors import StoreUnavailable

# A region's credits store, or what applies a standing change there (regional_standing.py).
Target = TypeVar("Target")


@dataclass(frozen=True, slots=True)
class StandingChange:
    """Where a change of standing took effect, and where it is still pending."""

    applied_regions: tuple[str, ...]
    pending_regions: tuple[str, ...]


def apply_everywhere(stores: Mapping[str, Target], change: Callable[[Target], None]) -> StandingChange:
    """Run ``change`` (a revoke or a status change) on every region's store (or target) at once."""

    def attempt(region: str) -> tuple[str, bool]:
        try:
            change(stores[region])
        except StoreUnavailable:
            return region, False
        return region, True

    with ThreadPoolExecutor(max_workers=max(1, len(stores))) as pool:
        results = list(pool.map(attempt, stores))
    return StandingChange(
        applied_regions=tuple(region for region, applied in results if applied),
        pending_regions=tuple(region for region, applied in results if not applied),
    )
