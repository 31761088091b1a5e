"""``make bench``'s scale section: DynamoDB as it behaves at scale, and the edge's wait per region.

All of it drives the real credits service (``bench.scale_harness``, the public ``build_api``) on
DynamoDB Local under the partition-faithful layer (``local.dynamodb_capacity``):

- (a) *hottest partition per 1,000 charges/s*: one account's downloads, then uploads, metered per
  partition key (no limits); the busiest partition's write and read units scaled to 1,000 charges/s;
- (b) *one account's highest zero-throttle rate*: paced charges of one account at a rate R for a
  trial, the layer at ``limits.scale``; R doubles from ``START_RATE`` until a trial sees a throttle,
  then bisects; the last rate with no throttled attempt, divided by the scale, is the real figure;
- (c) *one hot object, many keys*: the same search with every charge for one catalogued object,
  spread over many accounts (so no account partition is the limit), at a tenth of the scale
  (``HOT_OBJECT_SCALE_DIVISOR``: the real rate is in reach of this machine there);
- (d) *the edge's wait per region*: the real ``viewer_request`` handler, its credits call answered
  in-process after one round trip drawn from ``local.regions`` between the viewer's edge region
  and today's single credits region; viewer-request wall time p50/p99 per region, and what it adds
  over the same request with no network in between, each regional request paired with a baseline
  request just before it (the median of the differences, so a loaded machine's noise cancels).

A trial is open-loop: arrivals every 1/R seconds, served by a few threads (one credits container
each, as Lambda scales out), so a slow (retried) charge does not slow the arrivals. A rate the
driver cannot reach on this machine is reported as a lower bound. The burst bucket (``burst_seconds``)
lets a trial slightly over the limit pass while the burst lasts: a trial of T seconds resolves the
limit to about (1 + burst / (units per charge x T)), stated with the figures.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bench.edge_bench import configure_bench_edge, viewer_request_event
from bench.inprocess import HandlerTransport
from bench.scale_harness import Authorization, scale_credits
from bench.stats import percentile
from functions.edge_auth import runtime, viewer_request
from functions.edge_auth.credits_client import TransportResponse
from local.cdn.events import new_request_id
from local.dynamodb_capacity import CapacityLayer, CapacitySnapshot, PartitionLimits, partition_capacity
from local.regions import DEFAULT_CREDITS_REGION, EDGE_REGIONS, RegionLatency, round_trip

# Where the doubling starts, charges/s at the layer's scale: one account (b) and one hot object (c).
ONE_ACCOUNT_START_RATE = 0.5
HOT_OBJECT_START_RATE = 1.0
HOT_OBJECT_PATH = "/scale/hot-object.bin"
UPLOAD_BYTES = 1024 * 1024  # a 1 MiB upload: 2 credits at the default prices
DRIVER_THREADS = 4
# A trial whose driver delivered less than this share of its target rate measured the machine.
DRIVER_SHORTFALL = 0.9
# (c) runs at a tenth of the section's scale: a hot object's read costs 0.5 RCU, so at 1/100 its
# partition takes 60 authorizations/s, more than the in-process service delivers on a shared 2-core
# machine (20-50 ms each); at 1/1000 it takes 6/s. Its accounts are many, so none of their
# partitions (1 WCU/s each at 1/1000, 4 WCU a charge) is the limit.
HOT_OBJECT_SCALE_DIVISOR = 10
# sharding (issue 14): (b) again on one account spread over this many balance shards (split and
# evened before its trials, outside the limits), next to today's single-item layout.
SHARDED_ACCOUNT_SHARDS = 64


@dataclass(frozen=True, slots=True)
class HottestPartition:
    kind: str  # "download" | "upload"
    charges: int
    write_partition: str  # the partition key's kind (``account#``), never a key digest
    write_units_per_thousand_charges_per_second: float
    read_partition: str
    read_units_per_thousand_charges_per_second: float
    write_units_per_charge: float  # every partition together
    read_units_per_charge: float


@dataclass(frozen=True, slots=True)
class RateSearch:
    scenario: str
    scale: float
    trial_seconds: float
    trials: list[dict[str, object]]  # rate, throttled attempts (and where), achieved rate, refusals
    sustained_rate_at_scale: float  # the highest trial rate with zero throttled attempts
    first_throttled_rate_at_scale: float | None
    driver_limited: bool  # the machine, not the layer, stopped the search: a lower bound

    @property
    def real_rate(self) -> float:
        return self.sustained_rate_at_scale / self.scale


@dataclass(frozen=True, slots=True)
class RegionWait:
    edge_region: str
    credits_region: str
    requests: int
    round_trip_p50_ms: float  # the table's
    wall_p50_ms: float
    wall_p99_ms: float
    # Percentiles of (this request - the baseline request just before it): the wait, paired.
    added_p50_ms: float
    added_p99_ms: float
    refused: int = 0  # requests not allowed (left out of the times)


@dataclass(frozen=True, slots=True)
class ScaleFigures:
    limits: str
    hottest: list[HottestPartition]
    one_account: RateSearch
    hot_object: RateSearch
    baseline_wall_p50_ms: float
    baseline_wall_p99_ms: float
    region_waits: list[RegionWait] = field(default_factory=list)
    one_sharded_account: RateSearch | None = None  # sharding (issue 14)


def partition_kind(partition_key: str) -> str:
    """``S:account#acct_1`` -> ``account#``: what a partition is, without which (no digests shown)."""
    value = partition_key.split(":", 1)[-1]
    return value.split("#", 1)[0] + "#" if "#" in value else value


# --- (a) hottest partition --------------------------------------------------------------------------


def _hottest(kind: str, charges: int, snapshot: CapacitySnapshot) -> HottestPartition:
    write_key, write_units = snapshot.hottest("write")
    read_key, read_units = snapshot.hottest("read")
    per_thousand = 1000 / charges
    return HottestPartition(
        kind=kind,
        charges=charges,
        write_partition=partition_kind(write_key[1].partition_key) if write_key else "",
        write_units_per_thousand_charges_per_second=write_units * per_thousand,
        read_partition=partition_kind(read_key[1].partition_key) if read_key and read_units else "none",
        read_units_per_thousand_charges_per_second=read_units * per_thousand,
        write_units_per_charge=snapshot.total("write") / charges,
        read_units_per_charge=snapshot.total("read") / charges,
    )


def measure_hottest_partitions(dynamodb_endpoint: str, charges: int) -> list[HottestPartition]:
    """One account's downloads, then uploads, metered per partition (the catalog on, as deployed)."""
    with (
        partition_capacity(None) as layer,
        scale_credits(dynamodb_endpoint, catalog_paths=(HOT_OBJECT_PATH,)) as credits,
    ):
        ((_, api_key),) = credits.funded_keys(1, charges * 4, "hottest")
        credits.authorize(api_key, HOT_OBJECT_PATH)  # the key's first use in this container

        def download(index: int) -> Authorization:
            return credits.authorize(api_key, HOT_OBJECT_PATH)

        def upload(index: int) -> Authorization:
            return credits.authorize(
                api_key, f"/scale/upload-{index}.bin", method="PUT", upload_bytes=UPLOAD_BYTES
            )

        results = []
        for kind, call in (("download", download), ("upload", upload)):
            layer.reset()
            replies = [call(index) for index in range(charges)]
            if not all(reply.allowed for reply in replies):
                raise RuntimeError(f"a metered {kind} was refused: {Counter(r.status for r in replies)}")
            results.append(_hottest(kind, charges, layer.snapshot()))
    return results


def measure_hottest_sharded(dynamodb_endpoint: str, charges: int, shards: int) -> HottestPartition:
    """(a) for one account split over ``shards`` balance shards (issue 14): its downloads metered
    per partition, each container warmed on the account first (it learns the layout)."""
    with (
        partition_capacity(None) as layer,
        scale_credits(dynamodb_endpoint, catalog_paths=(HOT_OBJECT_PATH,)) as credits,
    ):
        ((account_id, api_key),) = credits.funded_keys(1, charges * 4, "hottest-sharded")
        rebalancer = credits.shard_rebalancer()
        rebalancer.set_count(account_id, shards)
        rebalancer.rebalance(account_id)
        credits.authorize(api_key, HOT_OBJECT_PATH)
        layer.reset()
        replies = [credits.authorize(api_key, HOT_OBJECT_PATH) for _ in range(charges)]
        if not all(reply.allowed for reply in replies):
            raise RuntimeError(f"a metered download was refused: {Counter(r.status for r in replies)}")
        return _hottest("sharded download", charges, layer.snapshot())


# --- (b), (c) the highest zero-throttle rate --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Trial:
    rate: float
    throttled_attempts: int
    achieved_rate: float
    refused: int
    throttled_partitions: dict[str, int]  # partition kind -> throttled attempts

    def as_dict(self) -> dict[str, object]:
        return {
            "rate": self.rate,
            "throttled_attempts": self.throttled_attempts,
            "achieved_rate": self.achieved_rate,
            "refused": self.refused,
            "throttled_partitions": self.throttled_partitions,
        }


def throttled_partition_kinds(snapshot: CapacitySnapshot) -> dict[str, int]:
    kinds: Counter[str] = Counter()
    for (_, partition), usage in snapshot.usage.items():
        if usage.throttled_attempts:
            index = f" ({partition.index})" if partition.index else ""
            kinds[f"{partition.table.split('-')[1]}:{partition_kind(partition.partition_key)}{index}"] += (
                usage.throttled_attempts
            )
    return dict(kinds)


def warmed_driver(warm: Callable[[], object]) -> ThreadPoolExecutor:
    """The driver's threads, each started and warmed once (``warm`` runs on every one of them): each
    thread is one credits container for the whole search, as warm Lambda containers are."""
    pool = ThreadPoolExecutor(max_workers=DRIVER_THREADS)
    everyone_started = threading.Barrier(DRIVER_THREADS)

    def start() -> None:
        everyone_started.wait(timeout=60)  # four tasks, four distinct threads
        warm()

    for future in [pool.submit(start) for _ in range(DRIVER_THREADS)]:
        future.result()
    return pool


def _on_every_thread(pool: ThreadPoolExecutor, work: Callable[[], object]) -> None:
    """Run ``work`` once on each of the driver's threads (each is one container)."""
    everyone_started = threading.Barrier(DRIVER_THREADS)

    def run() -> None:
        everyone_started.wait(timeout=60)
        work()

    for future in [pool.submit(run) for _ in range(DRIVER_THREADS)]:
        future.result()


def _run_trial(
    layer: CapacityLayer,
    pool: ThreadPoolExecutor,
    charge: Callable[[int], Authorization],
    rate: float,
    seconds: float,
) -> _Trial:
    """Arrivals every 1/rate s for ``seconds``; throttled attempts counted by the layer."""
    layer.reset()
    arrivals = max(4, round(rate * seconds))
    began = time.monotonic()
    futures = []
    for index in range(arrivals):
        delay = began + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        futures.append(pool.submit(charge, index))
    replies = [future.result() for future in futures]
    elapsed = time.monotonic() - began
    snapshot = layer.snapshot()
    return _Trial(
        rate=rate,
        throttled_attempts=snapshot.throttled_attempts,
        throttled_partitions=throttled_partition_kinds(snapshot),
        # Served on time, the last reply comes about one service time after the last arrival, at
        # ``arrivals / rate``; a driver that fell behind took longer.
        achieved_rate=arrivals / max(elapsed, arrivals / rate),
        refused=sum(not reply.allowed for reply in replies),
    )


def _search(
    scenario: str,
    layer: CapacityLayer,
    limits: PartitionLimits,
    new_charge: Callable[[], Callable[[int], Authorization]],
    *,
    pool: ThreadPoolExecutor,
    start_rate: float,
    trial_seconds: float,
    bisections: int,
) -> RateSearch:
    """Double the rate until a trial is throttled, then bisect between the last clean and first throttled."""
    trials: list[_Trial] = []
    good, bad = 0.0, None
    rate = start_rate
    while bad is None:
        trial = _trial(layer, pool, limits, new_charge(), rate=rate, seconds=trial_seconds)
        trials.append(trial)
        # A clean trial whose driver could not keep its pace measured the machine, not the partition
        # (a throttled one is slow because of the throttling: its retries back off).
        if trial.achieved_rate < DRIVER_SHORTFALL * rate and trial.throttled_attempts == 0:
            return _rate_search(
                scenario,
                limits=limits,
                trial_seconds=trial_seconds,
                trials=trials,
                good=good,
                bad=None,
                driver_limited=True,
            )
        if trial.throttled_attempts:
            bad = rate
        else:
            good, rate = rate, rate * 2
    for _ in range(bisections):
        rate = (good + bad) / 2
        trial = _trial(layer, pool, limits, new_charge(), rate=rate, seconds=trial_seconds)
        trials.append(trial)
        if trial.throttled_attempts:
            bad = rate
        else:
            good = rate
    return _rate_search(
        scenario,
        limits=limits,
        trial_seconds=trial_seconds,
        trials=trials,
        good=good,
        bad=bad,
        driver_limited=False,
    )


def _trial(
    layer: CapacityLayer,
    pool: ThreadPoolExecutor,
    limits: PartitionLimits,
    charge: Callable[[int], Authorization],
    *,
    rate: float,
    seconds: float,
) -> _Trial:
    # The buckets start each trial full, whatever came before.
    time.sleep(limits.burst_seconds + 0.1)
    return _run_trial(layer, pool, charge, rate, seconds)


def _rate_search(
    scenario: str,
    *,
    limits: PartitionLimits,
    trial_seconds: float,
    trials: list[_Trial],
    good: float,
    bad: float | None,
    driver_limited: bool,
) -> RateSearch:
    return RateSearch(
        scenario=scenario,
        scale=limits.scale,
        trial_seconds=trial_seconds,
        trials=[trial.as_dict() for trial in trials],
        sustained_rate_at_scale=good,
        first_throttled_rate_at_scale=bad,
        driver_limited=driver_limited,
    )


def search_one_account(
    dynamodb_endpoint: str, limits: PartitionLimits, *, trial_seconds: float, bisections: int
) -> RateSearch:
    """(b): each trial a fresh account (a fresh partition), every charge a download of one object."""
    with partition_capacity(limits) as layer, scale_credits(dynamodb_endpoint) as credits:
        with layer.limits_paused():
            ((_, warm_key),) = credits.funded_keys(1, 10_000, "one-account-warm")
            pool = warmed_driver(lambda: credits.authorize(warm_key, "/scale/warm.bin"))

        def new_charge() -> Callable[[int], Authorization]:
            with layer.limits_paused():
                ((_, api_key),) = credits.funded_keys(1, 10_000, "one-account")
            return lambda index: credits.authorize(api_key, f"/scale/object-{index % 10}.bin")

        with pool:
            return _search(
                "one account",
                layer,
                limits,
                new_charge,
                pool=pool,
                start_rate=ONE_ACCOUNT_START_RATE,
                trial_seconds=trial_seconds,
                bisections=bisections,
            )


def search_one_sharded_account(
    dynamodb_endpoint: str, limits: PartitionLimits, *, shards: int, trial_seconds: float, bisections: int
) -> RateSearch:
    """(b) on the sharded layout (issue 14): each trial a fresh account split over ``shards``."""
    with partition_capacity(limits) as layer, scale_credits(dynamodb_endpoint) as credits:
        with layer.limits_paused():
            ((_, warm_key),) = credits.funded_keys(1, 10_000, "sharded-account-warm")
            pool = warmed_driver(lambda: credits.authorize(warm_key, "/scale/warm.bin"))
            rebalancer = credits.shard_rebalancer()

        def new_charge() -> Callable[[int], Authorization]:
            with layer.limits_paused():
                ((account_id, api_key),) = credits.funded_keys(1, 100_000, "one-sharded-account")
                rebalancer.set_count(account_id, shards)
                rebalancer.rebalance(account_id)
                # Each container's first charge of an account it has not seen goes to shard 0 and
                # learns the layout there (and caches the key): warm containers, as a hot account
                # has, so the trial measures the steady state, not four containers' first charge.
                _on_every_thread(pool, lambda: credits.authorize(api_key, "/scale/warm.bin"))
            return lambda index: credits.authorize(api_key, f"/scale/object-{index % 10}.bin")

        with pool:
            return _search(
                f"one account over {shards} balance shards",
                layer,
                limits,
                new_charge,
                pool=pool,
                start_rate=ONE_ACCOUNT_START_RATE,
                trial_seconds=trial_seconds,
                bisections=bisections,
            )


def search_hot_object(
    dynamodb_endpoint: str, limits: PartitionLimits, *, accounts: int, trial_seconds: float, bisections: int
) -> RateSearch:
    """(c): one catalogued object, every charge from the next of ``accounts`` accounts' keys, at a tenth
    of ``limits``' scale (``HOT_OBJECT_SCALE_DIVISOR``)."""
    limits = PartitionLimits(
        scale=limits.scale / HOT_OBJECT_SCALE_DIVISOR, burst_seconds=limits.burst_seconds
    )
    with (
        partition_capacity(limits) as layer,
        scale_credits(dynamodb_endpoint, catalog_paths=(HOT_OBJECT_PATH,)) as credits,
    ):
        with layer.limits_paused():
            keys = [api_key for _, api_key in credits.funded_keys(accounts, 10_000, "hot-object")]
            # Every driver thread's container has used every key (the key cache warm, as at scale).
            pool = warmed_driver(lambda: [credits.authorize(key, HOT_OBJECT_PATH) for key in keys])

        # Each trial goes on round the accounts where the last one stopped: an account charged at the
        # end of one trial must not be charged again at the start of the next (1 WCU/s at 1/1000).
        position = [0]

        def new_charge() -> Callable[[int], Authorization]:
            start = position[0]

            def charge(index: int) -> Authorization:
                position[0] = max(position[0], start + index + 1)
                return credits.authorize(keys[(start + index) % len(keys)], HOT_OBJECT_PATH)

            return charge

        with pool:
            return _search(
                "one hot object, many keys",
                layer,
                limits,
                new_charge,
                pool=pool,
                start_rate=HOT_OBJECT_START_RATE,
                trial_seconds=trial_seconds,
                bisections=bisections,
            )


# --- (d) the edge's wait per region ------------------------------------------------------------------


@dataclass
class RegionalTransport:
    """The credits call from ``edge_region``: one sampled round trip, then the in-process service."""

    inner: HandlerTransport
    latency: RegionLatency
    edge_region: str | None = None
    credits_region: str = DEFAULT_CREDITS_REGION

    def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, deadline: float
    ) -> TransportResponse:
        if self.edge_region is not None:
            self.latency.wait(self.edge_region, self.credits_region)
        return self.inner.send(method, path, headers, body, deadline)


def _viewer_wall_ms(api_key: str) -> float | None:
    """One allowed viewer request's wall time, or None when it was not allowed (a 503 from a loaded
    machine's credits call is not a network wait)."""
    event = viewer_request_event(api_key, new_request_id())
    began = time.perf_counter()
    result = viewer_request.handler(event)
    return None if "status" in result else (time.perf_counter() - began) * 1000


@dataclass
class _PairedWalls:
    """Each regional request right after a baseline one: the pair shares the machine's moment, so the
    median of their differences is the wait, not the neighbours' load."""

    baseline: list[float] = field(default_factory=list)
    regional: list[float] = field(default_factory=list)
    differences: list[float] = field(default_factory=list)
    refused: int = 0

    def measure(self, transport: RegionalTransport, api_key: str, edge_region: str, requests: int) -> None:
        for _ in range(requests):
            transport.edge_region = None
            base = _viewer_wall_ms(api_key)
            transport.edge_region = edge_region
            far = _viewer_wall_ms(api_key)
            if base is None or far is None:
                self.refused += 1
                continue
            self.baseline.append(base)
            self.regional.append(far)
            self.differences.append(far - base)


def _region_wait(edge_region: str, credits_region: str, walls: _PairedWalls, requests: int) -> RegionWait:
    if not walls.differences:
        raise RuntimeError(f"no viewer request from {edge_region} was allowed ({walls.refused} refused)")
    return RegionWait(
        edge_region=edge_region,
        credits_region=credits_region,
        requests=requests,
        round_trip_p50_ms=round_trip(edge_region, credits_region).p50_ms,
        wall_p50_ms=percentile(walls.regional, 0.5),
        wall_p99_ms=percentile(walls.regional, 0.99),
        added_p50_ms=percentile(walls.differences, 0.5),
        added_p99_ms=percentile(walls.differences, 0.99),
        refused=walls.refused,
    )


def measure_region_waits(
    dynamodb_endpoint: str, *, requests: int, credits_region: str = DEFAULT_CREDITS_REGION
) -> tuple[float, float, list[RegionWait]]:
    """Baseline wall p50/p99 (no network) and each edge region's viewer-request wall time and wait."""
    with scale_credits(dynamodb_endpoint) as credits:
        ((_, api_key),) = credits.funded_keys(1, 2 * requests * len(EDGE_REGIONS) + 20, "regions")
        transport = RegionalTransport(HandlerTransport(credits.admin), RegionLatency(), None, credits_region)
        configure_bench_edge(transport)
        try:
            for _ in range(5):
                _viewer_wall_ms(api_key)  # warm: the key's first use, connections, imports
            baseline: list[float] = []
            waits = []
            for edge_region in EDGE_REGIONS:
                walls = _PairedWalls()
                walls.measure(transport, api_key, edge_region, requests)
                baseline += walls.baseline
                waits.append(_region_wait(edge_region, credits_region, walls, requests))
        finally:
            runtime.reset_runtime()
    return percentile(baseline, 0.5), percentile(baseline, 0.99), waits


# --- the section -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScaleCounts:
    charges_metered: int
    trial_seconds: float
    bisections: int
    hot_object_accounts: int
    requests_per_region: int


QUICK_SCALE = ScaleCounts(
    charges_metered=40, trial_seconds=4.0, bisections=2, hot_object_accounts=60, requests_per_region=10
)
FULL_SCALE = ScaleCounts(
    charges_metered=200, trial_seconds=8.0, bisections=3, hot_object_accounts=60, requests_per_region=30
)


def run_scale_bench(dynamodb_endpoint: str, limits: PartitionLimits, counts: ScaleCounts) -> ScaleFigures:
    hottest = measure_hottest_partitions(dynamodb_endpoint, counts.charges_metered)
    hottest.append(measure_hottest_sharded(dynamodb_endpoint, counts.charges_metered, SHARDED_ACCOUNT_SHARDS))
    one_account = search_one_account(
        dynamodb_endpoint, limits, trial_seconds=counts.trial_seconds, bisections=counts.bisections
    )
    hot_object = search_hot_object(
        dynamodb_endpoint,
        limits,
        accounts=counts.hot_object_accounts,
        trial_seconds=counts.trial_seconds,
        bisections=counts.bisections,
    )
    one_sharded_account = search_one_sharded_account(
        dynamodb_endpoint,
        limits,
        shards=SHARDED_ACCOUNT_SHARDS,
        trial_seconds=counts.trial_seconds,
        bisections=counts.bisections,
    )
    base_p50, base_p99, waits = measure_region_waits(dynamodb_endpoint, requests=counts.requests_per_region)
    return ScaleFigures(
        limits=limits.describe(),
        hottest=hottest,
        one_account=one_account,
        hot_object=hot_object,
        baseline_wall_p50_ms=base_p50,
        baseline_wall_p99_ms=base_p99,
        region_waits=waits,
        one_sharded_account=one_sharded_account,
    )
