"""The CDN's Lambda@Edge containers: real processes, the time budget, crashes and replacement."""

from __future__ import annotations

import asyncio

import pytest

from local.cdn.containers import ContainerSetup, EdgeContainerPool, EdgeFunctionError, EdgeFunctionTimeout
from local.cdn.events import DistributionConfig, EdgeRequest, EventType, build_request_event

pytestmark = pytest.mark.e2e

SETUP = ContainerSetup(setup="tests.e2e.edge_test_functions:setup", setup_argument="")


def _event(uri: str) -> dict[str, object]:
    request = EdgeRequest(method="GET", uri=uri, querystring="", client_ip="127.0.0.1", headers=[])
    return build_request_event(EventType.VIEWER_REQUEST, DistributionConfig("127.0.0.1:8080"), "rid", request)


def test_budget_overrun_and_crash_reset_the_container_and_the_pool_keeps_serving() -> None:
    async def scenario() -> tuple[str, str]:
        pool = EdgeContainerPool(SETUP, size=1)
        await pool.start()
        try:
            with pytest.raises(EdgeFunctionTimeout):
                await pool.invoke("viewer-request", _event("/slow"), timeout=0.5)
            # The timed-out container was killed; a fresh one serves the next event.
            served = await pool.invoke("viewer-request", _event("/fine"), timeout=5.0)
            with pytest.raises(EdgeFunctionError, match="handler failure"):
                await pool.invoke("viewer-request", _event("/raise"), timeout=5.0)
            served_again = await pool.invoke("viewer-request", _event("/again"), timeout=5.0)
        finally:
            pool.shutdown()
        return served["uri"], served_again["headers"]["x-remaining-ms"][0]["value"]

    uri, remaining_ms = asyncio.run(scenario())
    assert uri == "/fine"
    # The context's clock starts when the container received the event: most of 5 s remained.
    assert 0 < int(remaining_ms) <= 5000
