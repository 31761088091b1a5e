"""``CreditsStore``: everything the credits service reads and writes, as intents.

Two implementations with the same conditional semantics, checked by one contract suite
(tests/contract/credits/): ``DynamoDBCreditsStore`` (functions/credits/store/dynamodb.py) for
the service, ``InMemoryCreditsStore`` (functions/credits/store/memory.py) for logic tests.

The balance is moved only by ``charge``, ``refund`` and ``grant``, each all-or-nothing:
a balance never goes below zero, every change has its ledger entry, a request id is charged
once, a charge is refunded once, an idempotency key is granted once. How the balance is laid
out (one item today, shards later) is the store's business, not the caller's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from functions.credits.sellers.store import SellersStore
from functions.credits.store.records import (
    AccountRecord,
    ChargeIntent,
    ChargeOutcome,
    ChargeRecord,
    GrantIntent,
    GrantOutcome,
    KeyRecord,
    KeyStanding,
    LedgerRecord,
    Page,
    Refunded,
    RefundRecord,
    UsageTotals,
)


# sellers (issue 16): the account list, status changes, links and thresholds are ``SellersStore``'s
# methods (functions/credits/sellers/store.py), part of this interface.
class CreditsStore(SellersStore, Protocol):
    # accounts ----------------------------------------------------------------------------------

    def create_account(self, account: AccountRecord) -> None:
        """Store a new account with a zero balance (``DataIntegrityError`` on an id collision)."""

    def get_account(self, account_id: str) -> AccountRecord | None: ...

    def get_balance(self, account_id: str) -> int | None:
        """The account's balance; None when it has none (no such account)."""

    # keys --------------------------------------------------------------------------------------

    def put_key(self, key: KeyRecord) -> bool:
        """Store a new key, findable by id and by digest; False when its account does not exist."""

    def get_key(self, account_id: str, key_id: str) -> KeyRecord | None: ...

    def get_key_by_digest(self, key_digest: str) -> KeyRecord | None: ...

    def get_key_standing(self, key_digest: str, account_id: str) -> KeyStanding | None:
        """The key and its account's revocation count as of one instant.

        None when the pair cannot be read right now or either is missing: callers use this
        only to warm a cache, never to decide.
        """

    def list_keys(self, account_id: str, limit: int, cursor: str | None) -> Page[KeyRecord]:
        """The account's keys in key id order (``InvalidCursor`` for a foreign cursor)."""

    def revoke_key(self, key: KeyRecord, now: datetime) -> None:
        """Revoke an active key and count the revocation on its account, at once; idempotent."""

    # rate limits -------------------------------------------------------------------------------

    def take_rate_limit_slot(self, key_id: str, per_second: int, burst: int, now_us: int) -> int:
        """GCRA: 0 when the request may go ahead (a slot is taken), else microseconds to wait."""

    # money movements ---------------------------------------------------------------------------

    def charge(self, intent: ChargeIntent) -> ChargeOutcome:
        """Debit, charge record and ledger entry, all or nothing.

        Checked in this order: a request id charged before is ``AlreadyCharged`` (whatever the
        balance); a changed revocation count is ``KeyRevocationsChanged``; a balance below the
        amount is ``InsufficientCredits``.
        """

    def get_charge(self, request_id: str) -> ChargeRecord | None: ...

    def refund(self, charge: ChargeRecord, *, reason: str, now: datetime) -> Refunded:
        """Give a charge's credits back, once: a second refund replays the first."""

    def get_refund(self, request_id: str) -> RefundRecord | None: ...

    def grant(self, intent: GrantIntent) -> GrantOutcome:
        """Credit the account once per idempotency key, within the balance limit."""

    # ledger and usage --------------------------------------------------------------------------

    def ledger_page(
        self, account_id: str, *, start: datetime, end: datetime, limit: int, cursor: str | None
    ) -> Page[LedgerRecord]:
        """Entries created in [start, end), newest first (``InvalidCursor`` for a foreign cursor)."""

    def usage(self, account_id: str, *, start: datetime, end: datetime) -> UsageTotals:
        """The account's usage from its ledger entries created in [start, end)."""
