"""``make bench``: every figure measured side by side in one run; a table on stdout, JSON on disk.

Counts are bounded so a fresh clone finishes in a few minutes on two cores; ``--quick`` shrinks
them further for development. ``ARGS="--quick"`` passes flags through make.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from typing import Any

from bench.cost import (
    CORRECTED_PRICES_RECORDED_ON,
    PRICES_RECORDED_ON,
    CostBreakdown,
    OperatingCounts,
    RequestCounts,
    bare_origin_per_million_requests,
    corrected_cost_per_million_requests,
    cost_per_million_requests,
)
from bench.cost_scenarios import (
    MISSING_OBJECT,
    UNKNOWN_KEY,
    CostScenarioFigures,
    KindFigures,
    MixCosts,
    TrafficMix,
    price_mix,
    run_cost_scenarios,
)
from bench.credits_bench import TARGET_RATIO_OF_RAW, CreditsFigures, run_credits_bench
from bench.e2e_bench import EndToEndFigures, PhaseFigures, run_e2e_bench
from bench.edge_bench import (
    TARGET_COLD_IMPORT_MS,
    TARGET_DECISION_MICROSECONDS,
    DenialFigures,
    EdgeFigures,
    run_denial_bench,
    run_edge_bench,
)
from bench.edge_package import VIEWER_PACKAGE_LIMIT_BYTES
from bench.operating_costs import measure_operating_bytes
from bench.regional_wait import measure as measure_regional_wait
from bench.regional_wait import regional_rows
from bench.report import Row, machine, render_table, verdict, write_results
from bench.scale import FULL_SCALE, QUICK_SCALE, ScaleFigures, run_scale_bench
from bench.scale_must_show import (
    Issue14Figures,
    issue14_cost_lines,
    issue14_costs,
    issue14_rows,
    run_issue14_must_show,
)
from bench.scale_report import scale_document, scale_rows, weighted_edge_wait_ms
from bench.stats import percentile
from local.dynamodb_capacity import PartitionLimits
from local.dynamodb_local import DynamoDBLocal

# A 2xx origin-response only reads the status and returns: sub-millisecond, billed the 1 ms minimum.
ORIGIN_RESPONSE_PASS_THROUGH_MS = 1.0


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, for development")
    parser.add_argument("--decisions", type=int, help="warm edge decisions to time")
    parser.add_argument("--import-runs", type=int, help="fresh interpreters for the cold import")
    parser.add_argument("--authorizations", type=int, help="authorizations through the credits handler")
    parser.add_argument(
        "--round-size",
        type=int,
        default=50,
        help="authorizations per interleaved handler/raw round of the credits throughput",
    )
    parser.add_argument("--e2e-requests", type=int, help="GETs per end-to-end phase")
    parser.add_argument("--e2e-concurrency", type=int, default=4, help="concurrent end-to-end clients")
    parser.add_argument(
        "--cache-hit-ratio",
        type=float,
        help="CDN cache hit ratio for the cost model (default: measured by the end-to-end run)",
    )
    parser.add_argument(
        "--mix",
        default="0.90,0.05,0.05",
        help="traffic mix for the cost comparison: shares of allowed,unknown-key,missing-object requests",
    )
    parser.add_argument(
        "--requests-per-missing-object",
        type=int,
        default=100,
        help="how often each missing object is asked for within the catalog's tombstone lifetime",
    )
    parser.add_argument(
        "--capacity-scale",
        default="1/100",
        help="the partition-faithful layer's scale for the scale section (DynamoDB's limits x this)",
    )
    parser.add_argument(
        "--burst-seconds", type=float, default=1.0, help="seconds of a partition's rate its burst holds"
    )
    parser.add_argument("--skip-scale", action="store_true", help="leave the scale section out")
    return parser.parse_args()


def edge_rows(edge: EdgeFigures) -> list[Row]:
    package_rows = [
        Row(
            "edge",
            f"{package} package zipped",
            f"{size / 1024:.1f} KiB",
            f"{VIEWER_PACKAGE_LIMIT_BYTES // 1024} KiB limit",
            f"{size / VIEWER_PACKAGE_LIMIT_BYTES:.1%}",
            "< 1 MB",
            verdict(size < VIEWER_PACKAGE_LIMIT_BYTES),
        )
        for package, size in edge.package_zip_bytes.items()
    ]
    return [
        *package_rows,
        Row(
            "edge",
            f"cold import, bundled with bytecode (median of {edge.cold_import_runs})",
            f"{edge.cold_import_median_ms:.1f} ms",
            f"sources only {edge.cold_import_sources_only_median_ms:.1f} ms",
            f"{edge.cold_import_median_ms / edge.cold_import_sources_only_median_ms:.2f}x",
            f"< {TARGET_COLD_IMPORT_MS:.0f} ms",
            verdict(edge.meets_cold_import_target),
        ),
        Row(
            "edge",
            "cold import with bytecode, bare interpreter (-S, nothing preloaded)",
            f"{edge.cold_import_bare_median_ms:.1f} ms",
            f"botocore alone {edge.botocore_import_median_ms:.1f} ms",
        ),
        Row("edge", "first invocation after cold import (a 401)", f"{edge.first_call_median_ms:.1f} ms"),
        Row(
            "edge",
            "first keyed request after cold import (http.client, botocore, credentials, signing, TLS)",
            f"{edge.first_keyed_request_median_ms:.1f} ms",
            "paid once per container, deferred from the import",
        ),
        Row(
            "edge",
            f"CPU per allow decision ({edge.decisions} warm)",
            f"{edge.cpu_microseconds_per_decision:.1f} us",
            f"wall {edge.wall_microseconds_per_decision:.1f} us",
            "",
            f"< {TARGET_DECISION_MICROSECONDS:.0f} us",
            verdict(edge.meets_decision_target),
        ),
    ]


def denial_rows(denial: DenialFigures, credits: CreditsFigures) -> list[Row]:
    return [
        Row(
            "edge",
            f"credits calls, {denial.requests} unknown-key requests ({denial.distinct_keys} keys)",
            f"{denial.credits_calls_cached} with negative cache",
            f"{denial.credits_calls_uncached} without",
            f"{denial.credits_calls_cached / denial.credits_calls_uncached:.1%}",
        ),
        Row(
            "credits",
            f"unknown-key denial (n={credits.denials})",
            f"{credits.dynamodb_requests_per_denial:.2f} DynamoDB requests",
            f"{credits.billed_read_units_per_denial:.2f} RRU",
            "",
            f"p50 {credits.denial_p50_ms:.1f} ms",
        ),
    ]


def credits_rows(credits: CreditsFigures) -> list[Row]:
    operations = ", ".join(
        f"{name} {count / credits.counted_authorizations:g}"
        for name, count in credits.dynamodb_operations.items()
    )
    first_use = ", ".join(f"{name} {count}" for name, count in credits.first_use_dynamodb_operations.items())
    return [
        Row(
            "credits",
            f"authorizations/s, one container, sequential ({credits.rounds} interleaved rounds)",
            f"{credits.handler_per_second:.0f}/s",
            f"raw transaction {credits.raw_transactions_per_second:.0f}/s",
            f"{credits.ratio_of_raw:.0%}",
            f">= {TARGET_RATIO_OF_RAW:.0%} of raw",
            verdict(credits.meets_target),
        ),
        Row(
            "credits",
            f"ratio of raw per round ({credits.rounds} rounds): p10 / median / p90",
            " / ".join(
                f"{percentile(credits.ratio_of_raw_per_round, share):.0%}" for share in (0.10, 0.50, 0.90)
            ),
        ),
        Row(
            "credits",
            "latency p50 / p99 (handler; raw p50)",
            f"{credits.handler_p50_ms:.1f} / {credits.handler_p99_ms:.1f} ms",
            f"raw p50 {credits.raw_p50_ms:.1f} ms",
        ),
        Row(
            "credits",
            "DynamoDB requests per authorization (key cached)",
            f"{credits.dynamodb_requests_per_authorization:.2f}",
            operations,
        ),
        Row(
            "credits",
            "DynamoDB requests, a key's first authorization in a container",
            f"{sum(credits.first_use_dynamodb_operations.values())}",
            first_use,
            "",
            f"{credits.first_use_billed_read_units:.1f} RRU",
        ),
        Row(
            "credits",
            "write units per authorization",
            f"{credits.billed_write_units_per_authorization:.2f} WRU",
            f"raw txn {credits.raw_billed_write_units_per_transaction:.2f}",
            "",
            f"DynamoDB Local reported {credits.reported_write_units_per_authorization:.2f}",
        ),
        Row(
            "credits",
            "read units per authorization",
            f"{credits.billed_read_units_per_authorization:.2f} RRU",
            "",
            "",
            f"DynamoDB Local reported {credits.reported_read_units_per_authorization:.2f}",
        ),
    ]


def e2e_rows(e2e: EndToEndFigures) -> list[Row]:
    baseline = e2e.origin

    def row(phase: PhaseFigures) -> Row:
        failures = ", ".join(f"{count}x {status}" for status, count in sorted(phase.failures.items()))
        return Row(
            "local e2e",
            f"{phase.name} GET/s (c={phase.concurrency}, n={phase.requests})",
            f"{phase.per_second:.0f}/s p50 {phase.p50_ms:.0f} p99 {phase.p99_ms:.0f} ms",
            "" if phase is baseline else f"origin {baseline.per_second:.0f}/s",
            "" if phase is baseline else f"{phase.per_second / baseline.per_second:.0%}",
            f"hits {phase.cache_hits}" + (f"; non-200: {failures}" if failures else ""),
        )

    return [
        row(e2e.origin),
        row(e2e.cdn_hits),
        row(e2e.cdn_misses),
        row(e2e.mixed),
        Row(
            "local e2e",
            f"mixed: S3 GETs per download ({e2e.mixed_objects} objects)",
            f"{e2e.mixed_s3_gets_per_download:.3f}",
            f"{e2e.mixed_origin_gets} origin GETs counted",
            "",
            f"CDN hit ratio {e2e.mixed_hit_ratio:.0%}",
        ),
    ]


def cost_rows(breakdowns: list[CostBreakdown]) -> list[Row]:
    baseline = breakdowns[-1].total
    return [
        Row(
            "cost",
            f"$ per 1M downloads: {breakdown.scenario}",
            f"${breakdown.total:.2f}",
            f"no edgemeter ${baseline:.2f}",
            f"{breakdown.total / baseline:.1f}x" if baseline else "",
        )
        for breakdown in breakdowns
    ]


def corrected_row(corrected: CostBreakdown, old: CostBreakdown) -> Row:
    return Row(
        "cost",
        "$ per 1M downloads, corrected model (itemized below)",
        f"${corrected.total:.2f}",
        f"old model ${old.total:.2f}",
        f"{corrected.total / old.total:.2f}x",
    )


CORRECTED_HEADER = Row("", "line", "$ per 1M downloads", "billed units per 1M", "old model", "", "")


def corrected_lines(corrected: CostBreakdown, old: CostBreakdown) -> list[Row]:
    before = {line.item: line.dollars_per_million_requests for line in old.lines}
    renamed = {
        "Lambda (credits) GB-s, arm64": "Lambda (credits) GB-s",
        "Lambda@Edge GB-s, wall time incl. the credits wait": "Lambda@Edge GB-s",
    }
    return [
        Row(
            "cost",
            line.item,
            f"${line.dollars_per_million_requests:.2f}",
            f"{line.units_per_million_requests:,.1f}",
            f"${before[renamed.get(line.item, line.item)]:.2f}"
            if renamed.get(line.item, line.item) in before
            else "(new)",
        )
        for line in corrected.lines
    ]


def mix_rows(mix: TrafficMix, costs: MixCosts, hit_ratio: float, denial: DenialFigures) -> list[Row]:
    with_, without, bare = (
        costs.with_caches_and_catalog,
        costs.without_caches_and_catalog,
        costs.no_edgemeter,
    )
    rows = [
        Row("cost", "traffic mix", mix.describe(), f"CDN hit ratio {hit_ratio:.0%} on downloads"),
        *(
            Row(
                "cost",
                f"$ per 1M requests of the mix: {breakdown.scenario}",
                f"${breakdown.total:.2f}",
                f"no edgemeter ${bare.total:.2f}",
                f"{breakdown.total / bare.total:.1f}x",
            )
            for breakdown in (with_, without, bare)
        ),
        Row(
            "cost",
            "mix: with caches and catalog vs without",
            f"${with_.total:.2f}",
            f"${without.total:.2f} without",
            f"{with_.total / without.total:.0%}",
        ),
    ]
    repetition = {
        UNKNOWN_KEY: f" ({denial.distinct_keys} keys per {denial.requests})",
        MISSING_OBJECT: f" ({mix.requests_per_missing_object} per missing key)",
    }
    rows += [
        Row(
            "cost",
            f"$ per 1M {kind} requests{repetition.get(kind, '')}",
            f"${with_kind.total:.2f} with",
            f"${without_kind.total:.2f} without",
            f"{with_kind.total / without_kind.total:.0%}",
        )
        for kind, (with_kind, without_kind) in costs.by_kind.items()
    ]
    return rows


def counted_kind_rows(scenarios: CostScenarioFigures) -> list[Row]:
    """What the scenario run counted per request, each kind and configuration (the model's inputs)."""

    def row(configuration: str, kind: KindFigures, note: str = "") -> Row:
        viewer, origin, n = kind.viewer_request, kind.origin_response, kind.requests
        statuses = ", ".join(f"{count}x {status}" for status, count in sorted(kind.viewer_statuses.items()))
        return Row(
            configuration,
            f"{kind.kind} (n={n}){note}",
            f"{(viewer.credits_calls + origin.credits_calls) / n:.2f} calls",
            f"{(viewer.dynamodb_requests + origin.dynamodb_requests) / n:.2f} req, "
            f"{(viewer.billed_write_units + origin.billed_write_units) / n:.2f} WRU, "
            f"{(viewer.billed_read_units + origin.billed_read_units) / n:.2f} RRU",
            f"{(kind.origin_gets + kind.origin_heads) / n:.2f} S3",
            f"{origin.invocations / n:.2f} origin-response",
            statuses,
        )

    rows: list[Row] = []
    for figures in (scenarios.with_caches_and_catalog, scenarios.without_caches_and_catalog):
        name = figures.configuration.name
        rows += [
            row(name, figures.allowed, ", every one a CDN miss"),
            row(name, figures.unknown_key_call, ", per credits call"),
            row(name, figures.missing_object),
        ]
    return rows


def mix_breakdown_rows(costs: MixCosts) -> list[Row]:
    bare = {line.item: line for line in costs.no_edgemeter.lines}
    return [
        Row(
            "cost",
            line.item,
            f"${line.dollars_per_million_requests:.2f}",
            f"${without.dollars_per_million_requests:.2f}",
            f"${bare[line.item].dollars_per_million_requests:.2f}" if line.item in bare else "",
            f"{line.units_per_million_requests:,.0f} / {without.units_per_million_requests:,.0f}",
        )
        for line, without in zip(
            costs.with_caches_and_catalog.lines, costs.without_caches_and_catalog.lines, strict=True
        )
    ]


def main() -> None:
    arguments = parse_arguments()
    quick = arguments.quick
    decisions = arguments.decisions or (2_000 if quick else 20_000)
    import_runs = arguments.import_runs or (3 if quick else 9)
    authorizations = arguments.authorizations or (400 if quick else 3_000)
    e2e_requests = arguments.e2e_requests or (100 if quick else 400)
    mix = TrafficMix.parse(arguments.mix, arguments.requests_per_missing_object)
    started = time.monotonic()

    print("edge: cold import and warm decisions ...", flush=True)
    edge = run_edge_bench(decisions=decisions, import_runs=import_runs)
    denial = run_denial_bench(requests=1_000, distinct_keys=10)
    print("credits: handler and raw transaction against DynamoDB Local ...", flush=True)
    with DynamoDBLocal() as dynamodb:
        credits = run_credits_bench(
            dynamodb.endpoint_url, authorizations=authorizations, round_size=arguments.round_size
        )
        print("cost: the traffic mix with and without caches and catalog ...", flush=True)
        scenarios = run_cost_scenarios(
            dynamodb.endpoint_url,
            mix=mix,
            allowed_requests=100 if quick else 300,
            unknown_key_calls=20 if quick else 50,
            missing_objects=2 if quick else 5,
        )
        print("operating costs: log bytes and stored bytes of a charge ...", flush=True)
        operating = measure_operating_bytes(dynamodb.endpoint_url, 20 if quick else 100)
        scale: ScaleFigures | None = None
        issue14: Issue14Figures | None = None
        if not arguments.skip_scale:
            limits = PartitionLimits.parse(arguments.capacity_scale, arguments.burst_seconds)
            print(f"scale: DynamoDB at {limits.describe()}; the edge's wait per region ...", flush=True)
            scale = run_scale_bench(dynamodb.endpoint_url, limits, QUICK_SCALE if quick else FULL_SCALE)
            print("scale: issue 14's must-show (one account at 10,000/s real, WRU counted) ...", flush=True)
            issue14 = run_issue14_must_show(dynamodb.endpoint_url, limits, seconds=2.0 if quick else 4.0)
        print("regions: viewer-request wait per edge region, today vs regional (issue 15) ...", flush=True)
        regional_waits = measure_regional_wait(dynamodb.endpoint_url, requests=10 if quick else 30)

    print("local e2e: origin direct, CDN hits, misses, mixed ...", flush=True)
    e2e = run_e2e_bench(requests=e2e_requests, concurrency=arguments.e2e_concurrency)

    if arguments.cache_hit_ratio is not None:
        hit_ratio, hit_ratio_source = arguments.cache_hit_ratio, "--cache-hit-ratio"
    else:
        hit_ratio = 1.0 - e2e.mixed_s3_gets_per_download
        hit_ratio_source = f"counted in the mixed e2e phase ({e2e.mixed_objects} objects)"
    edge_ms = edge.wall_microseconds_per_decision / 1000 + credits.handler_p50_ms
    per_download = RequestCounts(
        cloudfront_requests=1.0,
        viewer_request_invocations=1.0,
        viewer_request_ms=edge_ms,
        origin_response_invocations=1.0 - hit_ratio,
        origin_response_ms=ORIGIN_RESPONSE_PASS_THROUGH_MS,
        credits_api_calls=1.0,
        credits_lambda_ms=credits.handler_p50_ms,
        dynamodb_write_units=credits.billed_write_units_per_authorization,
        dynamodb_read_units=credits.billed_read_units_per_authorization,
        s3_gets=1.0 - hit_ratio,
    )
    no_cache = RequestCounts(**{**asdict(per_download), "origin_response_invocations": 1.0, "s3_gets": 1.0})
    edge_wait_ms, edge_wait_source = weighted_edge_wait_ms(scale)
    operating_counts = OperatingCounts(
        edge_wait_ms=edge_wait_ms,
        credits_log_bytes=operating.credits_log_bytes,
        access_log_bytes=operating.access_log_bytes,
        edge_log_bytes=operating.edge_log_bytes,
        stored_byte_months=operating.stored_byte_months,
    )
    corrected = corrected_cost_per_million_requests(
        f"edgemeter, CDN hit ratio {hit_ratio:.0%}, corrected", per_download, operating_counts
    )
    # issue 14: today's and the sharded layout's cost side by side, 90% CDN hits, corrected model.
    issue14_cost = (
        issue14_costs(
            per_download,
            operating_counts,
            sharded_write_units=issue14.write_units.per_download,
            # The credits side reads as today (cached key, cached catalog entry); the ledger writer
            # reads each charge record once (counted with its writes).
            sharded_read_units=per_download.dynamodb_read_units
            + issue14.write_units.read_units / issue14.write_units.downloads,
            writer_ms_per_record=issue14.ledger_writer_ms_per_record,
        )
        if issue14 is not None
        else None
    )
    breakdowns = [
        cost_per_million_requests(f"edgemeter, CDN hit ratio {hit_ratio:.0%}", per_download),
        cost_per_million_requests("edgemeter, no CDN cache", no_cache),
        bare_origin_per_million_requests(1.0 - hit_ratio),
    ]
    mix_costs = price_mix(
        mix,
        scenarios,
        cdn_hit_ratio=hit_ratio,
        unknown_key_calls_per_request_cached=denial.credits_calls_cached / denial.requests,
        unknown_key_calls_per_request_uncached=denial.credits_calls_uncached / denial.requests,
    )
    rows = [
        *edge_rows(edge),
        *credits_rows(credits),
        *denial_rows(denial, credits),
        *e2e_rows(e2e),
        *cost_rows(breakdowns),
        corrected_row(corrected, breakdowns[0]),
        *mix_rows(mix, mix_costs, hit_ratio, denial),
        *(scale_rows(scale) if scale is not None else []),
        *(issue14_rows(issue14, issue14_cost) if issue14 is not None else []),
        *regional_rows(regional_waits, per_download, operating_counts),
    ]
    host = machine()
    print()
    print(render_table(rows))
    print(f"\ncost breakdown per 1M downloads, {breakdowns[0].scenario}:")
    print(
        render_table(
            [
                Row(
                    "cost",
                    line.item,
                    f"${line.dollars_per_million_requests:.2f}",
                    f"{line.units_per_million_requests:,.0f} units",
                )
                for line in breakdowns[0].lines
            ],
            header=Row("", "line", "$ per 1M downloads", "billed units per 1M downloads", "", "", ""),
        )
    )
    print(
        f"\ncorrected cost per 1M downloads, itemized (edge wait {edge_wait_ms:.0f} ms: {edge_wait_source}; "
        f"prices as of {CORRECTED_PRICES_RECORDED_ON}):"
    )
    print(render_table(corrected_lines(corrected, breakdowns[0]), header=CORRECTED_HEADER))
    if issue14_cost is not None:
        print("\nissue 14: cost per 1M allowed downloads, 90% CDN hits, corrected model, line by line:")
        print(
            render_table(
                issue14_cost_lines(*issue14_cost),
                header=Row("", "line", "today", "issue 14", "", "", ""),
            )
        )
    print(f"\ncost of the mix per 1M requests ({mix.describe()}), line by line:")
    print(
        render_table(
            mix_breakdown_rows(mix_costs),
            header=Row(
                "", "line", "with caches+catalog", "without", "no edgemeter", "units with / without", ""
            ),
        )
    )
    print("\ncounted per request by the cost scenarios (real edge + credits code, DynamoDB Local):")
    print(
        render_table(
            counted_kind_rows(scenarios),
            header=Row(
                "edgemeter", "kind", "credits calls", "DynamoDB", "origin", "Lambda@Edge", "viewer statuses"
            ),
        )
    )
    print(
        f"\nmachine: {host['nproc']} CPUs, {host['cpu_model']}, Python {host['python']}, "
        f"load average {host['load_average_1m']:.1f} at the end; "
        f"prices as of {PRICES_RECORDED_ON}; hit ratio source: {hit_ratio_source}; "
        f"took {time.monotonic() - started:.0f} s"
    )
    document: dict[str, Any] = {
        "machine": host,
        "arguments": vars(arguments),
        "edge": asdict(edge),
        "edge_denials": asdict(denial),
        "credits": {**asdict(credits), "ratio_of_raw": credits.ratio_of_raw},
        "e2e": {
            **asdict(e2e),
            "mixed_s3_gets_per_download": e2e.mixed_s3_gets_per_download,
            "mixed_hit_ratio": e2e.mixed_hit_ratio,
        },
        "cost": {
            "prices_recorded_on": PRICES_RECORDED_ON,
            "per_download": asdict(per_download),
            "scenarios": [breakdown.to_json_dict() for breakdown in breakdowns],
            "corrected": {
                **corrected.to_json_dict(),
                "old_total": breakdowns[0].total,
                "prices_recorded_on": CORRECTED_PRICES_RECORDED_ON,
                "operating": asdict(operating_counts),
                "operating_measured": asdict(operating),
                "edge_wait_source": edge_wait_source,
            },
            "mix": {
                "traffic": asdict(mix),
                "cdn_hit_ratio": hit_ratio,
                "counted": asdict(scenarios),
                "dollars_per_million_requests": mix_costs.to_json_dict(),
            },
        },
        "scale": scale_document(scale) if scale is not None else None,
        "regions": [asdict(wait) for wait in regional_waits],
        "issue14": None
        if issue14 is None or issue14_cost is None
        else {
            **issue14.to_json_dict(),
            "cost_today": issue14_cost[0].to_json_dict(),
            "cost_issue14": issue14_cost[1].to_json_dict(),
        },
        "table": [asdict(row) for row in rows],
    }
    print(f"results: {write_results(document)}")


if __name__ == "__main__":
    main()
