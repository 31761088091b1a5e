"""Local end to end: authorized GETs through the local CDN next to direct GETs from the origin.

One run of the whole local system (``bench.local_system``); an httpx client on loopback with a
bounded number of requests and a fixed concurrency for each phase:

- *origin direct*: presigned GETs of one object straight from the S3 origin (the baseline);
- *CDN cache hits*: the same object through the CDN after one warming GET: every request is
  authorized and charged at the edge, then served from the CDN cache;
- *CDN cache misses*: distinct objects through the CDN: edge, credits, origin, origin-response;
- *mixed*: downloads drawn at random from a small set of objects; the CDN's X-Cache headers and
  the origin's own request counter give the S3 GETs per download the cost model uses.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from bench.local_system import RunningLocalSystem, local_system
from bench.stats import percentile

OBJECT_BYTES = 4 * 1024


@dataclass(frozen=True, slots=True)
class PhaseFigures:
    name: str
    requests: int
    concurrency: int
    per_second: float
    p50_ms: float
    p99_ms: float
    cache_hits: int
    # Non-200 answers (503: the credits API did not answer within the edge's budget), by status.
    failures: dict[int, int]


@dataclass(frozen=True, slots=True)
class EndToEndFigures:
    origin: PhaseFigures
    cdn_hits: PhaseFigures
    cdn_misses: PhaseFigures
    mixed: PhaseFigures
    mixed_objects: int
    mixed_origin_gets: int

    @property
    def mixed_s3_gets_per_download(self) -> float:
        return self.mixed_origin_gets / self.mixed.requests

    @property
    def mixed_hit_ratio(self) -> float:
        return self.mixed.cache_hits / self.mixed.requests


async def _phase(
    name: str, client: httpx.AsyncClient, urls: Sequence[str], headers: dict[str, str], concurrency: int
) -> PhaseFigures:
    latencies_ms: list[float] = []
    hits = 0
    failures: dict[int, int] = {}
    queue = list(reversed(urls))

    async def worker() -> None:
        nonlocal hits
        while queue:
            url = queue.pop()
            began = time.perf_counter()
            response = await client.get(url, headers=headers)
            latencies_ms.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                failures[response.status_code] = failures.get(response.status_code, 0) + 1
            hits += response.headers.get("x-cache", "").startswith("Hit")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return PhaseFigures(
        name=name,
        requests=len(urls),
        concurrency=concurrency,
        per_second=len(urls) / elapsed,
        p50_ms=percentile(latencies_ms, 0.50),
        p99_ms=percentile(latencies_ms, 0.99),
        cache_hits=hits,
        failures=failures,
    )


async def _measure(system: RunningLocalSystem, requests: int, concurrency: int) -> EndToEndFigures:
    body = random.randbytes(OBJECT_BYTES)
    system.put_object("bench/hot.bin", body)
    miss_keys = [f"bench/miss-{index:05d}.bin" for index in range(requests)]
    mixed_objects = max(4, requests // 10)
    mixed_keys = [f"bench/mixed-{index:04d}.bin" for index in range(mixed_objects)]
    for key in (*miss_keys, *mixed_keys):
        system.put_object(key, body)
    _, api_key = system.funded_key("bench-e2e", requests * 4 + concurrency * 4 + 10)
    key_header = {"x-api-key": api_key}
    hot_at_origin = system.s3.generate_presigned_url(
        "get_object", Params={"Bucket": system.config.bucket, "Key": "bench/hot.bin"}, ExpiresIn=3600
    )
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits, trust_env=False) as client:
        await client.get(hot_at_origin)
        origin = await _phase("origin direct", client, [hot_at_origin] * requests, {}, concurrency)
        hot_via_cdn = f"{system.cdn_url}/bench/hot.bin"
        await client.get(hot_via_cdn, headers=key_header)  # the one miss that fills the cache
        # Warm every credits Lambda environment (each cold-starts on its first call), unmeasured.
        await _phase("warm-up", client, [hot_via_cdn] * concurrency * 4, key_header, concurrency)
        cdn_hits = await _phase("CDN cache hits", client, [hot_via_cdn] * requests, key_header, concurrency)
        miss_urls = [f"{system.cdn_url}/{key}" for key in miss_keys]
        cdn_misses = await _phase("CDN cache misses", client, miss_urls, key_header, concurrency)
        chooser = random.Random(7)  # the same draw every run
        mixed_urls = [f"{system.cdn_url}/{chooser.choice(mixed_keys)}" for _ in range(requests)]
        system.reset_origin_counts()
        mixed = await _phase("mixed", client, mixed_urls, key_header, concurrency)
        mixed_origin_gets = system.origin_gets()
    return EndToEndFigures(
        origin=origin,
        cdn_hits=cdn_hits,
        cdn_misses=cdn_misses,
        mixed=mixed,
        mixed_objects=mixed_objects,
        mixed_origin_gets=mixed_origin_gets,
    )


def run_e2e_bench(*, requests: int, concurrency: int) -> EndToEndFigures:
    with local_system() as system:
        return asyncio.run(_measure(system, requests, concurrency))
