"""The edge settings a regional deploy bakes in, for tests that drive the edge over several regions."""

from __future__ import annotations

from collections.abc import Sequence

from functions.edge_auth.settings import CreditsApiSettings, EdgeSettings, RegionalCreditsSettings
from functions.shared.region_latency import region_order_table


def regional_edge_settings(home: str, credits_regions: Sequence[str]) -> EdgeSettings:
    """Home's API plus one API per credits region, in the nearest-first order a deploy computes."""
    order = region_order_table(home, tuple(credits_regions))
    return EdgeSettings(
        credits_api=CreditsApiSettings(
            url=f"https://home.execute-api.{home}.amazonaws.com/live", region=home
        ),
        regional_credits=RegionalCreditsSettings(
            apis=tuple(
                CreditsApiSettings(url=f"https://r.execute-api.{region}.amazonaws.com/live", region=region)
                for region in credits_regions
            ),
            order=tuple((edge_region, tuple(regions)) for edge_region, regions in order.items()),
        ),
    )
