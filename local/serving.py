"""How each local service process runs: an aiohttp app on its port until SIGTERM or SIGINT.

`local.run` starts the credits API and the CDN as child processes and stops them with
SIGTERM; Ctrl-C in a terminal sends SIGINT to the whole group. Both end the same way:
the runner is cleaned up so connections close and the port is released at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from aiohttp import web

from local.config import LocalConfig, config_from_env

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


async def serve_until_signalled(app: web.Application, host: str, port: int) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


def run_service(serve: Callable[[LocalConfig], Awaitable[None]]) -> None:
    """Entry point of a service process: configuration from the environment `local.run` set."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    asyncio.run(_run(serve))


async def _run(serve: Callable[[LocalConfig], Awaitable[None]]) -> None:
    await serve(config_from_env())
