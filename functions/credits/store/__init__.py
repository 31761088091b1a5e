"""The credits store: the service's one door to its data (docs/decisions.md, "Credits store").

``protocol.CreditsStore`` is the interface, ``records`` its domain types, ``errors`` its
failures; ``dynamodb.DynamoDBCreditsStore`` and ``memory.InMemoryCreditsStore`` implement it.
The implementations are imported from their modules (the DynamoDB one pulls in pynamodb).
"""

from functions.credits.store.errors import (
    CreditsStoreError,
    DataIntegrityError,
    InvalidCursor,
    StoreUnavailable,
)
from functions.credits.store.protocol import CreditsStore

__all__ = ["CreditsStore", "CreditsStoreError", "DataIntegrityError", "InvalidCursor", "StoreUnavailable"]
