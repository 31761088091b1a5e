"""Edge unit fixtures: the handlers wired to an in-process fake credits API, a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from functions.edge_auth import runtime
from functions.edge_auth.runtime import EdgeRuntime
from functions.edge_auth.settings import CreditsApiSettings, EdgeSettings
from functions.shared.sigv4 import static_credentials
from tests.unit.edge_auth.fake_credits import FakeCreditsApi, FakeCreditsTransport

CREDITS_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod"


class ManualClock:
    """A monotonic clock tests move by hand (TTL expiry without sleeping)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class EdgeUnderTest:
    api: FakeCreditsApi
    transport: FakeCreditsTransport
    clock: ManualClock
    runtime: EdgeRuntime
    settings: EdgeSettings


def default_settings(**overrides: object) -> EdgeSettings:
    values: dict[str, object] = {
        "credits_api": CreditsApiSettings(url=CREDITS_URL, region="us-east-1"),
        **overrides,
    }
    return EdgeSettings(**values)  # type: ignore[arg-type]


def configure_edge(settings: EdgeSettings, api: FakeCreditsApi | None = None) -> EdgeUnderTest:
    fake_api = api or FakeCreditsApi()
    transport = FakeCreditsTransport(fake_api)
    clock = ManualClock()
    edge_runtime = runtime.configure(
        settings,
        transport=transport,
        credentials_loader=lambda: static_credentials("AKIDEDGE", "edge-secret", "edge-session-token"),
        clock=clock,
    )
    return EdgeUnderTest(
        api=fake_api, transport=transport, clock=clock, runtime=edge_runtime, settings=settings
    )


@pytest.fixture
def edge() -> Iterator[EdgeUnderTest]:
    yield configure_edge(default_settings())
    runtime.reset_runtime()
