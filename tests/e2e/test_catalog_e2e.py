"""The objects catalog end to end through the local CDN: negative caching and restore on demand.

The system runs with the archive-capable origin (local/archive_origin.py) whose restores take an
hour unless the test finishes them through its control endpoint, so "restore running" is a real,
observable state and nothing waits on a clock. The origin counts every S3 request it serves.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.e2e.conftest import RunningSystem, running_system

pytestmark = pytest.mark.e2e

MISSING_REQUESTS = 1_000
# A bound on polling, so a broken system fails the test instead of hanging it (not a speed claim).
POLL_DEADLINE_SECONDS = 60.0

CATALOG_CONFIG = """
restore_seconds = 3600.0

[catalog]
tombstone_ttl_seconds = 3600

[catalog.restore]
recheck_seconds = 0

[catalog.restore.expected_seconds.GLACIER]
Standard = 1
Expedited = 1
Bulk = 1
"""


@pytest.fixture(scope="module")
def catalog_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    data_dir = tmp_path_factory.mktemp("catalog-system")
    config_file = data_dir / "edgemeter.local.toml"
    config_file.write_text(CATALOG_CONFIG)
    with running_system(data_dir, "--config", str(config_file), "--in-memory") as system:
        yield system


def origin_url(system: RunningSystem) -> str:
    return f"http://127.0.0.1:{system.ports['origin']}"


def forget_in_catalog(system: RunningSystem, key: str) -> None:
    """A lost ObjectCreated notification: once the origin's event has catalogued ``key``, remove it."""
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{system.ports['dynamodb']}",
        region_name="us-east-1",
    )
    item_key = {"pk": {"S": f"object#{key}"}, "sk": {"S": "object"}}
    deadline = time.monotonic() + POLL_DEADLINE_SECONDS
    while "Item" not in dynamodb.get_item(TableName="edgemeter-objects", Key=item_key, ConsistentRead=True):
        assert time.monotonic() < deadline, "the origin's ObjectCreated notification never arrived"
        time.sleep(0.1)
    dynamodb.delete_item(TableName="edgemeter-objects", Key=item_key)


def origin_stats(system: RunningSystem) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{origin_url(system)}/_archive_origin/stats", timeout=10).json()
    return document


def s3_client(system: RunningSystem) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=origin_url(system),
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(s3={"addressing_style": "path"}),
    )


def entries_of(system: RunningSystem, account_id: str, kind: str) -> list[dict[str, Any]]:
    return [entry for entry in system.ledger(account_id) if entry["kind"] == kind]


def test_a_missing_object_reaches_the_origin_once_and_costs_nothing(catalog_system: RunningSystem):
    account_id, _, api_key = catalog_system.new_account(credits=50, name="negative-cache")
    path = "/nowhere/missing-object.bin"
    key = path.removeprefix("/")
    headers = {"x-api-key": api_key}
    with httpx.Client(base_url=catalog_system.cdn_url, timeout=60, trust_env=False) as cdn:
        first = cdn.get(path, headers=headers)
        assert first.status_code == 404
        reached_after_first = origin_stats(catalog_system)["by_key"].get(key, 0)
        assert reached_after_first == 1

        def fetch(_: int) -> int:
            return cdn.get(path, headers=headers).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(fetch, range(MISSING_REQUESTS - 1)))
    assert set(statuses) == {404}
    assert origin_stats(catalog_system)["by_key"].get(key, 0) == reached_after_first
    charges = entries_of(catalog_system, account_id, "charge")
    refunds = entries_of(catalog_system, account_id, "refund")
    # The first request was charged before anyone knew and refunded on the origin's 404.
    assert len(charges) == 1
    assert len(refunds) == 1
    assert catalog_system.balance(account_id) == 50


def test_archived_object_is_restored_on_demand_and_charged_once(catalog_system: RunningSystem):
    account_id, _, api_key = catalog_system.new_account(credits=50, name="archive")
    key = "archive/old-recording.wav"
    body = b"RIFF" + bytes(range(256)) * 64
    s3_client(catalog_system).put_object(Bucket="edgemeter-local", Key=key, Body=body, StorageClass="GLACIER")
    synced = catalog_system.cli_json(
        "catalog",
        "sync",
        "--s3-endpoint",
        origin_url(catalog_system),
        "--dynamodb-endpoint",
        f"http://127.0.0.1:{catalog_system.ports['dynamodb']}",
    )
    # The origin's ObjectCreated notification may have catalogued it already; either way it is known.
    assert synced["added"] + synced["unchanged"] >= 1
    headers = {"x-api-key": api_key}
    with httpx.Client(base_url=catalog_system.cdn_url, timeout=60, trust_env=False) as cdn:
        started = cdn.get(f"/{key}", headers=headers)
        assert started.status_code == 503
        assert started.json()["error"]["code"] == "restore_in_progress"
        assert int(started.headers["retry-after"]) >= 1

        running = cdn.get(f"/{key}", headers=headers)
        assert running.status_code == 503
        assert running.json()["error"]["code"] == "restore_in_progress"
        head = s3_client(catalog_system).head_object(Bucket="edgemeter-local", Key=key)
        assert head["Restore"] == 'ongoing-request="true"'
        assert entries_of(catalog_system, account_id, "charge") == []

        httpx.post(
            f"{origin_url(catalog_system)}/_archive_origin/complete-restores", timeout=10
        ).raise_for_status()
        deadline = time.monotonic() + POLL_DEADLINE_SECONDS
        served = cdn.get(f"/{key}", headers=headers)
        while served.status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.2)
            served = cdn.get(f"/{key}", headers=headers)
    assert served.status_code == 200
    assert served.content == body
    assert origin_stats(catalog_system)["restore_requests"][key] == 1
    charges = entries_of(catalog_system, account_id, "charge")
    assert len(charges) == 1
    assert entries_of(catalog_system, account_id, "refund") == []
    assert catalog_system.balance(account_id) == 49
    shown = catalog_system.cli_json(
        "catalog", "show", key, "--dynamodb-endpoint", f"http://127.0.0.1:{catalog_system.ports['dynamodb']}"
    )
    assert (shown["state"], shown["storage_class"]) == ("ready", "GLACIER")


def test_archived_object_unknown_to_the_catalog_is_found_by_its_403(catalog_system: RunningSystem):
    """No sync: the first GET is charged, S3 says 403; the refund finds the archive and starts the restore."""
    account_id, _, api_key = catalog_system.new_account(credits=20, name="archive-403")
    key = "archive/never-synced.bin"
    s3_client(catalog_system).put_object(
        Bucket="edgemeter-local", Key=key, Body=b"cold bytes", StorageClass="GLACIER"
    )
    forget_in_catalog(catalog_system, key)
    headers = {"x-api-key": api_key}
    with httpx.Client(base_url=catalog_system.cdn_url, timeout=60, trust_env=False) as cdn:
        first = cdn.get(f"/{key}", headers=headers)
        assert first.status_code == 503
        assert first.json()["error"]["code"] == "restore_in_progress"
        assert int(first.headers["retry-after"]) >= 1
        reached_after_first = origin_stats(catalog_system)["by_key"][key]
        later = cdn.get(f"/{key}", headers=headers)
        assert later.status_code == 503
    stats = origin_stats(catalog_system)
    assert stats["restore_requests"][key] == 1
    # The later 503 came from the catalog: it did not reach the origin.
    assert stats["by_key"][key] == reached_after_first
    assert len(entries_of(catalog_system, account_id, "charge")) == 1
    assert len(entries_of(catalog_system, account_id, "refund")) == 1
    assert catalog_system.balance(account_id) == 20
