"""Stream records -> domain events: pure functions, no I/O.

A record is one DynamoDB stream record (NEW_AND_OLD_IMAGES) as Lambda delivers it and as the
Streams API's GetRecords returns it (the same shape; only ``ApproximateCreationDateTime`` is an
epoch number in one and a datetime in the other). Every event is judged from the old and new
image of one update, so no state is kept between records: a crossing is seen in exactly the
one update that made it, whatever the concurrency, and a redelivered record yields the same
events with the same ids.

Item attributes read (CONTRIBUTING.md, "Events"): the balance item's ``balance`` and optional
``alert_thresholds``; the account item's ``status``, ``status_reason``, ``status_changed_by``,
``status_changed_at``; key items (``key#<id>`` under the account) inserted = issued, ``status``
active -> revoked = revoked. Key digests are never copied into an event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from functions.account_events.events import AccountEvent, EventType, event_id, utc_iso
from functions.credits.data.models import ACCOUNT_PROFILE_SK, BALANCE_SK, KEY_SK_PREFIX, account_pk
from functions.credits.store.low_balance_alerts import REGIONAL_SINCE

_ACCOUNT_PK_PREFIX = account_pk("")
_DESERIALIZER = TypeDeserializer()
_STATUS_EVENTS = {
    "suspended": EventType.ACCOUNT_SUSPENDED,
    "closed": EventType.ACCOUNT_CLOSED,
    "active": EventType.ACCOUNT_RESUMED,
}
# What a key event may carry from the key item: an allowlist, so the digest can never leak.
_KEY_ISSUED_FIELDS = ("name", "created_at", "expires_at", "spend_limit")
# The key item's scope attributes (functions/credits/sellers) -> the API's ``scope`` fields.
_KEY_SCOPE_FIELDS = {"scope_methods": "methods", "scope_prefixes": "prefixes"}


class MalformedStreamRecord(ValueError):
    """The record lacks what every DynamoDB stream record has (id, keys, creation time)."""


@dataclass(frozen=True)
class ItemChange:
    """One stream record, decoded: which item, its images before and after, and when."""

    record_id: str
    account_id: str
    sort_key: str
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None
    recorded_at: str


def derive_events(record: Mapping[str, Any]) -> list[AccountEvent]:
    """The events one stream record means (usually none: most changes are ledger entries)."""
    change = decode_record(record)
    if change is None:
        return []
    if change.sort_key == BALANCE_SK:
        return balance_events(change)
    if change.sort_key == ACCOUNT_PROFILE_SK:
        return status_events(change)
    if change.sort_key.startswith(KEY_SK_PREFIX):
        return key_events(change)
    return []


def decode_record(record: Mapping[str, Any]) -> ItemChange | None:
    """The item change of a record under an ``account#<id>`` partition, else None."""
    try:
        stream_data = record["dynamodb"]
        keys = _deserialize(stream_data["Keys"])
        record_id = str(record["eventID"])
        recorded_at = _recorded_at(stream_data["ApproximateCreationDateTime"])
    except (KeyError, TypeError) as error:
        raise MalformedStreamRecord(f"not a DynamoDB stream record: missing {error}") from error
    partition_key, sort_key = str(keys.get("pk", "")), str(keys.get("sk", ""))
    if not partition_key.startswith(_ACCOUNT_PK_PREFIX):
        return None
    old_image, new_image = stream_data.get("OldImage"), stream_data.get("NewImage")
    return ItemChange(
        record_id=record_id,
        account_id=partition_key.removeprefix(_ACCOUNT_PK_PREFIX),
        sort_key=sort_key,
        old=_deserialize(old_image) if old_image else None,
        new=_deserialize(new_image) if new_image else None,
        recorded_at=recorded_at,
    )


def balance_events(change: ItemChange) -> list[AccountEvent]:
    """One ``balance.low`` per threshold the balance fell below in this very update.

    A threshold is crossed downward when the balance was at or above it before and is below it
    after. A later rise back to or above it (a grant, a refund) re-arms it, with no state kept.
    """
    if change.old is None or change.new is None:
        return []
    if (_whole_number(change.new.get("shard_peak")) or 1) > 1:
        # sharding (issue 14): shard 0's balance is not the account's, and moves between shards
        # change it without any spending: judging it would raise false alerts.
        return []
    if change.new.get(REGIONAL_SINCE) is not None:
        # credits regions: home's balance is one share of the total, and a refill lowers it with
        # no spending; home's upkeep judges the total (functions/account_events/regional_balance.py).
        return []
    previous_balance = _whole_number(change.old.get("balance"))
    balance = _whole_number(change.new.get("balance"))
    if previous_balance is None or balance is None or balance >= previous_balance:
        return []
    crossed = sorted(
        {t for t in _thresholds(change.new.get("alert_thresholds")) if balance < t <= previous_balance},
        reverse=True,
    )
    return [
        AccountEvent(
            id=event_id(change.record_id, EventType.BALANCE_LOW, str(threshold)),
            type=EventType.BALANCE_LOW,
            account_id=change.account_id,
            occurred_at=change.recorded_at,
            detail={"threshold": threshold, "balance": balance, "previous_balance": previous_balance},
        )
        for threshold in crossed
    ]


def status_events(change: ItemChange) -> list[AccountEvent]:
    """``account.suspended`` / ``account.resumed`` / ``account.closed`` on a change of ``status``."""
    if change.old is None or change.new is None:
        return []
    previous_status, status = change.old.get("status"), change.new.get("status")
    event_type = _STATUS_EVENTS.get(str(status))
    if previous_status == status or event_type is None:
        return []
    detail = {
        "status": status,
        "previous_status": previous_status,
        "reason": change.new.get("status_reason"),
        "changed_by": change.new.get("status_changed_by"),
        "changed_at": change.new.get("status_changed_at"),
    }
    return [
        AccountEvent(
            id=event_id(change.record_id, event_type),
            type=event_type,
            account_id=change.account_id,
            occurred_at=change.recorded_at,
            detail=_json_safe(detail),
        )
    ]


def key_events(change: ItemChange) -> list[AccountEvent]:
    """``key.issued`` when a key item is inserted, ``key.revoked`` when its status turns revoked."""
    key_id = change.sort_key.removeprefix(KEY_SK_PREFIX)
    if change.old is None and change.new is not None:
        event_type = EventType.KEY_ISSUED
        detail = {"key_id": key_id} | {name: change.new.get(name) for name in _KEY_ISSUED_FIELDS}
        scope = {
            field: change.new[attribute]
            for attribute, field in _KEY_SCOPE_FIELDS.items()
            if attribute in change.new
        }
        detail["scope"] = scope or None
    elif (
        change.old is not None
        and change.new is not None
        and change.old.get("status") != "revoked"
        and change.new.get("status") == "revoked"
    ):
        event_type = EventType.KEY_REVOKED
        detail = {"key_id": key_id, "revoked_at": change.new.get("revoked_at")}
    else:
        return []
    return [
        AccountEvent(
            id=event_id(change.record_id, event_type),
            type=event_type,
            account_id=change.account_id,
            occurred_at=change.recorded_at,
            detail=_json_safe({name: value for name, value in detail.items() if value is not None}),
        )
    ]


# --------------------------------------------------------------------------- helpers


def _deserialize(image: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _DESERIALIZER.deserialize(value) for name, value in image.items()}


def _recorded_at(value: Any) -> str:
    """Lambda gives epoch seconds, the Streams API (boto3) a datetime; both become ISO UTC."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        moment = datetime.fromtimestamp(float(value), tz=UTC)
    return utc_iso(moment)


def _whole_number(value: Any) -> int | None:
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool) and value == int(value):
        return int(value)
    return None


def _thresholds(value: Any) -> set[int]:
    """``alert_thresholds`` as whole credits; absent, or anything but numbers, means none."""
    if not isinstance(value, Iterable) or isinstance(value, (str, bytes)):
        return set()
    return {number for number in (_whole_number(item) for item in value) if number is not None}


def _json_safe(value: Any) -> Any:
    """DynamoDB's Decimals and sets as JSON numbers and sorted lists."""
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    if isinstance(value, Mapping):
        return {str(name): _json_safe(item) for name, item in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(_json_safe(item) for item in value)
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value
