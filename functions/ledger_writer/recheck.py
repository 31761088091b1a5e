"""Parked attempts: a debit whose charge record was not there yet, looked at again later.

Deployed, the queue is SQS with a 60 s delivery delay (``EDGEMETER_LEDGER_RECHECK_QUEUE_URL``);
locally, local/ledger_writer.py keeps its own delayed queue in process.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ParkedAttempt:
    """Debit ``attempt`` of ``request_id`` took ``amount`` credits from ``shard`` of ``account_id``."""

    account_id: str
    shard: int
    request_id: str
    attempt: str
    amount: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> ParkedAttempt:
        document = json.loads(text)
        return ParkedAttempt(
            account_id=str(document["account_id"]),
            shard=int(document["shard"]),
            request_id=str(document["request_id"]),
            attempt=str(document["attempt"]),
            amount=int(document["amount"]),
        )


class RecheckQueue(Protocol):
    def park(self, attempt: ParkedAttempt) -> None:
        """Hand ``attempt`` back to the writer after the recheck delay."""


class MessageSender(Protocol):
    """The one call of boto3's SQS client the queue makes."""

    def send_message(self, *, QueueUrl: str, MessageBody: str) -> object: ...


class SqsRecheckQueue:
    """The deployed queue: its own delivery delay (60 s) holds each message back."""

    def __init__(self, client: MessageSender, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def park(self, attempt: ParkedAttempt) -> None:
        self._client.send_message(QueueUrl=self._queue_url, MessageBody=attempt.to_json())
