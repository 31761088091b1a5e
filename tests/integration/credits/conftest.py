"""Fixtures of the credits tests: DynamoDB Local tables, the service, and an API caller.

Every test module gets its own pair of tables on the session's DynamoDB Local, so tests
never see each other's accounts. ``call`` invokes the real resolver with API Gateway
events (one invocation at a time, as one Lambda container does).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from functions.credits.app import CreditsApi
from functions.credits.data.tables import create_tables, delete_tables
from functions.credits.service import CreditsService, NoTelemetry
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from local.dynamodb_local import DynamoDBLocal
from tests.integration.credits.events import FakeLambdaContext, Reply, api_event, parse_reply

pytestmark = pytest.mark.dynamodb

_table_numbers = itertools.count()

Caller = Callable[..., Reply]


def make_settings(endpoint: str, suffix: str) -> Settings:
    return Settings(
        users_table=f"users-{suffix}",
        credits_table=f"credits-{suffix}",
        dynamodb_endpoint=endpoint,
        dynamodb_max_pool_connections=64,
    )


@pytest.fixture(scope="module")
def credits_settings(dynamodb_local: DynamoDBLocal) -> Iterator[Settings]:
    settings = make_settings(dynamodb_local.endpoint_url, f"{os.getpid()}-{next(_table_numbers)}")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    create_tables(settings)
    yield settings
    delete_tables(settings)


@pytest.fixture
def service(credits_settings: Settings) -> CreditsService:
    return CreditsService(DynamoDBCreditsStore(credits_settings), credits_settings, telemetry=NoTelemetry())


@pytest.fixture
def api(service: CreditsService, credits_settings: Settings) -> CreditsApi:
    return CreditsApi(service, credits_settings)


@pytest.fixture
def call(api: CreditsApi) -> Caller:
    def invoke(method: str, path: str, body: Any = None, **options: Any) -> Reply:
        return parse_reply(api.handle(api_event(method, path, body, **options), FakeLambdaContext()))  # type: ignore[arg-type]

    return invoke


@pytest.fixture
def funded_key(call: Caller) -> Callable[[int], tuple[str, str]]:
    """Make an account holding ``credits`` and a key for it; return (account_id, api_key)."""

    def make(credits: int, **key_options: Any) -> tuple[str, str]:
        account = call("POST", "/v1/accounts", {"name": "funded"})
        assert account.status == 201, account
        account_id = account.body["account_id"]
        if credits:
            grant = call(
                "POST",
                f"/v1/accounts/{account_id}/grants",
                {"amount": credits, "reason": "test", "idempotency_key": f"fund-{account_id}"},
            )
            assert grant.status == 201, grant
        key = call("POST", f"/v1/accounts/{account_id}/keys", key_options)
        assert key.status == 201, key
        return account_id, key.body["api_key"]

    return make
