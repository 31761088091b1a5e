"""Revocation, suspension and closing reach every credits region from home (issue 15 §4), durably.

Home applies a change in its own tables first (the API's usual write), then in every credits region
at once, before the call returns:

- a **revocation** marks both copies of the key revoked in the region's users replica (the global
  table replicates the same write; writing it here does not wait for replication) and bumps the
  region's ``key_revocations`` on the account's balance item, so every container's cached key
  facts there stop charging at once;
- a **status change** (suspended, closed, active again) sets ``account_status`` on the region's
  balance item, the copy every regional charge is conditioned on.

A region that cannot be reached gets the change recorded as **pending** in home's credits table
(``standing#pending#<region>`` / ``<time>#<id>``): durable, so any container's upkeep replays it.
Home's upkeep replays a region's pending changes, in order, *before* it extends that region's lease;
a region with a change still pending keeps its old lease, which lapses within ``LEASE``, and from
then on refuses to charge. The reply names the pending regions and when the change holds
everywhere: now, or when their leases lapse.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from functions.credits.regions.leases import LEASE, LeaseBook
from functions.credits.regions.regional_items import call
from functions.credits.regions.standing import StandingChange, apply_everywhere
from functions.credits.store.errors import StoreUnavailable


@dataclass(frozen=True, slots=True)
class KeyRevoked:
    account_id: str
    key_id: str
    key_digest: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AccountStatusSet:
    account_id: str
    status: str
    at: datetime


Change = KeyRevoked | AccountStatusSet


def change_document(change: Change) -> dict[str, str]:
    if isinstance(change, KeyRevoked):
        return {
            "kind": "key_revoked",
            "account_id": change.account_id,
            "key_id": change.key_id,
            "key_digest": change.key_digest,
            "at": change.at.isoformat(),
        }
    return {
        "kind": "account_status",
        "account_id": change.account_id,
        "status": change.status,
        "at": change.at.isoformat(),
    }


def change_from_document(document: Mapping[str, str]) -> Change:
    at = datetime.fromisoformat(document["at"])
    if document["kind"] == "key_revoked":
        return KeyRevoked(document["account_id"], document["key_id"], document["key_digest"], at)
    return AccountStatusSet(document["account_id"], document["status"], at)


class StandingTarget(Protocol):
    """What a credits region's store does with a change (RegionalDynamoDBCreditsStore; a test twin)."""

    def apply_revocation(self, change: KeyRevoked) -> None: ...

    def apply_account_status(self, change: AccountStatusSet) -> None: ...


def apply_change(target: StandingTarget, change: Change) -> None:
    if isinstance(change, KeyRevoked):
        target.apply_revocation(change)
    else:
        target.apply_account_status(change)


class PendingChanges(Protocol):
    """Changes a region has not taken yet, oldest first (in AWS: items in home's credits table)."""

    def add(self, region: str, change: Change) -> None: ...

    def pending(self, region: str) -> list[tuple[str, Change]]: ...

    def done(self, region: str, change_id: str) -> None: ...


class InMemoryPendingChanges:
    def __init__(self) -> None:
        self._pending: dict[str, dict[str, Change]] = {}
        self._lock = threading.Lock()

    def add(self, region: str, change: Change) -> None:
        with self._lock:
            self._pending.setdefault(region, {})[f"{change.at.isoformat()}#{uuid.uuid4().hex}"] = change

    def pending(self, region: str) -> list[tuple[str, Change]]:
        with self._lock:
            return sorted(self._pending.get(region, {}).items())

    def done(self, region: str, change_id: str) -> None:
        with self._lock:
            self._pending.get(region, {}).pop(change_id, None)


class DynamoDBPendingChanges:
    """``standing#pending#<region>`` / ``<time>#<id>`` items of home's credits table."""

    def __init__(self, client: Any, credits_table: str) -> None:
        self._client = client
        self._table = credits_table

    def add(self, region: str, change: Change) -> None:
        change_id = f"{change.at.isoformat()}#{uuid.uuid4().hex}"
        item = {
            "pk": {"S": f"standing#pending#{region}"},
            "sk": {"S": change_id},
            "change": {"S": json.dumps(change_document(change))},
        }
        call(self._client, "put_item", TableName=self._table, Item=item)

    def pending(self, region: str) -> list[tuple[str, Change]]:
        found: list[tuple[str, Change]] = []
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"standing#pending#{region}"}},
            ConsistentRead=True,
        ):
            for item in page.get("Items", []):
                found.append((item["sk"]["S"], change_from_document(json.loads(item["change"]["S"]))))
        return found

    def done(self, region: str, change_id: str) -> None:
        key = {"pk": {"S": f"standing#pending#{region}"}, "sk": {"S": change_id}}
        call(self._client, "delete_item", TableName=self._table, Key=key)


@dataclass(frozen=True, slots=True)
class RegionalStandingReply:
    """Where a change took effect and when it holds everywhere (what the API's reply carries)."""

    change: StandingChange
    holds_everywhere_by: datetime


class StandingKeeper:
    """Home's side: a change applied in every region at once, the unreached ones recorded as pending;
    renewals replay a region's pending changes before extending its lease."""

    def __init__(
        self,
        targets: Mapping[str, StandingTarget],
        leases: Mapping[str, LeaseBook],
        pending: PendingChanges,
    ) -> None:
        self._targets = dict(targets)
        self._leases = dict(leases)
        self._pending = pending

    def change_standing(self, change: Change, now: datetime) -> RegionalStandingReply:
        applied = apply_everywhere(self._targets, lambda target: apply_change(target, change))
        for region in applied.pending_regions:
            self._pending.add(region, change)
        holds_by = now if not applied.pending_regions else now + LEASE
        return RegionalStandingReply(change=applied, holds_everywhere_by=holds_by)

    def renew(self, now: datetime) -> list[str]:
        """Renew every reachable region's lease after its pending changes; returns the renewed."""
        renewed = []
        for region, lease in self._leases.items():
            try:
                for change_id, change in self._pending.pending(region):
                    apply_change(self._targets[region], change)
                    self._pending.done(region, change_id)
                lease.extend(now + LEASE)
            except StoreUnavailable:
                continue
            renewed.append(region)
        return renewed


StandingFactory = Callable[[], StandingKeeper]
