"""Fixtures of the account-events tests: the credits service on DynamoDB Local (tables with
streams, as models.py declares them) and a pump reading both tables' streams."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Sequence

import pytest

from functions.account_events.events import AccountEvent
from functions.credits.data.tables import create_tables, delete_tables
from functions.credits.settings import Settings
from local.dynamodb_local import LOCAL_CREDENTIALS, DynamoDBLocal
from local.events import AccountEventsPump, build_pump

# The credits tests' fixtures: the service, the API caller, funded keys (on the tables below).
from tests.integration.credits.conftest import api, call, funded_key, service

__all__ = ["api", "call", "funded_key", "service"]

pytestmark = pytest.mark.dynamodb

_table_numbers = itertools.count()


@pytest.fixture(scope="module")
def credits_settings(dynamodb_local: DynamoDBLocal) -> Iterator[Settings]:
    """Tables of this module, as the credits tests make them, with DynamoDB timeouts for a busy
    shared machine: these tests count events, not milliseconds (32 threads on 2 cores)."""
    settings = Settings(
        users_table=f"events-users-{os.getpid()}-{next(_table_numbers)}",
        credits_table=f"events-credits-{os.getpid()}-{next(_table_numbers)}",
        dynamodb_endpoint=dynamodb_local.endpoint_url,
        dynamodb_max_pool_connections=64,
        dynamodb_connect_timeout_seconds=10,
        dynamodb_read_timeout_seconds=30,
        dynamodb_max_retry_attempts=5,
    )
    # Module fixtures run before the per-test fake credentials (tests/conftest.py) are set.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", LOCAL_CREDENTIALS["aws_access_key_id"])
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", LOCAL_CREDENTIALS["aws_secret_access_key"])
    create_tables(settings)
    yield settings
    delete_tables(settings)


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
