"""The scale section as table rows and JSON, and the traffic-weighted wait the cost model bills."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bench.report import Row
from bench.scale import RateSearch, ScaleFigures
from local.regions import DEFAULT_CREDITS_REGION, DEFAULT_VIEWER_TRAFFIC_SPLIT, round_trip


def weighted_edge_wait_ms(scale: ScaleFigures | None) -> tuple[float, str]:
    """What the credits call adds to a viewer-request invocation, weighted by the stated traffic split:
    measured (added p50 per edge region) when the scale section ran, else the table's p50 round trips."""
    if scale is not None and scale.region_waits:
        added = {wait.edge_region: max(0.0, wait.added_p50_ms) for wait in scale.region_waits}
        source = "measured added p50 per edge region, weighted by the stated traffic split"
    else:
        added = {
            region: round_trip(region, DEFAULT_CREDITS_REGION).p50_ms
            for region in DEFAULT_VIEWER_TRAFFIC_SPLIT
        }
        source = "the table's p50 round trips (scale section skipped), weighted by the stated traffic split"
    return sum(
        share * added.get(region, 0.0) for region, share in DEFAULT_VIEWER_TRAFFIC_SPLIT.items()
    ), source


def _search_row(label: str, search: RateSearch) -> Row:
    first = search.first_throttled_rate_at_scale
    bound = ">= " if search.driver_limited else ""
    return Row(
        "scale",
        f"{label}: highest zero-throttle rate ({len(search.trials)} trials of {search.trial_seconds:g} s)",
        f"{bound}{search.real_rate:,.0f} charges/s real",
        f"{search.sustained_rate_at_scale:.2f}/s at 1/{1 / search.scale:g}",
        f"first throttled {first / search.scale:,.0f}/s" if first is not None else "never throttled",
        "driver-limited: a lower bound" if search.driver_limited else "",
    )


def scale_rows(scale: ScaleFigures) -> list[Row]:
    rows = [Row("scale", "partition-faithful layer", scale.limits)]
    for hottest in scale.hottest:
        writes = hottest.write_units_per_thousand_charges_per_second
        reads = hottest.read_units_per_thousand_charges_per_second
        rows.append(
            Row(
                "scale",
                f"hottest partition per 1,000 {hottest.kind}s/s of one account (n={hottest.charges})",
                f"{writes:,.0f} WCU/s on {hottest.write_partition}",
                f"{reads:,.0f} RCU/s on {hottest.read_partition}",
                "",
                f"per charge {hottest.write_units_per_charge:.1f} WCU, "
                f"{hottest.read_units_per_charge:.1f} RCU",
            )
        )
    rows += [
        _search_row("one account", scale.one_account),
        *(
            [_search_row(scale.one_sharded_account.scenario, scale.one_sharded_account)]
            if scale.one_sharded_account is not None
            else []
        ),
        _search_row("one hot object, many keys", scale.hot_object),
        Row(
            "scale",
            "viewer-request wall time, credits in-process (no network)",
            f"p50 {scale.baseline_wall_p50_ms:.1f} ms",
            f"p99 {scale.baseline_wall_p99_ms:.1f} ms",
        ),
    ]
    rows += [
        Row(
            "scale",
            f"viewer in {wait.edge_region} -> credits in {wait.credits_region} (n={wait.requests})",
            f"+{wait.added_p50_ms:.0f} ms p50",
            f"+{wait.added_p99_ms:.0f} ms p99",
            f"RTT p50 {wait.round_trip_p50_ms:.0f} ms",
            f"wall p50 {wait.wall_p50_ms:.0f} / p99 {wait.wall_p99_ms:.0f} ms"
            + (f"; {wait.refused} not allowed" if wait.refused else ""),
        )
        for wait in scale.region_waits
    ]
    return rows


def scale_document(scale: ScaleFigures) -> dict[str, Any]:
    document = asdict(scale)
    for name in ("one_account", "hot_object", "one_sharded_account"):
        search: RateSearch | None = getattr(scale, name)
        if search is not None:
            document[name]["real_rate"] = search.real_rate
    return document
