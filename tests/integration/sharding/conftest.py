"""Sharding tests run on the credits tests' fixtures (DynamoDB Local tables per module, the real
resolver behind ``call``), plus the rebalancer on the same tables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.credits.settings import Settings
from functions.credits.store.rebalancer import ShardRebalancer
from local.ledger_writer import LocalLedgerWriter
from tests.integration.credits.conftest import api, call, credits_settings, funded_key, service

__all__ = ["api", "call", "credits_settings", "funded_key", "service"]


@pytest.fixture
def rebalancer(credits_settings: Settings) -> ShardRebalancer:
    return ShardRebalancer(credits_settings)


@pytest.fixture(scope="module")
def ledger_writer(credits_settings: Settings) -> Iterator[LocalLedgerWriter]:
    """The ledger writer over the module's credits table (issue 14), drained by the tests that read
    the ledger of a split account; stopped (and drained) at the module's end."""
    writer = LocalLedgerWriter(credits_settings, region=credits_settings.region)
    yield writer
    writer.drain(settle_all_parked=True)
