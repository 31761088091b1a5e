"""The local origin notifies the catalog as S3 does, through the catalog's own S3-event handler code.

Nothing here waits on a fixed sleep: each test waits (bounded) for a state the origin reports,
then checks what the catalog says at once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from mypy_boto3_s3 import S3Client

from functions.catalog.access import AccessOutcome, ObjectAccessGate
from functions.catalog.dynamodb_store import DynamoObjectCatalog, create_objects_table, delete_objects_table
from functions.catalog.entries import ObjectState
from functions.catalog.origin import S3ArchiveOrigin
from functions.catalog.s3_events import CatalogEventApplier
from functions.catalog.settings import CatalogSettings, RestoreSettings
from local.archive_origin import ArchiveOriginServer
from local.dynamodb_local import LOCAL_REGION, DynamoDBLocal

pytestmark = pytest.mark.dynamodb

RESTORE_SECONDS = 1.0
# Long enough for a loaded 2-core machine; the tests end as soon as the awaited state is there.
WAIT_LIMIT_SECONDS = 30.0


@dataclass
class ForwardingSink:
    """The origin's event sink, pointed at the applier once the catalog settings exist."""

    applier: CatalogEventApplier | None = None
    event_names: list[str] = field(default_factory=list)

    def __call__(self, event: dict[str, Any]) -> None:
        self.event_names.extend(record["eventName"] for record in event["Records"])
        assert self.applier is not None
        self.applier.handle(event)


@dataclass
class NotifyingOrigin:
    server: ArchiveOriginServer
    sink: ForwardingSink
    s3: S3Client
    settings: CatalogSettings
    catalog: DynamoObjectCatalog

    def delivered(self) -> None:
        assert self.server.app.notifier is not None
        self.server.app.notifier.wait_until_delivered()

    def stats(self) -> dict[str, Any]:
        document: dict[str, Any] = httpx.get(
            f"{self.server.endpoint_url}/_archive_origin/stats", timeout=5
        ).json()
        return document


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the awaited state never came"
        time.sleep(0.05)


@pytest.fixture
def notifying_origin(dynamodb_local: DynamoDBLocal) -> Iterator[NotifyingOrigin]:
    sink = ForwardingSink()
    with ArchiveOriginServer(restore_seconds=RESTORE_SECONDS, event_sink=sink) as server:
        bucket = f"events-{uuid.uuid4().hex[:8]}"
        s3: S3Client = boto3.client(
            "s3",
            endpoint_url=server.endpoint_url,
            region_name=LOCAL_REGION,
            config=Config(s3={"addressing_style": "path"}),
        )
        s3.create_bucket(Bucket=bucket)
        settings = CatalogSettings(
            bucket=bucket,
            objects_table=f"objects-{uuid.uuid4().hex[:8]}",
            region=LOCAL_REGION,
            dynamodb_endpoint=dynamodb_local.endpoint_url,
            s3_endpoint=server.endpoint_url,
            # The catalog expects restores to take far longer than they do here, and rechecks
            # rarely: only the Completed notification can make the object readable in time.
            restore=RestoreSettings(
                expected_seconds={"GLACIER": {"Expedited": 600, "Standard": 600, "Bulk": 600}},
                recheck_seconds=300,
            ),
        )
        create_objects_table(settings)
        catalog = DynamoObjectCatalog()
        sink.applier = CatalogEventApplier(catalog, S3ArchiveOrigin(settings), settings)
        try:
            yield NotifyingOrigin(server=server, sink=sink, s3=s3, settings=settings, catalog=catalog)
        finally:
            delete_objects_table(settings)


def test_created_and_removed_objects_reach_the_catalog(notifying_origin: NotifyingOrigin) -> None:
    origin = notifying_origin
    origin.s3.put_object(Bucket=origin.settings.bucket, Key="docs/a b.txt", Body=b"hello")
    origin.delivered()
    entry = origin.catalog.get("docs/a b.txt", consistent=True)
    assert entry is not None
    assert (entry.state, entry.size) == (ObjectState.READY, 5)
    origin.s3.delete_object(Bucket=origin.settings.bucket, Key="docs/a b.txt")
    origin.delivered()
    gone = origin.catalog.get("docs/a b.txt", consistent=True)
    assert gone is not None
    assert gone.effective_state(datetime.now(UTC)) is ObjectState.MISSING
    assert origin.sink.event_names == ["ObjectCreated:Put", "ObjectRemoved:Delete"]


def test_a_finished_restore_is_served_at_the_first_poll_after_restore_seconds(
    notifying_origin: NotifyingOrigin,
) -> None:
    origin = notifying_origin
    key = "cold/clip.mp4"
    origin.s3.put_object(Bucket=origin.settings.bucket, Key=key, Body=b"frames", StorageClass="GLACIER")
    origin.delivered()
    gate = ObjectAccessGate(origin.catalog, S3ArchiveOrigin(origin.settings), origin.settings)

    first = gate.check("GET", f"/{key}", datetime.now(UTC))
    assert (first.outcome, first.restore_started) == (AccessOutcome.RESTORE_IN_PROGRESS, True)
    requests_for_key = origin.stats()["by_key"][key]

    # The restore finishes on the origin's own timer after RESTORE_SECONDS: nobody asks for it.
    wait_for(lambda: "ObjectRestore:Completed" in origin.sink.event_names)
    origin.delivered()
    assert origin.stats()["pending_restores"] == []
    assert origin.stats()["by_key"][key] == requests_for_key
    # One poll later the object is served: no recheck interval, no expected-time guess.
    served = gate.check("GET", f"/{key}", datetime.now(UTC))
    assert served.outcome is AccessOutcome.PROCEED
    entry = origin.catalog.get(key, consistent=True)
    assert entry is not None
    assert entry.state is ObjectState.READY
    assert entry.restored_until is not None
    assert origin.sink.event_names == ["ObjectCreated:Put", "ObjectRestore:Post", "ObjectRestore:Completed"]
