"""Where events go: one Protocol, three sinks (EventBridge, a webhook, a JSON-lines file).

Every publisher either delivers all the events it is given or raises ``PublishError``; the
caller (the stream consumer) then lets the stream redeliver the record, and the events' ids,
derived from the record, let a receiver recognise a repeat.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import urllib3
from urllib3.util.retry import Retry

from functions.account_events.events import EVENT_SOURCE, AccountEvent

if TYPE_CHECKING:
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

# PutEvents takes at most 10 entries per call.
EVENTBRIDGE_BATCH_SIZE = 10
WEBHOOK_EVENT_ID_HEADER = "X-Edgemeter-Event-Id"


class PublishError(RuntimeError):
    """Some events were not delivered (the stream will redeliver their record)."""


class EventPublisher(Protocol):
    def publish(self, events: Sequence[AccountEvent]) -> None:
        """Deliver every event, in order, or raise PublishError."""


class EventBridgePublisher:
    """PutEvents to a custom bus, 10 entries per call; entries the bus failed are retried, then raised.

    Throttling of the call itself is retried by botocore's own retry modes (the client's config).
    """

    def __init__(self, client: EventBridgeClient, bus_name: str, *, entry_attempts: int = 3) -> None:
        self._client = client
        self._bus_name = bus_name
        self._entry_attempts = entry_attempts

    def publish(self, events: Sequence[AccountEvent]) -> None:
        for start in range(0, len(events), EVENTBRIDGE_BATCH_SIZE):
            self._put_batch(events[start : start + EVENTBRIDGE_BATCH_SIZE])

    def _put_batch(self, events: Sequence[AccountEvent]) -> None:
        pending = list(events)
        failures: list[str] = []
        for _ in range(self._entry_attempts):
            reply = self._client.put_events(Entries=[self._entry(event) for event in pending])
            if reply.get("FailedEntryCount", 0) == 0:
                return
            # Result entries are in request order; a failed one has an ErrorCode and no EventId.
            refused = [
                (event, str(result.get("ErrorCode")))
                for event, result in zip(pending, reply["Entries"], strict=True)
                if result.get("ErrorCode")
            ]
            pending = [event for event, _ in refused]
            failures = [f"{event.id}: {code}" for event, code in refused]
        raise PublishError(f"EventBridge refused {len(pending)} events: {'; '.join(failures)}")

    def _entry(self, event: AccountEvent) -> PutEventsRequestEntryTypeDef:
        return {
            "Source": EVENT_SOURCE,
            "DetailType": event.type.value,
            "Detail": event.to_json(),
            "EventBusName": self._bus_name,
        }


class WebhookPublisher:
    """One HTTP POST of the event's JSON per event; urllib3's Retry retries failures with backoff.

    Connection errors, 429 and 5xx are retried (POST included: the event id header lets the
    receiver drop a repeat); another 4xx, or retries used up, raises PublishError.
    """

    def __init__(
        self,
        url: str,
        *,
        attempts: int = 4,
        backoff_seconds: float = 0.2,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._url = url
        retry = Retry(
            total=attempts - 1,
            backoff_factor=backoff_seconds,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=None,  # every method, POST included
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        self._http = urllib3.PoolManager(retries=retry, timeout=urllib3.Timeout(total=timeout_seconds))

    def publish(self, events: Sequence[AccountEvent]) -> None:
        for event in events:
            try:
                response = self._http.request(
                    "POST",
                    self._url,
                    body=event.to_json().encode(),
                    headers={"Content-Type": "application/json", WEBHOOK_EVENT_ID_HEADER: event.id},
                )
            except urllib3.exceptions.HTTPError as error:
                raise PublishError(f"webhook {self._url} unreachable for {event.id}: {error}") from error
            if response.status >= 300:
                raise PublishError(f"webhook {self._url} answered {response.status} to {event.id}")


class JsonLinesPublisher:
    """Appends one JSON document per line (the local log `edgemeter events --follow` tails)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path

    def publish(self, events: Sequence[AccountEvent]) -> None:
        if not events:
            return
        lines = "".join(f"{event.to_json()}\n" for event in events)
        try:
            with self._lock:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                # One write of whole lines, so a follower never reads half an event.
                with self._path.open("a", encoding="utf-8") as log:
                    log.write(lines)
        except OSError as error:
            raise PublishError(f"cannot append to {self._path}: {error}") from error
