"""The edge picks the nearest credits region, fails over, and never leaves two charges (issue 15)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from functions.edge_auth import runtime, viewer_request
from functions.edge_auth.credits_client import (
    AUTHORIZE_PATH,
    REFUNDS_PATH,
    ConnectError,
    ReadTimeoutError,
    TransportResponse,
)
from functions.edge_auth.regional import REGIONAL_AUTHORIZE_BUDGET_S, RegionalCreditsClient
from functions.shared.sigv4 import static_credentials
from tests.unit.edge_auth.conftest import ManualClock
from tests.unit.edge_auth.events import viewer_request_event
from tests.unit.edge_auth.fake_credits import FakeCreditsApi
from tests.unit.regions.edge_settings import regional_edge_settings

HOME = "eu-west-1"
CREDITS_REGIONS = ("us-east-1", "ap-northeast-1")


@dataclass
class RegionTransport:
    """One region's credits API: answers, refuses connections, or commits and loses the reply."""

    api: FakeCreditsApi
    mode: str = "up"  # "up" | "refused" | "lost_reply"
    refunds_fail: bool = False
    authorize_payloads: list[dict[str, Any]] = field(default_factory=list)
    deadlines: list[float] = field(default_factory=list)

    def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, deadline: float
    ) -> TransportResponse:
        self.deadlines.append(deadline)
        if self.mode == "refused":
            raise ConnectError("refused")
        if path == REFUNDS_PATH and self.refunds_fail:
            raise ReadTimeoutError("timeout")
        reply = self.api.handle(method, path, headers, body)
        if path == AUTHORIZE_PATH:
            self.authorize_payloads.append(self.api.calls[-1].payload)
            if self.mode == "lost_reply":
                raise ReadTimeoutError("timeout")
        return reply


@dataclass
class Regions:
    transports: dict[str, RegionTransport]
    api_key: str
    clock: ManualClock
    edge_region: list[str]

    def charged_in(self) -> dict[str, int]:
        """Net charges per region (charges minus refunds), over every request."""
        return {
            region: len(transport.api.charges) - len(transport.api.refunds)
            for region, transport in self.transports.items()
        }


@pytest.fixture
def regions() -> Iterator[Regions]:
    # One account and key readable everywhere (the users global table); charges are per region.
    apis = {region: FakeCreditsApi() for region in (HOME, *CREDITS_REGIONS)}
    home_api = apis[HOME]
    home_api.add_account("acct-1", 100)
    api_key = home_api.issue_key("acct-1")
    for api in apis.values():
        api.add_account("acct-1", 100)
        api.keys.update(home_api.keys)
    transports = {region: RegionTransport(api) for region, api in apis.items()}
    clock = ManualClock()
    edge_region = ["ap-northeast-1"]
    runtime.configure(
        regional_edge_settings(HOME, CREDITS_REGIONS),
        transport=transports[HOME],
        regional_transports={region: transports[region] for region in CREDITS_REGIONS},
        credentials_loader=lambda: static_credentials("AKIDEDGE", "edge-secret", "edge-token"),
        clock=clock,
        edge_region=lambda: edge_region[0],
    )
    yield Regions(transports=transports, api_key=api_key, clock=clock, edge_region=edge_region)
    runtime.reset_runtime()


def _get(regions: Regions, request_id: str = "req-1") -> dict[str, Any]:
    return viewer_request.handler(
        viewer_request_event(headers={"x-api-key": regions.api_key}, request_id=request_id)
    )


def _authorized(regions: Regions, region: str) -> int:
    return len(regions.transports[region].authorize_payloads)


def test_a_viewer_is_charged_in_its_nearest_region_only(regions: Regions) -> None:
    response = _get(regions)
    assert "status" not in response  # forwarded to the origin
    assert regions.charged_in() == {"ap-northeast-1": 1, "us-east-1": 0, HOME: 0}
    regions.edge_region[0] = "us-east-2"
    _get(regions, "req-2")
    assert regions.charged_in() == {"ap-northeast-1": 1, "us-east-1": 1, HOME: 0}


def test_an_edge_region_near_home_goes_home(regions: Regions) -> None:
    regions.edge_region[0] = "eu-west-2"
    _get(regions)
    assert regions.charged_in() == {"ap-northeast-1": 0, "us-east-1": 0, HOME: 1}


def test_a_region_refusing_connections_is_skipped_at_once_without_a_void(regions: Regions) -> None:
    regions.transports["ap-northeast-1"].mode = "refused"
    response = _get(regions)
    assert "status" not in response
    nearest = regions.transports["ap-northeast-1"].api
    assert nearest.calls_to("/v1/refunds") == []
    (payload,) = regions.transports["us-east-1"].authorize_payloads
    assert "retry_of_region" not in payload
    assert sum(regions.charged_in().values()) == 1


def test_a_lost_reply_is_voided_in_its_region_before_the_next_charges(regions: Regions) -> None:
    regions.transports["ap-northeast-1"].mode = "lost_reply"
    response = _get(regions)
    assert "status" not in response
    # The first region committed, lost its reply, and was voided; the next region charged once.
    assert regions.charged_in() == {"ap-northeast-1": 0, "us-east-1": 1, HOME: 0}
    (payload,) = regions.transports["us-east-1"].authorize_payloads
    assert "retry_of_region" not in payload


def test_a_charge_that_cannot_be_voided_is_named_in_the_retry(regions: Regions) -> None:
    nearest = regions.transports["ap-northeast-1"]
    nearest.mode = "lost_reply"
    nearest.refunds_fail = True
    response = _get(regions)
    assert "status" not in response
    (payload,) = regions.transports["us-east-1"].authorize_payloads
    # The answering region records a void notice for the region that may hold a charge.
    assert payload["retry_of_region"] == "ap-northeast-1"
    assert payload["request_id"] == "req-1"


def test_503_only_when_no_region_answers_and_nothing_stands(regions: Regions) -> None:
    for transport in regions.transports.values():
        transport.mode = "refused"
    response = _get(regions)
    assert response["status"] == "503"
    assert sum(len(transport.authorize_payloads) for transport in regions.transports.values()) == 0


def test_when_every_region_loses_its_reply_every_charge_is_voided(regions: Regions) -> None:
    for transport in regions.transports.values():
        transport.mode = "lost_reply"
    response = _get(regions)
    assert response["status"] == "503"
    assert regions.charged_in() == {"ap-northeast-1": 0, "us-east-1": 0, HOME: 0}


def test_attempts_share_the_regional_budget(regions: Regions) -> None:
    for transport in regions.transports.values():
        transport.mode = "refused"
    started = regions.clock.now
    _get(regions)
    deadlines = [deadline for transport in regions.transports.values() for deadline in transport.deadlines]
    assert len(deadlines) == 3
    assert max(deadlines) <= started + REGIONAL_AUTHORIZE_BUDGET_S


def test_a_refund_reaches_the_region_that_charged(regions: Regions) -> None:
    regions.edge_region[0] = "us-east-2"
    _get(regions)
    credits = runtime.get_runtime().credits
    assert isinstance(credits, RegionalCreditsClient)
    outcome = credits.refund("req-1", "origin_error", regions.clock.now + 1)
    assert outcome.found
    assert regions.charged_in() == {"ap-northeast-1": 0, "us-east-1": 0, HOME: 0}


def test_an_unknown_edge_region_tries_home(regions: Regions) -> None:
    regions.edge_region[0] = "me-south-1"
    credits = runtime.get_runtime().credits
    assert isinstance(credits, RegionalCreditsClient)
    assert credits.regions_to_try() == (HOME,)
