"""Lambda@Edge execution environments for the local CDN: one process per container.

A Lambda@Edge container serves one invocation at a time and keeps module state
(edge_auth keeps a keep-alive connection to the credits API and its negative
caches there) between invocations. So each container here is a separate
process running the real handler modules, and the CDN hands an invocation to an
idle container. Events and results cross the process boundary as JSON, as they
do in Lambda, so a handler can neither share objects with the CDN nor return
something CloudFront could not parse.

The time budget (5 s for viewer triggers, 30 s for origin triggers) counts from
the moment the container receives the event, not while it waits for an idle
container. A container that overruns is killed and replaced, like Lambda
resets an environment after a timeout.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import multiprocessing
import signal
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

logger = logging.getLogger("edgemeter.local.edge")

VIEWER_TRIGGER_TIMEOUT_SECONDS = 5.0
ORIGIN_TRIGGER_TIMEOUT_SECONDS = 30.0
# A container's cold start (imports, settings) must finish within this.
COLD_START_TIMEOUT_SECONDS = 60.0


class EdgeFunctionTimeout(Exception):
    """The function ran past its budget (CloudFront answers 503)."""


class EdgeFunctionError(Exception):
    """The function raised (CloudFront answers 503, LambdaExecutionError)."""


@dataclass(frozen=True)
class ContainerSetup:
    """How a container process builds its handlers.

    ``setup`` names a function ``module:function`` that receives ``setup_argument``
    and returns ``{event type: handler}``; it runs once, at the container's cold start.
    """

    setup: str
    setup_argument: str


def _resolve(spec: str) -> Callable[..., Any]:
    module_name, _, attribute = spec.partition(":")
    resolved: Callable[..., Any] = getattr(importlib.import_module(module_name), attribute)
    return resolved


def _container_main(connection: Connection, setup: ContainerSetup) -> None:
    """The body of one container process: cold start, then one invocation at a time."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the CDN process handles Ctrl-C and stops us
    logging.basicConfig(level=logging.INFO, format="%(asctime)s edge-container %(levelname)s %(message)s")
    handlers: dict[str, Callable[[Any, Any], Any]] = _resolve(setup.setup)(setup.setup_argument)
    from local.cdn.context import EdgeLambdaContext  # noqa: PLC0415 - after the cold start's imports

    connection.send(("ready", sorted(handlers)))
    while True:
        try:
            event_type, serialized_event, timeout_seconds = connection.recv()
        except (EOFError, OSError):
            return  # the CDN went away: so do we
        try:
            context = EdgeLambdaContext(function_name=event_type, timeout_seconds=timeout_seconds)
            result = handlers[event_type](json.loads(serialized_event), context)
            connection.send(("ok", json.dumps(result)))
        except Exception:  # noqa: BLE001 - reported to the CDN as LambdaExecutionError
            connection.send(("error", traceback.format_exc(limit=5)))


class EdgeContainer:
    def __init__(self, setup: ContainerSetup) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child_connection = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_container_main, args=(child_connection, setup), daemon=True, name="edge-container"
        )
        self.process.start()
        child_connection.close()

    async def receive(self, timeout: float) -> Any:
        """The next message, or EdgeFunctionTimeout after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()
        descriptor = self.connection.fileno()

        def mark_readable() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(descriptor, mark_readable)
        try:
            await asyncio.wait_for(readable, timeout=timeout)
        except TimeoutError as error:
            raise EdgeFunctionTimeout(f"no answer within {timeout:g}s") from error
        finally:
            loop.remove_reader(descriptor)
        if not self.process.is_alive() and not self.connection.poll():
            raise EdgeFunctionError("the container process died")
        try:
            return self.connection.recv()
        except EOFError as error:
            raise EdgeFunctionError("the container process died") from error

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self.connection.close()


class EdgeContainerPool:
    """A fixed number of warm containers; an invocation waits for an idle one."""

    def __init__(self, setup: ContainerSetup, size: int) -> None:
        self._setup = setup
        self._size = size
        self._idle: asyncio.Queue[EdgeContainer] = asyncio.Queue()
        self._all: set[EdgeContainer] = set()

    async def start(self) -> None:
        containers = [self._spawn() for _ in range(self._size)]
        await asyncio.gather(*(self._await_ready(container) for container in containers))
        for container in containers:
            self._idle.put_nowait(container)

    def _spawn(self) -> EdgeContainer:
        container = EdgeContainer(self._setup)
        self._all.add(container)
        return container

    async def _await_ready(self, container: EdgeContainer) -> None:
        status, detail = await container.receive(COLD_START_TIMEOUT_SECONDS)
        if status != "ready":
            raise RuntimeError(f"edge container failed its cold start: {detail}")

    async def _replace(self, broken: EdgeContainer) -> None:
        broken.kill()
        self._all.discard(broken)
        fresh = self._spawn()
        try:
            await self._await_ready(fresh)
        except (EdgeFunctionError, EdgeFunctionTimeout, RuntimeError):
            logger.exception("a replacement edge container failed to start")
            fresh.kill()
            self._all.discard(fresh)
            return
        self._idle.put_nowait(fresh)

    async def invoke(self, event_type: str, event: dict[str, Any], *, timeout: float) -> Any:
        container = await self._idle.get()
        try:
            container.connection.send((event_type, json.dumps(event), timeout))
            status, payload = await container.receive(timeout)
        except (EdgeFunctionTimeout, EdgeFunctionError, OSError) as error:
            # Lambda resets an environment that timed out or crashed; so do we, in the background.
            asyncio.get_running_loop().create_task(self._replace(container))
            if isinstance(error, EdgeFunctionTimeout):
                raise EdgeFunctionTimeout(f"{event_type} did not finish within {timeout:g}s") from error
            raise EdgeFunctionError(f"{event_type}: {error}") from error
        self._idle.put_nowait(container)
        if status == "error":
            raise EdgeFunctionError(f"{event_type} raised:\n{payload}")
        return json.loads(payload)

    def shutdown(self) -> None:
        for container in list(self._all):
            container.kill()
        self._all.clear()
