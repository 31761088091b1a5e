"""Binding the pynamodb models to real tables, and creating tables where no stack does.

In AWS the CDK stack creates the tables (from ``table_key_schema``); DynamoDB Local in the
tests and the local runtime gets them from ``create_tables``, built from the same models.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import HTTPClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import TableError
from pynamodb.models import Model

from functions.credits.data.binding import TableBinding
from functions.credits.data.models import (
    CREDITS_MODELS,
    USERS_MODELS,
    AccountItem,
    CreditsTableModel,
    LedgerTableModel,
    UsersTableModel,
)
from functions.credits.settings import Settings

# What botocore raises when a region's tables cannot be reached at all (refused or timed-out
# connections, a connection closed mid-reply): "try again later" (StoreUnavailable, a 503), never
# "the call was wrong". A read timeout may follow a write that committed: callers that retry
# must be idempotent, as every money movement here is (request ids, idempotency keys).
UNREACHABLE_ERRORS: tuple[type[Exception], ...] = (BotocoreConnectionError, HTTPClientError)


def _all_models() -> tuple[type[Model], ...]:
    return (*USERS_MODELS, *CREDITS_MODELS, LedgerTableModel)


def table_binding(settings: Settings) -> TableBinding:
    """Where ``settings`` put the tables, for a store that binds per instance (several per process)."""
    return TableBinding(
        tables=(
            (UsersTableModel, settings.users_table),
            (CreditsTableModel, settings.credits_table),
            # issue 14 §3: the stream-derived ledger (the credits store reads it, the writer puts).
            (LedgerTableModel, settings.ledger_table_name),
        ),
        region=settings.region,
        host=settings.dynamodb_endpoint,
        connect_timeout_seconds=settings.dynamodb_connect_timeout_seconds,
        read_timeout_seconds=settings.dynamodb_read_timeout_seconds,
        max_retry_attempts=settings.dynamodb_max_retry_attempts,
        max_pool_connections=settings.dynamodb_max_pool_connections,
    )


def bind_tables(settings: Settings) -> Connection:
    """Point every model at the configured tables and endpoint; return a connection for transactions.

    This is the process-wide default: what a model uses when no ``TableBinding`` is current
    (functions/credits/data/binding.py). pynamodb keeps table settings on each model's ``Meta``
    (shared by the subclasses of one table's base model) and caches a connection per class, so
    the caches are dropped here.
    """
    binding = table_binding(settings)
    # The same options for the models' connections and the transaction connection.
    connection_options: dict[str, Any] = binding.connection_options()
    for base, table_name in binding.tables:
        for name, value in {"table_name": table_name, **connection_options}.items():
            setattr(base.Meta, name, value)
    for model in _all_models():
        model._connection = None
    return Connection(**connection_options)


def create_tables(settings: Settings) -> None:
    """Create both tables (on-demand) if they do not exist yet. For DynamoDB Local and tests."""
    bind_tables(settings)
    # The users table is created through AccountItem: its key schema plus the account-list index
    # (sellers, issue 16), which pynamodb only knows on the model that declares it.
    for base in (AccountItem, CreditsTableModel, LedgerTableModel):
        if not base.exists():
            _create_table(base)


def _create_table(base: type[Model]) -> None:
    try:
        base.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    except TableError as error:
        # A loaded DynamoDB Local can answer CreateTable after the client's read timeout; botocore
        # then sends it again and hears "Cannot create preexisting table" for the table its first
        # attempt created. It exists: wait for it (create_table skips the create when it exists).
        if error.cause_response_code != "ResourceInUseException":
            raise
        base.create_table(billing_mode="PAY_PER_REQUEST", wait=True)


def delete_tables(settings: Settings) -> None:
    bind_tables(settings)
    for base in (UsersTableModel, CreditsTableModel, LedgerTableModel):
        if base.exists():
            base.delete_table()
