"""``edgemeter migrate`` (issue 14 §8): every balance shard carries its ``seq`` counter.

What the stream-derived ledger needs from an account stored before it: nothing but a ``seq`` on
each shard, starting at 0 (``seq`` counts the shard's ledger-table entries; the old entries stay in
the credits table, where every read and the audit still find them). The two-write charge sets it
lazily (``seq = if_not_exists(seq, 0) + 1``); this step sets it on every shard ahead of time, IF it
is absent, so running it twice, or while charges run, changes nothing more. The audit is the same
before and after (an absent ``seq`` reads as 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.connection import TableConnection
from pynamodb.exceptions import UpdateError

from functions.credits.data.models import BalanceItem
from functions.credits.settings import Settings
from ops.audit import DynamoDBCredentials, scan_credits_table

_CONDITION_FAILED = "ConditionalCheckFailedException"


@dataclass(frozen=True, slots=True)
class MigrationReport:
    shards: int  # balance shards seen
    migrated: int  # shards that got their ``seq`` now
    already: int  # shards that had one (an earlier run, or a two-write charge)


def migrate_shards(settings: Settings, *, credentials: DynamoDBCredentials | None = None) -> MigrationReport:
    """Set ``seq = 0`` on every balance shard without one (conditional, idempotent)."""
    table = TableConnection(
        settings.credits_table,
        region=settings.region,
        host=settings.dynamodb_endpoint,
        max_retry_attempts=max(settings.dynamodb_max_retry_attempts, 5),
        aws_access_key_id=credentials.access_key_id if credentials is not None else None,
        aws_secret_access_key=credentials.secret_access_key if credentials is not None else None,
    )
    table.describe_table()  # update_item needs the key schema
    shards = migrated = 0
    for item in scan_credits_table(settings, credentials=credentials):
        if not isinstance(item, BalanceItem):
            continue
        shards += 1
        if item.seq is not None:
            continue
        try:
            table.update_item(
                item.pk,
                item.sk,
                actions=[BalanceItem.seq.set(0)],
                condition=BalanceItem.pk.exists() & BalanceItem.seq.does_not_exist(),
            )
        except UpdateError as error:
            if error.cause_response_code != _CONDITION_FAILED:
                raise
            continue  # a charge or another run set it meanwhile
        migrated += 1
    return MigrationReport(shards=shards, migrated=migrated, already=shards - migrated)
