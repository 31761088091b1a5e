"""The sellers' API tests run on the credits tests' fixtures: DynamoDB Local tables per module,
the real resolver behind ``call``, a service on the same tables."""

from __future__ import annotations

from tests.integration.credits.conftest import api, call, credits_settings, funded_key, service

__all__ = ["api", "call", "credits_settings", "funded_key", "service"]
