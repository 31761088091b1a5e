"""Void notices (issue 15): a request retried in another region is never charged twice.

The edge retries a request in the next region after an attempt whose reply was lost and whose
void failed; the retry names that region (``retry_of_region``). The answering region posts a
notice ``voids#<charged region>`` / ``<request id>`` into the void notice book: in AWS a small
global table replicated to every credits region, so the notice reaches the charged region even
if that region is down while it is written. The charged region's applier refunds the request id
(once: refunds are idempotent per request id) and settles the notice.

Why a refund by request id suffices (no "voided" marker): every attempt carries the edge's
``deadline_ms``, and a region never commits a charge past it (it refunds one that commits late).
So the applier waits ``APPLY_AFTER`` from the notice (longer than any attempt's budget) before it
looks: from then on no charge of that attempt can still appear.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from functions.credits.store.protocol import CreditsStore
from functions.shared.environment_variables import EDGEMETER_VOID_NOTICES_TABLE

# Longer than the edge's longest authorize attempt (3 s) plus clock skew between regions.
APPLY_AFTER = timedelta(seconds=10)
# The scheduled event (an EventBridge rule's constant input) that runs the applier in a region.
APPLY_VOID_NOTICES_EVENT: dict[str, str] = {"edgemeter": "apply_void_notices"}
VOID_NOTICE_REASON = "void_notice"


@dataclass(frozen=True, slots=True)
class VoidNotice:
    request_id: str
    charged_region: str  # where an earlier attempt may have charged
    posted_by_region: str  # the region that answered the retry
    posted_at: datetime


class VoidNoticeBook(Protocol):
    def post(self, notice: VoidNotice) -> None:
        """Record the notice; posting it again changes nothing."""

    def pending(self, charged_region: str) -> list[VoidNotice]: ...

    def settle(self, notice: VoidNotice) -> None:
        """The notice was applied: drop it."""


class InMemoryVoidNoticeBook:
    """The in-memory twin of ``DynamoDBVoidNoticeBook``."""

    def __init__(self) -> None:
        self._notices: dict[tuple[str, str], VoidNotice] = {}
        self._lock = threading.Lock()

    def post(self, notice: VoidNotice) -> None:
        with self._lock:
            self._notices.setdefault((notice.charged_region, notice.request_id), notice)

    def pending(self, charged_region: str) -> list[VoidNotice]:
        with self._lock:
            return [notice for (region, _), notice in self._notices.items() if region == charged_region]

    def settle(self, notice: VoidNotice) -> None:
        with self._lock:
            self._notices.pop((notice.charged_region, notice.request_id), None)


class DynamoDBVoidNoticeBook:
    """Notices as items ``voids#<charged region>`` / ``<request id>`` of a (global) pk/sk table."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def post(self, notice: VoidNotice) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"voids#{notice.charged_region}"},
                "sk": {"S": notice.request_id},
                "posted_by_region": {"S": notice.posted_by_region},
                "posted_at": {"S": notice.posted_at.isoformat()},
            },
        )

    def pending(self, charged_region: str) -> list[VoidNotice]:
        notices = []
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"voids#{charged_region}"}},
        ):
            for item in page.get("Items", []):
                notices.append(
                    VoidNotice(
                        request_id=item["sk"]["S"],
                        charged_region=charged_region,
                        posted_by_region=item["posted_by_region"]["S"],
                        posted_at=datetime.fromisoformat(item["posted_at"]["S"]),
                    )
                )
        return notices

    def settle(self, notice: VoidNotice) -> None:
        self._client.delete_item(
            TableName=self._table,
            Key={"pk": {"S": f"voids#{notice.charged_region}"}, "sk": {"S": notice.request_id}},
        )


def post_void_notice(
    book: VoidNoticeBook, request_id: str, charged_region: str | None, posted_by_region: str | None
) -> None:
    """What the answering region does for a retry naming ``charged_region``."""
    if charged_region is None:
        return
    book.post(
        VoidNotice(
            request_id=request_id,
            charged_region=charged_region,
            posted_by_region=posted_by_region or "unknown",
            posted_at=datetime.now(UTC),
        )
    )


def is_apply_void_notices_event(event: object) -> bool:
    return isinstance(event, dict) and event.get("edgemeter") == APPLY_VOID_NOTICES_EVENT["edgemeter"]


def apply_void_notices(
    book: VoidNoticeBook, region: str, store: CreditsStore, now: datetime
) -> list[VoidNotice]:
    """Refund, in ``region``, every request id a notice names once it is old enough; returns those."""
    applied = []
    for notice in book.pending(region):
        if now - notice.posted_at < APPLY_AFTER:
            continue
        charge = store.get_charge(notice.request_id)
        if charge is not None:
            store.refund(charge, reason=VOID_NOTICE_REASON, now=now)
        book.settle(notice)
        applied.append(notice)
    return applied


def void_notice_book_from_environment(
    region: str, dynamodb_endpoint: str | None
) -> DynamoDBVoidNoticeBook | None:
    """The book of this credits Lambda when the stacks gave it one (``EDGEMETER_VOID_NOTICES_TABLE``)."""
    table = os.environ.get(EDGEMETER_VOID_NOTICES_TABLE)
    if not table:
        return None
    import boto3  # noqa: PLC0415 - only regional deployments pay its import

    client = boto3.client("dynamodb", region_name=region, endpoint_url=dynamodb_endpoint)
    return DynamoDBVoidNoticeBook(client, table)
