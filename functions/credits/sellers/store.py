"""``SellersStore``: the store methods issue 16 adds, part of ``CreditsStore``.

Both implementations (DynamoDB and the in-memory twin) carry them in a marked block; the
contract is stated here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from functions.credits.sellers.lifecycle import AccountStatus, StatusChange
from functions.credits.sellers.links import LinkFacts
from functions.credits.sellers.records import AccountListSlice, BalanceFacts, StatusChangeOutcome
from functions.credits.store.records import AccountRecord


class SellersStore(Protocol):
    def list_accounts(
        self, *, status: AccountStatus | None, name_prefix: str | None, after: str | None, limit: int
    ) -> AccountListSlice:
        """Up to ``limit`` accounts in list order (name casefolded, then id) strictly after the
        sort key ``after``, with the status and name prefix asked for. No scan."""

    def get_balances(self, account_ids: Sequence[str]) -> dict[str, int]:
        """The balances of up to 100 accounts in one batch read (missing accounts left out)."""

    def get_balance_facts(self, account_id: str) -> BalanceFacts | None: ...

    def change_account_status(self, account: AccountRecord, change: StatusChange) -> StatusChangeOutcome:
        """Move ``account`` from the status it was read with to ``change.status`` (``StatusRaced``
        when another change got in first), recorded on the account and enforced on the balance
        (every later charge checks it), at once."""

    def set_alert_thresholds(self, account_id: str, thresholds: Sequence[int]) -> bool:
        """Store the thresholds on the balance; False when the account has no balance."""

    def put_link(self, link_digest: str, link: LinkFacts, *, now: datetime) -> None:
        """Store a new link under its token's digest (kept a day past its expiry, then deleted)."""

    def get_link(self, link_digest: str) -> LinkFacts | None: ...
