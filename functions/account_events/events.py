"""The domain events and their JSON shape (the public contract of every sink).

One event as JSON::

    {
      "id": "evt_3f0c...",            # deterministic: the same stream record gives the same id
      "type": "balance.low",          # one of EventType
      "account_id": "acct_...",
      "occurred_at": "2026-12-05T08:00:00Z",  # when DynamoDB recorded the change (UTC)
      "detail": {...}                 # per type, see docs/decisions.md "Account events (issue 16)"
    }

On EventBridge the whole document is the event's ``detail``, ``type`` its ``detail-type`` and
``edgemeter.accounts`` its ``source``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

EVENT_SOURCE = "edgemeter.accounts"
# The file name of the local JSON-lines event log inside the local runtime's data directory
# (written by local/events.py, tailed by `edgemeter events --follow`).
EVENTS_LOG_FILE_NAME = "events.jsonl"


class EventType(StrEnum):
    BALANCE_LOW = "balance.low"
    ACCOUNT_SUSPENDED = "account.suspended"
    ACCOUNT_RESUMED = "account.resumed"
    ACCOUNT_CLOSED = "account.closed"
    KEY_ISSUED = "key.issued"
    KEY_REVOKED = "key.revoked"


def event_id(stream_event_id: str, event_type: EventType, qualifier: str = "") -> str:
    """A stable id from the stream record's own id: a redelivered record yields the same event ids.

    ``qualifier`` tells apart several events of one record (one per threshold crossed).
    """
    digest = hashlib.sha256(f"{stream_event_id}/{event_type.value}/{qualifier}".encode()).hexdigest()
    return f"evt_{digest[:32]}"


def utc_iso(moment: datetime) -> str:
    """``moment`` as ISO 8601 in UTC with a ``Z`` (seconds precision is what streams record)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class AccountEvent:
    id: str
    type: EventType
    account_id: str
    occurred_at: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type.value,
            "account_id": self.account_id,
            "occurred_at": self.occurred_at,
            "detail": self.detail,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_document(), separators=(",", ":"), sort_keys=True)
