"""The small items regional credits keeps beside the balances of a region's credits table (issue 15).

- ``lease#region`` / ``lease``: the region's standing lease (leases.py), ``until`` in epoch ms. Home
  only ever extends it (a conditional ``until < :new``), so a reader holding an older value errs on
  the safe side: it may refuse to charge a moment longer, never charge past the lease.
- ``regional#accounts`` / ``<account id>``: the accounts this region holds credit for, with when
  the region last asked for credit. Home's upkeep walks it for refills and idle returns; without it
  home would have to scan every account of every region once a minute.
- ``account#<id>`` / ``balance`` opened in a region: a credits region's table has no account until
  its first credit arrives (accounts are created in home), so the region puts an empty balance item
  *if absent* before it takes a transfer or charges, with the account's status as the users replica
  shows it.

Low-level client calls like ``DynamoDBTransferBook``: these items are not money (the lease and the
registry) or are one put-if-absent (the balance), and a region unreachable is ``StoreUnavailable``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from functions.credits.data.models import BALANCE_SK, account_pk
from functions.credits.store.errors import StoreUnavailable

_LEASE_KEY = {"pk": {"S": "lease#region"}, "sk": {"S": "lease"}}
_ACCOUNTS_PK = "regional#accounts"
# A container re-reads its lease at most this often: one GetItem per 5 s, not one per charge.
LEASE_READ_EVERY_SECONDS = 5.0

_UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError)


def call(client: Any, operation: str, **parameters: Any) -> dict[str, Any]:
    """One DynamoDB call; a region that cannot be reached is ``StoreUnavailable``."""
    try:
        reply: dict[str, Any] = getattr(client, operation)(**parameters)
    except _UNREACHABLE as error:
        raise StoreUnavailable(f"region unreachable: {type(error).__name__}") from error
    return reply


def _conditional(client: Any, operation: str, **parameters: Any) -> bool:
    """False when the call's condition failed (already done / already newer)."""
    try:
        call(client, operation, **parameters)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


class DynamoDBLeaseBook:
    """A region's standing lease in its credits table; reads are cached for a few seconds."""

    def __init__(
        self, client: Any, credits_table: str, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._table = credits_table
        self._monotonic = monotonic
        self._cached: tuple[float, datetime | None] | None = None
        self._lock = threading.Lock()

    def lease_until(self) -> datetime | None:
        with self._lock:
            cached = self._cached
        now = self._monotonic()
        fresh = cached is not None and now - cached[0] < LEASE_READ_EVERY_SECONDS
        if fresh and cached is not None and cached[1] is not None and cached[1] > datetime.now(UTC):
            return cached[1]
        # Stale, or about to refuse on the cached value: read before deciding.
        reply = call(self._client, "get_item", TableName=self._table, Key=_LEASE_KEY, ConsistentRead=True)
        item = reply.get("Item")
        until = None if item is None else datetime.fromtimestamp(int(item["until"]["N"]) / 1000, UTC)
        with self._lock:
            self._cached = (now, until)
        return until

    def extend(self, until: datetime) -> None:
        millis = str(int(until.timestamp() * 1000))
        _conditional(
            self._client,
            "update_item",
            TableName=self._table,
            Key=_LEASE_KEY,
            UpdateExpression="SET #until = :until",
            ConditionExpression="attribute_not_exists(#until) OR #until < :until",
            ExpressionAttributeNames={"#until": "until"},
            ExpressionAttributeValues={":until": {"N": millis}},
        )


@dataclass(frozen=True, slots=True)
class NotedAccount:
    """An account a region holds credit for: when it last asked, and the credits it asked for
    (dry requests it sent elsewhere) since home last refilled it."""

    noted_at: datetime
    asked: int = 0


class RegionalAccounts(Protocol):
    """The accounts a region holds credit for (what home's upkeep refills and returns)."""

    def note(self, account_id: str, at: datetime, asked: int = 0) -> None:
        """The region asked for ``asked`` more credits of the account at ``at`` (0: just keep it)."""

    def noted(self) -> dict[str, NotedAccount]: ...

    def refilled(self, account_id: str) -> None:
        """Home answered the asks: start counting again."""

    def forget(self, account_id: str) -> None: ...


class InMemoryRegionalAccounts:
    def __init__(self) -> None:
        self._noted: dict[str, NotedAccount] = {}
        self._lock = threading.Lock()

    def note(self, account_id: str, at: datetime, asked: int = 0) -> None:
        with self._lock:
            before = self._noted.get(account_id)
            self._noted[account_id] = NotedAccount(at, (before.asked if before else 0) + asked)

    def noted(self) -> dict[str, NotedAccount]:
        with self._lock:
            return dict(self._noted)

    def refilled(self, account_id: str) -> None:
        with self._lock:
            before = self._noted.get(account_id)
            if before is not None:
                self._noted[account_id] = NotedAccount(before.noted_at, 0)

    def forget(self, account_id: str) -> None:
        with self._lock:
            self._noted.pop(account_id, None)


class DynamoDBRegionalAccounts:
    """``regional#accounts`` / ``<account id>`` items of a region's credits table."""

    def __init__(self, client: Any, credits_table: str) -> None:
        self._client = client
        self._table = credits_table

    def _key(self, account_id: str) -> dict[str, Any]:
        return {"pk": {"S": _ACCOUNTS_PK}, "sk": {"S": account_id}}

    def note(self, account_id: str, at: datetime, asked: int = 0) -> None:
        call(
            self._client,
            "update_item",
            TableName=self._table,
            Key=self._key(account_id),
            UpdateExpression="SET noted_at = :at ADD asked :asked",
            ExpressionAttributeValues={":at": {"S": at.isoformat()}, ":asked": {"N": str(asked)}},
        )

    def noted(self) -> dict[str, NotedAccount]:
        noted: dict[str, NotedAccount] = {}
        paginator = self._client.get_paginator("query")
        try:
            for page in paginator.paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": _ACCOUNTS_PK}},
            ):
                for item in page.get("Items", []):
                    noted[item["sk"]["S"]] = NotedAccount(
                        datetime.fromisoformat(item["noted_at"]["S"]), int(item.get("asked", {"N": "0"})["N"])
                    )
        except _UNREACHABLE as error:
            raise StoreUnavailable(f"region unreachable: {type(error).__name__}") from error
        return noted

    def refilled(self, account_id: str) -> None:
        _conditional(  # a registry entry forgotten meanwhile stays forgotten
            self._client,
            "update_item",
            TableName=self._table,
            Key=self._key(account_id),
            UpdateExpression="SET asked = :zero",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )

    def forget(self, account_id: str) -> None:
        call(self._client, "delete_item", TableName=self._table, Key=self._key(account_id))


def open_regional_balance(client: Any, credits_table: str, account_id: str, account_status: str) -> bool:
    """Put the account's empty balance item in a region's table if absent; True when it was put.

    ``key_revocations`` starts at 0: it is this region's own counter (a container's cached key
    facts are checked against the count of the table it charges in).
    """
    return _conditional(
        client,
        "put_item",
        TableName=credits_table,
        Item={
            "pk": {"S": account_pk(account_id)},
            "sk": {"S": BALANCE_SK},
            "account_id": {"S": account_id},
            "balance": {"N": "0"},
            "key_revocations": {"N": "0"},
            "account_status": {"S": account_status},
        },
        ConditionExpression="attribute_not_exists(pk)",
    )
