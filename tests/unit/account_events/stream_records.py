"""Builders of DynamoDB stream records (NEW_AND_OLD_IMAGES) as Lambda delivers them."""

from __future__ import annotations

import itertools
from typing import Any

from boto3.dynamodb.types import TypeSerializer

_SERIALIZER = TypeSerializer()
_sequence = itertools.count(1000)
RECORDED_AT_EPOCH = 1_796_457_600.0  # 2026-12-05T08:00:00Z


def _image(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _SERIALIZER.serialize(value) for name, value in item.items()}


def stream_record(
    pk: str,
    sk: str,
    *,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    event_id: str | None = None,
) -> dict[str, Any]:
    sequence = str(next(_sequence))
    event_name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
    dynamodb: dict[str, Any] = {
        "Keys": _image({"pk": pk, "sk": sk}),
        "SequenceNumber": sequence,
        "ApproximateCreationDateTime": RECORDED_AT_EPOCH,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
        "SizeBytes": 100,
    }
    if old is not None:
        dynamodb["OldImage"] = _image({"pk": pk, "sk": sk, **old})
    if new is not None:
        dynamodb["NewImage"] = _image({"pk": pk, "sk": sk, **new})
    return {
        "eventID": event_id or f"record-{sequence}",
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "eventVersion": "1.1",
        "awsRegion": "eu-west-1",
        "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/edgemeter-credits/stream/2026",
        "dynamodb": dynamodb,
    }


def balance_update(
    account_id: str, before: int, after: int, thresholds: list[int] | None = None, **options: Any
) -> dict[str, Any]:
    extra: dict[str, Any] = {} if thresholds is None else {"alert_thresholds": thresholds}
    return stream_record(
        f"account#{account_id}",
        "balance",
        old={"account_id": account_id, "balance": before, **extra},
        new={"account_id": account_id, "balance": after, **extra},
        **options,
    )
