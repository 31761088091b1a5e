"""``TransferBook`` on a region's credits table (items beside the balances; no table of its own).

Items (the credits table's generic ``pk``/``sk`` keys):

- ``transfer#<id>`` / ``transfer``: the record (account, regions, amount, ``state``, created).
- ``transfers#unfinished`` / ``<created>#<id>``: present while this region's record is ``open`` or
  ``sent``: what the retrier reads. Transfers are rare (a refill or a return per account every
  minutes), so one partition holds them comfortably; it is written in the same transaction as the
  record, so the two never disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from functions.credits.data.tables import UNREACHABLE_ERRORS
from functions.credits.regions.transfers import TransferRecord, TransferState
from functions.credits.store.errors import StoreUnavailable

_UNFINISHED_PK = "transfers#unfinished"
_OPEN_STATES = frozenset({TransferState.OPEN, TransferState.SENT})


def _record_key(transfer_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"transfer#{transfer_id}"}, "sk": {"S": "transfer"}}


def _marker_key(record: TransferRecord) -> dict[str, Any]:
    return {"pk": {"S": _UNFINISHED_PK}, "sk": {"S": f"{record.created_at.isoformat()}#{record.transfer_id}"}}


def _item(record: TransferRecord) -> dict[str, Any]:
    return {
        **_record_key(record.transfer_id),
        "transfer_id": {"S": record.transfer_id},
        "account_id": {"S": record.account_id},
        "source_region": {"S": record.source_region},
        "target_region": {"S": record.target_region},
        "amount": {"N": str(record.amount)},
        "state": {"S": str(record.state)},
        "created_at": {"S": record.created_at.isoformat()},
    }


def _record(item: dict[str, Any]) -> TransferRecord:
    return TransferRecord(
        transfer_id=item["transfer_id"]["S"],
        account_id=item["account_id"]["S"],
        source_region=item["source_region"]["S"],
        target_region=item["target_region"]["S"],
        amount=int(item["amount"]["N"]),
        state=TransferState(item["state"]["S"]),
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
    )


class DynamoDBTransferBook:
    """A region's transfer records in its credits table, through a low-level DynamoDB client."""

    def __init__(self, client: Any, credits_table: str) -> None:
        self._client = client
        self._table = credits_table

    def create(self, record: TransferRecord) -> TransferRecord:
        put = {
            "Put": {
                "TableName": self._table,
                "Item": _item(record),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        items = [put]
        if record.state in _OPEN_STATES:
            items.append({"Put": {"TableName": self._table, "Item": _marker_key(record)}})
        try:
            self._call("transact_write_items", TransactItems=items)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
        existing = self.get(record.transfer_id)
        if existing is None:
            raise StoreUnavailable(f"transfer {record.transfer_id} neither written nor found")
        return existing

    def get(self, transfer_id: str) -> TransferRecord | None:
        reply = self._call(
            "get_item", TableName=self._table, Key=_record_key(transfer_id), ConsistentRead=True
        )
        item = reply.get("Item")
        return _record(item) if item is not None else None

    def move(self, transfer_id: str, expected: TransferState, new: TransferState) -> bool:
        record = self.get(transfer_id)
        if record is None or record.state is not expected:
            return False
        update = {
            "Update": {
                "TableName": self._table,
                "Key": _record_key(transfer_id),
                "UpdateExpression": "SET #state = :new",
                "ConditionExpression": "#state = :expected",
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": {":new": {"S": str(new)}, ":expected": {"S": str(expected)}},
            }
        }
        items = [update]
        if expected in _OPEN_STATES and new not in _OPEN_STATES:
            items.append({"Delete": {"TableName": self._table, "Key": _marker_key(record)}})
        try:
            self._call("transact_write_items", TransactItems=items)
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                return False
            raise
        return True

    def unfinished(self) -> list[TransferRecord]:
        records = []
        paginator = self._client.get_paginator("query")
        try:
            pages = list(
                paginator.paginate(
                    TableName=self._table,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": _UNFINISHED_PK}},
                    ConsistentRead=True,
                )
            )
        except UNREACHABLE_ERRORS as error:
            raise StoreUnavailable(f"transfer book unreadable: {type(error).__name__}") from error
        for page in pages:
            for marker in page.get("Items", []):
                transfer_id = marker["sk"]["S"].rsplit("#", 1)[1]
                record = self.get(transfer_id)
                if record is not None and record.state in _OPEN_STATES:
                    records.append(record)
        return records

    def _call(self, operation: str, **parameters: Any) -> dict[str, Any]:
        """One DynamoDB call; a region that cannot be reached is ``StoreUnavailable`` (retry later)."""
        try:
            reply: dict[str, Any] = getattr(self._client, operation)(**parameters)
        except UNREACHABLE_ERRORS as error:
            raise StoreUnavailable(f"region unreachable: {type(error).__name__}") from error
        return reply
