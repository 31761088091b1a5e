"""The local runtime's regions (issue 15): servers per region, the edge's settings, the local header."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from functions.edge_auth.credits_client import TransportResponse
from functions.edge_auth.settings import parse_settings
from functions.shared.environment_variables import EDGEMETER_CREDITS_TABLE
from local.config import LocalConfig
from local.edge import edge_settings_document
from local.multi_region import (
    CURRENT_EDGE_REGION,
    LOCAL_EDGE_REGION_HEADER,
    LatencyTransport,
    from_local_edge_region,
    regional_configs,
    validate_regions,
)
from local.regions import RegionLatency, round_trip
from tests.unit.edge_auth.events import viewer_request_event

REGIONAL = LocalConfig(credits_regions=["eu-west-1", "ap-northeast-1"], regional_credits_port=18091)


def test_each_credits_region_gets_its_port_region_and_table() -> None:
    configs = regional_configs(REGIONAL)
    assert list(configs) == ["eu-west-1", "ap-northeast-1"]
    assert [config.credits_port for config in configs.values()] == [18091, 18092]
    assert configs["ap-northeast-1"].region == "ap-northeast-1"
    assert configs["ap-northeast-1"].credits_environment[EDGEMETER_CREDITS_TABLE] == (
        "edgemeter-credits-ap-northeast-1"
    )
    assert regional_configs(LocalConfig()) == {}


def test_the_local_edge_settings_name_every_region_in_order() -> None:
    settings = parse_settings(edge_settings_document(REGIONAL))
    assert [api.url for api in settings.regional_credits.apis] == [
        "http://127.0.0.1:18091",
        "http://127.0.0.1:18092",
    ]
    order = dict(settings.regional_credits.order)
    assert order["ap-northeast-2"][0] == "ap-northeast-1"
    assert order["us-east-2"][0] == REGIONAL.region  # home (us-east-1 locally) is nearest
    assert parse_settings(edge_settings_document(LocalConfig())).regional_credits.apis == ()


def test_the_local_header_picks_the_edge_region_and_never_reaches_the_handler() -> None:
    seen: list[tuple[str | None, bool]] = []

    def handler(event: Any, context: Any) -> dict[str, Any]:
        headers = event["Records"][0]["cf"]["request"]["headers"]
        seen.append((CURRENT_EDGE_REGION.get(), LOCAL_EDGE_REGION_HEADER in headers))
        return {}

    wrapped = from_local_edge_region(handler)
    wrapped(viewer_request_event(headers={LOCAL_EDGE_REGION_HEADER: "ap-northeast-1"}), None)
    wrapped(viewer_request_event(headers={LOCAL_EDGE_REGION_HEADER: "mars-north-1"}), None)
    wrapped(viewer_request_event(), None)
    assert seen == [("ap-northeast-1", False), (None, False), (None, False)]
    assert CURRENT_EDGE_REGION.get() is None


class _Answering:
    def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, deadline: float
    ) -> TransportResponse:
        return TransportResponse(200, b"{}")


def test_a_credits_call_waits_the_round_trip_from_the_edge_region() -> None:
    slept: list[float] = []
    latency = RegionLatency(sleep=slept.append)
    transport = LatencyTransport(_Answering(), "eu-west-1", "us-east-1", latency)
    token = CURRENT_EDGE_REGION.set("ap-northeast-1")
    try:
        transport.send("POST", "/v1/authorize", {}, b"{}", 0.0)
    finally:
        CURRENT_EDGE_REGION.reset(token)
    (seconds,) = slept
    expected = round_trip("ap-northeast-1", "eu-west-1")
    assert expected.p50_ms / 3 < seconds * 1000 < expected.p99_ms * 3


@pytest.mark.parametrize("regions", [["us-east-1"], ["eu-west-1", "eu-west-1"], ["mars-north-1"]])
def test_bad_local_regions_fail_at_start(regions: list[str]) -> None:
    with pytest.raises(ValueError, match="credits regions"):
        validate_regions(LocalConfig(credits_regions=regions))
