"""The two credits stores under one fixture: every contract test runs against both.

``memory``: the in-memory twin. ``dynamodb``: the DynamoDB store on the session's DynamoDB
Local (tables of this module's own, so tests never see each other's accounts).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from functions.credits.settings import Settings
from functions.credits.store.protocol import CreditsStore

_table_numbers = itertools.count()


@contextmanager
def local_credentials() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "local")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "local")
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@pytest.fixture(scope="module")
def dynamodb_settings(request: pytest.FixtureRequest) -> Iterator[Settings]:
    from functions.credits.data.tables import create_tables, delete_tables

    dynamodb_local = request.getfixturevalue("dynamodb_local")
    suffix = f"contract-{os.getpid()}-{next(_table_numbers)}"
    settings = Settings(
        users_table=f"users-{suffix}",
        credits_table=f"credits-{suffix}",
        dynamodb_endpoint=dynamodb_local.endpoint_url,
        dynamodb_max_pool_connections=64,
        # The races below make DynamoDB Local cancel transactions for conflicts; on a shared
        # machine the default 12 attempts could run out and turn a race into a 503.
        transaction_attempts=50,
    )
    # Module scope runs outside the per-test fake credentials; DynamoDB Local still needs some.
    with local_credentials():
        create_tables(settings)
    yield settings
    with local_credentials():
        delete_tables(settings)


@pytest.fixture(scope="module")
def sharded_dynamodb_settings(request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Tables of their own for the sharded variant (the tests reuse request ids like ``c-1``)."""
    from functions.credits.data.tables import create_tables, delete_tables

    settings: Settings = request.getfixturevalue("dynamodb_settings")
    sharded = settings.model_copy(
        update={"users_table": f"{settings.users_table}-s", "credits_table": f"{settings.credits_table}-s"}
    )
    with local_credentials():
        create_tables(sharded)
    yield sharded
    with local_credentials():
        delete_tables(sharded)


@pytest.fixture(params=["memory", "dynamodb", "dynamodb-sharded"])
def store(request: pytest.FixtureRequest) -> CreditsStore:
    """Typed as the Protocol: both implementations must satisfy it structurally (mypy checks).

    ``dynamodb-sharded``: the DynamoDB store with every new account split over four balance
    shards (issue 14): the same contract must hold whatever the layout.
    """
    if request.param == "memory":
        from functions.credits.store.memory import InMemoryCreditsStore

        return InMemoryCreditsStore()
    from functions.credits.store.dynamodb import DynamoDBCreditsStore

    if request.param == "dynamodb-sharded":
        from tests.integration.sharding.stores import ShardedOnCreateStore

        return ShardedOnCreateStore(request.getfixturevalue("sharded_dynamodb_settings"), shards=4)
    return DynamoDBCreditsStore(request.getfixturevalue("dynamodb_settings"))
