"""A region's credits API is down: the edge fails over and nothing is charged twice (issue 15, Must
show), through the real edge (viewer-request handler, ``RegionalCreditsClient``) and each region's
real credits API (``CreditsApi`` with its void notice book) on its own DynamoDB store.

Each region's API is answered in process (bench/inprocess.py builds API Gateway's events); a
``RegionApi`` transport in front of it can refuse connections (the request never left: the edge
moves on at once) or commit the charge and lose the reply (the edge voids there first; when that
void fails too, the retry names the region and a void notice settles it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.inprocess import HandlerTransport, InProcessCredits
from functions.credits.app import CreditsApi
from functions.credits.regions.void_notices import APPLY_AFTER, apply_void_notices
from functions.edge_auth import runtime, viewer_request
from functions.edge_auth.credits_client import (
    AUTHORIZE_PATH,
    REFUNDS_PATH,
    ConnectError,
    ReadTimeoutError,
    TransportResponse,
)
from functions.shared.region_latency import credits_region_order
from functions.shared.sigv4 import static_credentials
from local.dynamodb_local import DynamoDBLocal
from tests.integration.regions.regional_world import HOME, REGIONS, RegionalWorld, RegionTables, region_tables
from tests.unit.edge_auth.events import viewer_request_event
from tests.unit.regions.edge_settings import regional_edge_settings

CREDITS_REGIONS = REGIONS[1:]
EDGE_REGION = "ap-northeast-1"
# Where this edge tries: the nearest configured regions first, home among them.
ORDER = tuple(credits_region_order(EDGE_REGION, HOME, CREDITS_REGIONS))
FIRST, SECOND = ORDER[0], ORDER[1]


@dataclass
class RegionApi:
    """One region's credits API as the edge reaches it, with the failures a test switches on."""

    inner: HandlerTransport
    mode: str = "up"  # "up" | "refused" | "lost_reply"
    voids_fail: bool = False
    authorize_calls: int = 0
    payloads: list[bytes] = field(default_factory=list)

    def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, deadline: float
    ) -> TransportResponse:
        if self.mode == "refused":
            raise ConnectError("refused")
        if path == REFUNDS_PATH and self.voids_fail:
            raise ReadTimeoutError("timeout")
        reply = self.inner.send(method, path, headers, body, deadline)
        if path == AUTHORIZE_PATH:
            self.authorize_calls += 1
            self.payloads.append(body)
            if self.mode == "lost_reply":
                raise ReadTimeoutError("timeout")  # charged, and the edge never hears it
        return reply


@pytest.fixture(scope="module")
def tables(dynamodb_local_per_region: DynamoDBLocal) -> Iterator[RegionTables]:
    with region_tables(dynamodb_local_per_region) as created:
        yield created


@dataclass
class EdgeWorld:
    world: RegionalWorld
    apis: dict[str, RegionApi]
    api_key: str

    def view(self, request_id: str) -> dict[str, Any]:
        event = viewer_request_event(headers={"x-api-key": self.api_key}, request_id=request_id)
        return viewer_request.handler(event)


@pytest.fixture
def edge(tables: RegionTables) -> Iterator[EdgeWorld]:
    world = RegionalWorld(tables)
    world.grant(10, "fund")
    for region in CREDITS_REGIONS:
        world.coordinator.start(world.account_id, HOME, region, 3)
    api_key = world.issue_api_key()
    apis = {
        region: RegionApi(
            HandlerTransport(
                InProcessCredits(
                    CreditsApi(world.services[region], tables.settings[region], world.notices).handle
                )
            )
        )
        for region in REGIONS
    }
    runtime.configure(
        regional_edge_settings(HOME, CREDITS_REGIONS),
        transport=apis[HOME],
        regional_transports={region: apis[region] for region in CREDITS_REGIONS},
        credentials_loader=lambda: static_credentials("AKIDEDGE", "edge-secret", "edge-token"),
        edge_region=lambda: EDGE_REGION,
    )
    yield EdgeWorld(world=world, apis=apis, api_key=api_key)
    runtime.reset_runtime()


def _allowed(result: dict[str, Any]) -> bool:
    return "status" not in result


def _charges_in(edge: EdgeWorld, region: str, request_id: str) -> int:
    """Credits ``request_id`` holds in ``region``'s ledger, net of refunds."""
    ledger = edge.world.stores[region].ledger_page(
        edge.world.account_id,
        start=datetime(2000, 1, 1, tzinfo=UTC),
        end=datetime(2100, 1, 1, tzinfo=UTC),
        limit=1000,
        cursor=None,
    )
    return -sum(entry.amount for entry in ledger.items if entry.request_id == request_id)


def test_a_refused_region_is_skipped_and_the_next_charges_once(edge: EdgeWorld) -> None:
    edge.apis[FIRST].mode = "refused"
    assert _allowed(edge.view("req-refused"))
    assert edge.apis[FIRST].authorize_calls == 0
    assert edge.apis[SECOND].authorize_calls == 1
    assert edge.world.net_charged()["req-refused"] == 1
    assert _charges_in(edge, SECOND, "req-refused") == 1
    assert edge.world.audit().problems == []


def test_a_lost_reply_is_voided_in_its_region_before_the_retry(edge: EdgeWorld) -> None:
    edge.apis[FIRST].mode = "lost_reply"
    assert _allowed(edge.view("req-lost"))
    # Charged in the first region, voided there by the edge, charged again in the second.
    assert edge.apis[FIRST].authorize_calls == 1
    assert _charges_in(edge, FIRST, "req-lost") == 0
    assert _charges_in(edge, SECOND, "req-lost") == 1
    assert edge.world.net_charged()["req-lost"] == 1
    assert edge.world.notices.pending(FIRST) == []
    assert edge.world.audit().problems == []


def test_a_lost_reply_whose_void_fails_is_settled_by_the_void_notice(edge: EdgeWorld) -> None:
    edge.apis[FIRST].mode = "lost_reply"
    edge.apis[FIRST].voids_fail = True
    assert _allowed(edge.view("req-unvoided"))
    # The retry named the first region; the second posted the notice before charging.
    assert b'"retry_of_region":"' + FIRST.encode() in edge.apis[SECOND].payloads[0].replace(b" ", b"")
    (notice,) = edge.world.notices.pending(FIRST)
    assert notice.request_id == "req-unvoided"
    assert notice.posted_by_region == SECOND
    # Until the notice is applied the first region's charge stands (the only window of two).
    assert _charges_in(edge, FIRST, "req-unvoided") == 1
    apply_void_notices(edge.world.notices, FIRST, edge.world.stores[FIRST], notice.posted_at + APPLY_AFTER)
    assert _charges_in(edge, FIRST, "req-unvoided") == 0
    assert edge.world.net_charged()["req-unvoided"] == 1
    assert edge.world.notices.pending(FIRST) == []
    # Applying again changes nothing (the notice is settled; a refund is once per request id).
    later = notice.posted_at + APPLY_AFTER + timedelta(minutes=1)
    assert apply_void_notices(edge.world.notices, FIRST, edge.world.stores[FIRST], later) == []
    assert edge.world.net_charged()["req-unvoided"] == 1
    assert edge.world.audit().problems == []


def test_no_region_answering_is_a_503_and_nothing_is_charged(edge: EdgeWorld) -> None:
    for api in edge.apis.values():
        api.mode = "refused"
    result = edge.view("req-nowhere")
    assert result["status"] == "503"
    assert "retry-after" in result["headers"]
    assert edge.world.net_charged()["req-nowhere"] == 0
    assert edge.world.audit().problems == []
