"""Fixtures of the account-events tests: the credits service on DynamoDB Local (tables with
streams, as models.py declares them) and a pump reading both tables' streams."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest

from functions.account_events.events import AccountEvent
from functions.credits.settings import Settings
from local.dynamodb_local import DynamoDBLocal
from local.events import AccountEventsPump, build_pump

# The credits tests' fixtures: module-scoped tables, the service, the API caller, funded keys.
from tests.integration.credits.conftest import api, call, credits_settings, funded_key, service

__all__ = ["api", "call", "credits_settings", "funded_key", "service"]

pytestmark = pytest.mark.dynamodb


class RecordingPublisher:
    """Keeps every event it is given, in order."""

    def __init__(self) -> None:
        self.events: list[AccountEvent] = []

    def publish(self, events: Sequence[AccountEvent]) -> None:
        self.events.extend(events)


PumpFactory = Callable[[], tuple[AccountEventsPump, RecordingPublisher]]


@pytest.fixture
def stream_pump(dynamodb_local: DynamoDBLocal, credits_settings: Settings) -> Iterator[PumpFactory]:
    """Make pumps that read from now on (LATEST), so earlier tests' changes are not seen."""
    pumps: list[AccountEventsPump] = []

    def make() -> tuple[AccountEventsPump, RecordingPublisher]:
        publisher = RecordingPublisher()
        pump = build_pump(
            dynamodb_local.endpoint_url,
            [credits_settings.users_table, credits_settings.credits_table],
            publisher,
            start="LATEST",
        )
        pump.drain()  # fixes the LATEST iterators before the test changes anything
        pumps.append(pump)
        return pump, publisher

    yield make
    for pump in pumps:
        pump.stop()
