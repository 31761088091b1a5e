"""A traffic mix priced with edgemeter's caches and catalog, without them, and without edgemeter.

Each kind of viewer request is driven through the real code and its calls are counted:

- the real Lambda@Edge handlers (``viewer_request``, ``origin_response``) on CloudFront events
  built by the local CDN's ``local.cdn.events``, their credits calls answered in-process by the
  real credits API (``CreditsApi``) on DynamoDB Local, the calls counted and timed at the
  transport; DynamoDB requests and billed units counted by ``bench.dynamodb_counting``;
- the origin is a counting fake that answers like S3 behind origin access control: 200 for an
  object it holds, 403 for a missing key (no ``s3:ListBucket``), and HEAD for the catalog.

Kinds of request in the mix (``TrafficMix``):

- *allowed download*: authorized and charged; only CDN cache misses reach the origin and the
  origin-response trigger (the hit ratio measured by the end-to-end run);
- *unknown key*: refused 403; the credits calls per request come from ``bench.edge_bench``'s
  denial run (negative cache on and off), the DynamoDB cost of one such call is counted here;
- *missing object*: each missing key is asked for ``requests_per_missing_object`` times within the
  catalog's tombstone lifetime. Without the catalog every request is charged, fetched from the
  origin (403), refunded by origin-response; with it, the first request per key goes that way and
  leaves a tombstone (after a catalog HEAD), every later one is refused 404 before any charge.

Two configurations of edgemeter (``EdgemeterConfiguration``): *with caches and catalog* (the edge's
negative caches, the credits service's key cache, the objects catalog, as deployed by default) and
*without* (all of them off: every request reaches the credits service, which reads the key every
time and never consults a catalog). The CDN's own cache is CloudFront's and works in both.
"""

from __future__ import annotations

import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench.cost import (
    CostBreakdown,
    RequestCounts,
    bare_origin_per_million_requests,
    cost_per_million_requests,
    weighted_breakdown,
)
from bench.credits_bench import stdout_discarded
from bench.dynamodb_counting import DynamoDBCounter, DynamoDBCounts, count_dynamodb
from bench.edge_bench import configure_bench_edge
from bench.inprocess import HandlerTransport, InProcessCredits
from bench.stats import median
from functions.catalog.access import ObjectAccessGate
from functions.catalog.authorize_guard import CatalogGuard
from functions.catalog.dynamodb_store import DynamoObjectCatalog, create_objects_table, delete_objects_table
from functions.catalog.entries import CatalogEntry, ListedObject, ObjectState, object_key_from_path
from functions.catalog.origin import ObjectHead, RestoreRequestOutcome
from functions.catalog.settings import CatalogSettings, RestoreTier
from functions.credits.app import CreditsApi
from functions.credits.data.tables import create_tables, delete_tables
from functions.credits.service import CreditsService
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.edge_auth import origin_response, runtime, viewer_request
from functions.edge_auth.credits_client import TransportResponse
from functions.edge_auth.settings import CacheSettings
from functions.shared.api_keys import generate_api_key
from local.cdn.events import (
    ORIGIN_GENERATED_RESPONSE_LIMIT,
    VIEWER_GENERATED_RESPONSE_LIMIT,
    DistributionConfig,
    EdgeRequest,
    EdgeResponse,
    EventType,
    build_request_event,
    build_response_event,
    new_request_id,
    parse_request_trigger_result,
    parse_response_trigger_result,
)
from local.dynamodb_local import LOCAL_CREDENTIALS, LOCAL_REGION

# S3 behind origin access control without s3:ListBucket answers 403 for a key it does not hold.
ORIGIN_MISSING_KEY_STATUS = 403
OBJECT_BYTES = 4 * 1024
DISTRIBUTION = DistributionConfig(distribution_domain_name="d111111abcdef8.cloudfront.net")


@dataclass(frozen=True, slots=True)
class TrafficMix:
    """Shares of viewer requests by kind (they add up to 1), and how often a missing key is asked for.

    The default: 90% allowed downloads, 5% from unknown or revoked keys, 5% for objects that do not
    exist; each missing key is asked for 100 times within the catalog's tombstone lifetime (one
    hour by default), as the edge's denial run asks 100 times per unknown key.
    """

    allowed_share: float = 0.90
    unknown_key_share: float = 0.05
    missing_object_share: float = 0.05
    requests_per_missing_object: int = 100

    def __post_init__(self) -> None:
        shares = (self.allowed_share, self.unknown_key_share, self.missing_object_share)
        if any(not 0.0 <= share <= 1.0 for share in shares):
            raise ValueError(f"every share must be between 0 and 1, not {shares}")
        if abs(sum(shares) - 1.0) > 1e-9:
            raise ValueError(f"the shares must add up to 1, not {sum(shares)}")
        if self.requests_per_missing_object < 1:
            raise ValueError("a missing object is asked for at least once")

    @classmethod
    def parse(cls, shares: str, requests_per_missing_object: int = 100) -> TrafficMix:
        """``"allowed,unknown_key,missing_object"`` shares, e.g. ``"0.9,0.05,0.05"``."""
        parts = [float(part) for part in shares.split(",")]
        if len(parts) != 3:
            raise ValueError(f"expected three shares (allowed,unknown_key,missing_object), got {shares!r}")
        return cls(parts[0], parts[1], parts[2], requests_per_missing_object)

    def describe(self) -> str:
        return (
            f"{self.allowed_share:.0%} allowed, {self.unknown_key_share:.0%} unknown key, "
            f"{self.missing_object_share:.0%} missing object ({self.requests_per_missing_object} "
            "requests per missing key)"
        )


@dataclass(frozen=True, slots=True)
class EdgemeterConfiguration:
    name: str
    caches: bool
    catalog: bool


WITH_CACHES_AND_CATALOG = EdgemeterConfiguration("with caches and catalog", caches=True, catalog=True)
WITHOUT_CACHES_AND_CATALOG = EdgemeterConfiguration("without caches and catalog", caches=False, catalog=False)


@dataclass(frozen=True, slots=True)
class StageCounts:
    """One Lambda@Edge trigger's share of a kind of request, totals over the counted requests."""

    invocations: int
    handler_ms_median: float  # wall time of the trigger, credits calls included (its billed duration)
    credits_calls: int
    dynamodb_requests: int
    dynamodb_operations: dict[str, int]
    billed_read_units: float
    billed_write_units: float


@dataclass(frozen=True, slots=True)
class KindFigures:
    """What ``requests`` viewer requests of one kind caused, counted."""

    kind: str
    requests: int
    viewer_request: StageCounts
    origin_response: StageCounts  # its invocations are the requests that reached the origin
    origin_gets: int
    origin_heads: int
    credits_call_ms_median: float
    viewer_statuses: dict[int, int]

    def request_counts(
        self, *, origin_fetch_ratio: float = 1.0, credits_call_ratio: float = 1.0
    ) -> RequestCounts:
        """Per viewer request. ``origin_fetch_ratio`` scales what happens at and after the origin
        (the CDN cache's miss ratio for downloads); ``credits_call_ratio`` scales the viewer
        trigger's credits calls and their DynamoDB work (the edge's negative cache for unknown keys)."""
        viewer, origin, n = self.viewer_request, self.origin_response, self.requests
        edge_own_ms = max(
            0.0, viewer.handler_ms_median - self.credits_call_ms_median * viewer.credits_calls / n
        )
        return RequestCounts(
            cloudfront_requests=1.0,
            viewer_request_invocations=viewer.invocations / n,
            viewer_request_ms=edge_own_ms
            + self.credits_call_ms_median * credits_call_ratio * viewer.credits_calls / n,
            origin_response_invocations=origin_fetch_ratio * origin.invocations / n,
            origin_response_ms=origin.handler_ms_median,
            credits_api_calls=(
                credits_call_ratio * viewer.credits_calls + origin_fetch_ratio * origin.credits_calls
            )
            / n,
            credits_lambda_ms=self.credits_call_ms_median,
            dynamodb_write_units=(
                credits_call_ratio * viewer.billed_write_units
                + origin_fetch_ratio * origin.billed_write_units
            )
            / n,
            dynamodb_read_units=(
                credits_call_ratio * viewer.billed_read_units + origin_fetch_ratio * origin.billed_read_units
            )
            / n,
            s3_gets=origin_fetch_ratio * self.origin_gets / n,
            s3_heads=origin_fetch_ratio * self.origin_heads / n,
        )


@dataclass(frozen=True, slots=True)
class ConfigurationFigures:
    configuration: EdgemeterConfiguration
    allowed: KindFigures
    unknown_key_call: KindFigures  # one credits call per request: the edge's negative cache off
    missing_object: KindFigures


@dataclass(frozen=True, slots=True)
class CostScenarioFigures:
    mix: TrafficMix
    with_caches_and_catalog: ConfigurationFigures
    without_caches_and_catalog: ConfigurationFigures


# --- the counting fakes ---------------------------------------------------------------------------


@dataclass
class CountingOrigin:
    """The S3 origin as the CDN (GET) and the catalog (HEAD) see it, counting both."""

    objects: set[str] = field(default_factory=set)
    gets: int = 0
    heads: int = 0

    def get(self, key: str) -> int:
        self.gets += 1
        return 200 if key in self.objects else ORIGIN_MISSING_KEY_STATUS

    def head(self, key: str) -> ObjectHead | None:
        self.heads += 1
        if key not in self.objects:
            return None
        listed = ListedObject(
            key=key,
            size=OBJECT_BYTES,
            etag="bench",
            last_modified=datetime.now(UTC),
            storage_class="STANDARD",
        )
        return ObjectHead(listed=listed, restore=None)

    def request_restore(self, key: str, *, tier: RestoreTier, days: int | None) -> RestoreRequestOutcome:
        raise RuntimeError("the cost scenarios hold no archived objects: nothing is restored")

    def list_objects(self, prefix: str = "") -> Iterator[ListedObject]:
        raise RuntimeError("the cost scenarios never list the origin")


@dataclass
class TimedCreditsTransport:
    """The edge's credits transport answered by the credits API in-process; counts and times calls."""

    inner: HandlerTransport
    calls: int = 0
    durations_ms: list[float] = field(default_factory=list)

    def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, deadline: float
    ) -> TransportResponse:
        began = time.perf_counter()
        try:
            return self.inner.send(method, path, headers, body, deadline)
        finally:
            self.calls += 1
            self.durations_ms.append((time.perf_counter() - began) * 1000)


# --- driving one kind of request -------------------------------------------------------------------


@dataclass
class _StageTally:
    invocations: int = 0
    handler_ms: list[float] = field(default_factory=list)
    credits_calls: int = 0
    dynamodb_requests: int = 0
    dynamodb_operations: Counter[str] = field(default_factory=Counter)
    billed_read_units: float = 0.0
    billed_write_units: float = 0.0

    def add(
        self, handler_ms: float, credits_calls: int, before: DynamoDBCounts, after: DynamoDBCounts
    ) -> None:
        self.invocations += 1
        self.handler_ms.append(handler_ms)
        self.credits_calls += credits_calls
        self.dynamodb_requests += after.http_attempts - before.http_attempts
        self.dynamodb_operations.update(
            {name: count - before.operations.get(name, 0) for name, count in after.operations.items()}
        )
        self.billed_read_units += after.billed_read_units - before.billed_read_units
        self.billed_write_units += after.billed_write_units - before.billed_write_units

    def figures(self) -> StageCounts:
        return StageCounts(
            invocations=self.invocations,
            handler_ms_median=median(self.handler_ms) if self.handler_ms else 0.0,
            credits_calls=self.credits_calls,
            dynamodb_requests=self.dynamodb_requests,
            dynamodb_operations={name: count for name, count in self.dynamodb_operations.items() if count},
            billed_read_units=self.billed_read_units,
            billed_write_units=self.billed_write_units,
        )


@dataclass
class _Harness:
    counter: DynamoDBCounter
    transport: TimedCreditsTransport
    origin: CountingOrigin

    def drive(self, kind: str, requests: list[tuple[str, str]]) -> KindFigures:
        """Each (api_key, path) through viewer-request, then (if forwarded) origin and origin-response."""
        viewer, origin = _StageTally(), _StageTally()
        statuses: Counter[int] = Counter()
        gets_before, heads_before = self.origin.gets, self.origin.heads
        first_credits_call = len(self.transport.durations_ms)
        for api_key, path in requests:
            request_id = new_request_id()
            incoming = EdgeRequest(
                method="GET",
                uri=path,
                querystring="",
                client_ip="203.0.113.178",
                headers=[("Host", DISTRIBUTION.distribution_domain_name), ("x-api-key", api_key)],
            )
            event = build_request_event(EventType.VIEWER_REQUEST, DISTRIBUTION, request_id, incoming)
            mark = self._mark()
            viewer_result = viewer_request.handler(event)
            self._record(viewer, mark)
            forwarded = parse_request_trigger_result(
                viewer_result, incoming, generated_limit=VIEWER_GENERATED_RESPONSE_LIMIT
            )
            if isinstance(forwarded, EdgeResponse):
                statuses[forwarded.status] += 1
                continue
            status = self.origin.get(object_key_from_path(forwarded.uri))
            from_origin = EdgeResponse(status, "OK" if status == 200 else "Forbidden", [])
            response_event = build_response_event(
                EventType.ORIGIN_RESPONSE, DISTRIBUTION, request_id, request=forwarded, response=from_origin
            )
            mark = self._mark()
            origin_result = origin_response.handler(response_event)
            self._record(origin, mark)
            answered = parse_response_trigger_result(
                origin_result, from_origin, generated_limit=ORIGIN_GENERATED_RESPONSE_LIMIT
            )
            statuses[answered.status] += 1
        return KindFigures(
            kind=kind,
            requests=len(requests),
            viewer_request=viewer.figures(),
            origin_response=origin.figures(),
            origin_gets=self.origin.gets - gets_before,
            origin_heads=self.origin.heads - heads_before,
            credits_call_ms_median=median(self.transport.durations_ms[first_credits_call:])
            if len(self.transport.durations_ms) > first_credits_call
            else 0.0,
            viewer_statuses=dict(statuses),
        )

    def _mark(self) -> _Mark:
        return _Mark(self.counter.snapshot(), self.transport.calls, time.perf_counter())

    def _record(self, stage: _StageTally, mark: _Mark) -> None:
        """One trigger invocation since ``mark``: its wall time, credits calls and DynamoDB work."""
        elapsed_ms = (time.perf_counter() - mark.started) * 1000
        stage.add(
            elapsed_ms, self.transport.calls - mark.credits_calls, mark.dynamodb, self.counter.snapshot()
        )


@dataclass(frozen=True, slots=True)
class _Mark:
    dynamodb: DynamoDBCounts
    credits_calls: int
    started: float


def _configure_edge(transport: TimedCreditsTransport, *, caches: bool) -> None:
    configure_bench_edge(
        transport,
        CacheSettings() if caches else CacheSettings(unknown_key_ttl_seconds=0, empty_account_ttl_seconds=0),
    )


def _credits_settings(dynamodb_endpoint: str, suffix: str, *, caches: bool) -> Settings:
    return Settings(
        users_table=f"bench-cost-users-{suffix}",
        credits_table=f"bench-cost-credits-{suffix}",
        region=LOCAL_REGION,
        dynamodb_endpoint=dynamodb_endpoint,
        # The credits service's per-container cache of key facts is one of edgemeter's caches (0: off).
        key_cache_ttl_seconds=Settings().key_cache_ttl_seconds if caches else 0,
    )


def _run_configuration(
    configuration: EdgemeterConfiguration,
    dynamodb_endpoint: str,
    *,
    mix: TrafficMix,
    allowed_requests: int,
    unknown_key_calls: int,
    missing_objects: int,
) -> ConfigurationFigures:
    suffix = secrets.token_hex(4)
    settings = _credits_settings(dynamodb_endpoint, suffix, caches=configuration.caches)
    catalog_settings = CatalogSettings(
        bucket="bench-origin",
        objects_table=f"bench-cost-objects-{suffix}",
        region=LOCAL_REGION,
        dynamodb_endpoint=dynamodb_endpoint,
    )
    origin = CountingOrigin()
    allowed_paths = [f"/bench/object-{index:03d}.bin" for index in range(10)]
    origin.objects.update(object_key_from_path(path) for path in allowed_paths)
    with count_dynamodb() as counter, stdout_discarded():
        create_tables(settings)
        guard: CatalogGuard | None = None
        if configuration.catalog:
            create_objects_table(catalog_settings)
            guard = CatalogGuard(
                ObjectAccessGate(DynamoObjectCatalog(), origin, catalog_settings), catalog_settings
            )
            # The catalog knows the bucket's objects (``edgemeter catalog sync`` and S3 events).
            for path in allowed_paths:
                DynamoObjectCatalog().put(
                    CatalogEntry(
                        key=object_key_from_path(path),
                        state=ObjectState.READY,
                        updated_at=datetime.now(UTC),
                        size=OBJECT_BYTES,
                        storage_class="STANDARD",
                    )
                )
        api = CreditsApi(CreditsService(DynamoDBCreditsStore(settings), settings, catalog=guard), settings)
        credits = InProcessCredits(api.handle)
        transport = TimedCreditsTransport(HandlerTransport(credits))
        harness = _Harness(counter=counter, transport=transport, origin=origin)
        missing_requests = missing_objects * mix.requests_per_missing_object
        _, api_key = credits.funded_key(
            f"bench-cost-{suffix}", allowed_requests + missing_requests + len(allowed_paths) + 10
        )
        try:
            _configure_edge(transport, caches=configuration.caches)
            # Unmeasured: first-use connections and imports on every path (a missing key included).
            harness.drive("warm-up", [(api_key, path) for path in allowed_paths])
            harness.drive("warm-up", [(api_key, f"/bench/warm-up-missing-{suffix}.bin")] * 2)
            allowed = harness.drive(
                "allowed download",
                [(api_key, allowed_paths[index % len(allowed_paths)]) for index in range(allowed_requests)],
            )
            missing_paths = [f"/bench/missing-{suffix}-{index:03d}.bin" for index in range(missing_objects)]
            missing = harness.drive(
                "missing object",
                [(api_key, missing_paths[index % missing_objects]) for index in range(missing_requests)],
            )
            # Every unknown-key request a counted credits call: the negative cache off for this part.
            _configure_edge(transport, caches=False)
            unknown = harness.drive(
                "unknown key", [(generate_api_key(), allowed_paths[0]) for _ in range(unknown_key_calls)]
            )
        finally:
            runtime.reset_runtime()
            delete_tables(settings)
            if configuration.catalog:
                delete_objects_table(catalog_settings)
    return ConfigurationFigures(
        configuration=configuration, allowed=allowed, unknown_key_call=unknown, missing_object=missing
    )


@contextmanager
def _local_credentials() -> Iterator[None]:
    """DynamoDB Local takes any credentials; set some when the environment has none."""
    added = {
        name: value
        for name, value in (
            ("AWS_ACCESS_KEY_ID", LOCAL_CREDENTIALS["aws_access_key_id"]),
            ("AWS_SECRET_ACCESS_KEY", LOCAL_CREDENTIALS["aws_secret_access_key"]),
        )
        if name not in os.environ
    }
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def run_cost_scenarios(
    dynamodb_endpoint: str,
    *,
    mix: TrafficMix,
    allowed_requests: int,
    unknown_key_calls: int,
    missing_objects: int,
) -> CostScenarioFigures:
    with _local_credentials():
        figures = {
            configuration.name: _run_configuration(
                configuration,
                dynamodb_endpoint,
                mix=mix,
                allowed_requests=allowed_requests,
                unknown_key_calls=unknown_key_calls,
                missing_objects=missing_objects,
            )
            for configuration in (WITH_CACHES_AND_CATALOG, WITHOUT_CACHES_AND_CATALOG)
        }
    return CostScenarioFigures(
        mix=mix,
        with_caches_and_catalog=figures[WITH_CACHES_AND_CATALOG.name],
        without_caches_and_catalog=figures[WITHOUT_CACHES_AND_CATALOG.name],
    )


# --- pricing the mix ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MixCosts:
    """$ per million viewer requests of the mix, three ways, and each kind priced on its own."""

    with_caches_and_catalog: CostBreakdown
    without_caches_and_catalog: CostBreakdown
    no_edgemeter: CostBreakdown
    by_kind: dict[str, tuple[CostBreakdown, CostBreakdown]]  # kind -> (with, without)

    @property
    def ratio_without_to_with(self) -> float:
        return self.without_caches_and_catalog.total / self.with_caches_and_catalog.total

    def to_json_dict(self) -> dict[str, object]:
        return {
            "with_caches_and_catalog": self.with_caches_and_catalog.to_json_dict(),
            "without_caches_and_catalog": self.without_caches_and_catalog.to_json_dict(),
            "no_edgemeter": self.no_edgemeter.to_json_dict(),
            "ratio_without_to_with": self.ratio_without_to_with,
            "by_kind": {
                kind: {"with": with_.to_json_dict(), "without": without.to_json_dict()}
                for kind, (with_, without) in self.by_kind.items()
            },
        }


ALLOWED, UNKNOWN_KEY, MISSING_OBJECT = "allowed download", "unknown key", "missing object"


def price_mix(
    mix: TrafficMix,
    figures: CostScenarioFigures,
    *,
    cdn_hit_ratio: float,
    unknown_key_calls_per_request_cached: float,
    unknown_key_calls_per_request_uncached: float,
) -> MixCosts:
    """Dollars per million requests of ``mix``: each kind's counted figures priced, then weighted.

    Allowed downloads reach the origin on CDN misses only; unknown-key requests make the credits
    calls the edge's denial run counted (negative cache on: with; off: without); missing objects
    are never served from the CDN cache (edgemeter marks the refunded error ``no-store``; a 404
    the edge generates is answered before the cache)."""
    miss_ratio = 1.0 - cdn_hit_ratio
    shares = {
        ALLOWED: mix.allowed_share,
        UNKNOWN_KEY: mix.unknown_key_share,
        MISSING_OBJECT: mix.missing_object_share,
    }

    def kinds(
        configuration: ConfigurationFigures, unknown_key_calls_per_request: float
    ) -> dict[str, CostBreakdown]:
        name = configuration.configuration.name
        return {
            ALLOWED: cost_per_million_requests(
                f"{ALLOWED}, {name}", configuration.allowed.request_counts(origin_fetch_ratio=miss_ratio)
            ),
            UNKNOWN_KEY: cost_per_million_requests(
                f"{UNKNOWN_KEY}, {name}",
                configuration.unknown_key_call.request_counts(
                    credits_call_ratio=unknown_key_calls_per_request
                ),
            ),
            MISSING_OBJECT: cost_per_million_requests(
                f"{MISSING_OBJECT}, {name}", configuration.missing_object.request_counts()
            ),
        }

    with_kinds = kinds(figures.with_caches_and_catalog, unknown_key_calls_per_request_cached)
    without_kinds = kinds(figures.without_caches_and_catalog, unknown_key_calls_per_request_uncached)
    # No edgemeter: nothing checks keys, so unknown-key requests are downloads like the others;
    # a missing object goes to S3 every time (CloudFront's short error caching is left out).
    s3_gets_without_edgemeter = (
        mix.allowed_share + mix.unknown_key_share
    ) * miss_ratio + mix.missing_object_share
    return MixCosts(
        with_caches_and_catalog=weighted_breakdown(
            f"edgemeter {WITH_CACHES_AND_CATALOG.name}", [(shares[kind], with_kinds[kind]) for kind in shares]
        ),
        without_caches_and_catalog=weighted_breakdown(
            f"edgemeter {WITHOUT_CACHES_AND_CATALOG.name}",
            [(shares[kind], without_kinds[kind]) for kind in shares],
        ),
        no_edgemeter=bare_origin_per_million_requests(s3_gets_without_edgemeter),
        by_kind={kind: (with_kinds[kind], without_kinds[kind]) for kind in shares},
    )
