"""Fixtures shared by every test suite.

Tests talk only to loopback: pytest-socket is configured in pyproject.toml with
``--allow-hosts=127.0.0.1,::1,localhost``; unit tests block sockets entirely
(tests/unit/conftest.py). Servers started here bind 127.0.0.1 and are stopped
at the end of the session.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.dynamodb_capacity import CapacityLayer, PartitionLimits, partition_capacity
from local.dynamodb_local import LOCAL_CREDENTIALS, LOCAL_REGION, DynamoDBLocal


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    """One in-memory DynamoDB Local for the whole test session."""
    with DynamoDBLocal() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may find or use real AWS credentials or instance metadata."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", LOCAL_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LOCAL_CREDENTIALS["aws_secret_access_key"])
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", LOCAL_REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def dynamodb_local_per_region() -> Iterator[DynamoDBLocal]:
    """A second DynamoDB Local, without -sharedDb: a separate database (table set) per region name,
    for tests that talk to several regions (local/regions.py injects the latency between them)."""
    with DynamoDBLocal(shared_db=False) as server:
        yield server


@pytest.fixture
def dynamodb_at_scale() -> Iterator[CapacityLayer]:
    """DynamoDB as it behaves at scale, at 1/100: every DynamoDB client created in the test is
    metered per partition and throttled past 10 WCU/s or 30 RCU/s per partition key
    (local/dynamodb_capacity). Create the clients (bind the tables) inside the test."""
    with partition_capacity(PartitionLimits(scale=0.01)) as layer:
        yield layer
