"""Run the local CDN as a child of `local.run`: ``python -m local.cdn``."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from functions.shared.sigv4 import static_credentials
from local.cdn.cache import ResponseCache
from local.cdn.containers import EdgeContainerPool
from local.cdn.server import LocalCdn, OriginSettings
from local.config import LocalConfig, config_from_env
from local.edge import container_setup, edge_triggers, origin_kind


async def serve(config: LocalConfig) -> None:
    containers = EdgeContainerPool(container_setup(config), config.edge_workers)
    await containers.start()
    cdn = LocalCdn(
        origin=OriginSettings(
            endpoint_url=config.effective_origin_url,
            bucket=config.bucket,
            region=config.region,
            credentials=static_credentials(
                config.origin_credentials.access_key_id, config.origin_credentials.secret_access_key
            ),
            kind=origin_kind(config),
            timeout_seconds=config.origin_timeout_seconds,
        ),
        triggers=edge_triggers(config),
        cache=ResponseCache(config.cache),
        containers=containers,
        viewer_timeout_seconds=config.viewer_timeout_seconds,
        distribution_domain_name=f"{config.host}:{config.cdn_port}",
    )
    runner = web.AppRunner(cdn.build_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.cdn_port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(serve(config_from_env()))


if __name__ == "__main__":
    main()
