"""Sharding tests run on the credits tests' fixtures (DynamoDB Local tables per module, the real
resolver behind ``call``), plus the rebalancer on the same tables."""

from __future__ import annotations

import pytest

from functions.credits.settings import Settings
from functions.credits.store.rebalancer import ShardRebalancer
from tests.integration.credits.conftest import api, call, credits_settings, funded_key, service

__all__ = ["api", "call", "credits_settings", "funded_key", "service"]


@pytest.fixture
def rebalancer(credits_settings: Settings) -> ShardRebalancer:
    return ShardRebalancer(credits_settings)
