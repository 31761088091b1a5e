"""Home's credits service with credits regions (issue 15 §4, §5).

- A revocation or a status change is applied in home, then in every credits region at once before
  the reply; the reply names the regions it could not reach (``pending_regions``) and when it holds
  everywhere (``holds_everywhere_by``).
- The ledger route's pages merge every region's ledger by time (each entry names its region; the
  cursor holds one position per region); usage covers every region and leaves transfers out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime

from functions.credits.errors import InvalidRequest
from functions.credits.regions.billing import merged_ledger_page, merged_usage
from functions.credits.regions.regional_standing import AccountStatusSet, KeyRevoked, StandingKeeper
from functions.credits.regions.runtime import RegionalRuntime
from functions.credits.schemas import EntryKind, Key, LedgerEntry, LedgerPage, Usage
from functions.credits.sellers.schemas import AccountStatusReply, AccountStatusRequest
from functions.credits.sellers.service import LinkSettings, SellersService
from functions.credits.service import EARLIEST, LATEST, Clock, CreditsService, ObjectsCatalog, Telemetry
from functions.credits.settings import Settings
from functions.credits.store.errors import InvalidCursor
from functions.credits.store.protocol import CreditsStore
from functions.credits.store.records import LedgerRecord


class HomeRegionalSellers(SellersService):
    def __init__(
        self, store: CreditsStore, clock: Clock, links: LinkSettings, *, keeper: Callable[[], StandingKeeper]
    ) -> None:
        super().__init__(store, clock, links)
        self._keeper = keeper
        self._now = clock

    def change_status(
        self, account_id: str, request: AccountStatusRequest, principal: str
    ) -> AccountStatusReply:
        reply = super().change_status(account_id, request, principal)
        if not reply.changed:
            return reply
        now = self._now.now()
        regional = self._keeper().change_standing(AccountStatusSet(account_id, reply.status.value, now), now)
        return reply.model_copy(
            update={
                "pending_regions": list(regional.change.pending_regions),
                "holds_everywhere_by": regional.holds_everywhere_by,
            }
        )


class HomeRegionalService(CreditsService):
    """Home's service: billing as before, standing changes carried to every credits region."""

    def __init__(
        self,
        store: CreditsStore,
        settings: Settings,
        *,
        runtime: Callable[[], RegionalRuntime],
        telemetry: Telemetry | None = None,
        catalog: ObjectsCatalog | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(store, settings, telemetry=telemetry, catalog=catalog, clock=clock)
        self._runtime = runtime
        self._home_store = store
        self.sellers = HomeRegionalSellers(
            store, self._clock, LinkSettings.from_settings(settings), keeper=lambda: runtime().keeper
        )

    def revoke_key(self, account_id: str, key_id: str) -> Key:
        revoked = super().revoke_key(account_id, key_id)
        record = self._home_store.get_key(account_id, key_id)
        if record is None:
            return revoked
        now = self._clock.now()
        change = KeyRevoked(account_id, key_id, record.key_digest, now)
        regional = self._runtime().keeper.change_standing(change, now)
        return revoked.model_copy(
            update={
                "pending_regions": list(regional.change.pending_regions),
                "holds_everywhere_by": regional.holds_everywhere_by,
            }
        )

    def ledger(
        self,
        account_id: str,
        *,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> LedgerPage:
        """Every region's entries merged by time, newest first, each naming its region."""
        start, end = start or EARLIEST, end or LATEST
        if start >= end:
            raise InvalidRequest("`from` must be before `to`", field="from")
        self.get_account(account_id)  # 404 for an unknown account
        stores = self._runtime().stores
        try:
            page = merged_ledger_page(stores, account_id, start=start, end=end, limit=limit, cursor=cursor)
        except InvalidCursor as error:
            raise InvalidRequest(str(error), field="cursor") from None
        return LedgerPage(
            entries=[_entry_in(region, entry) for region, entry in page.entries], next_cursor=page.next_cursor
        )

    def usage(self, account_id: str, *, start: datetime | None, end: datetime | None) -> Usage:
        """Usage across every region (the period's defaults and checks as in home), transfers left out."""
        home = super().usage(account_id, start=start, end=end)
        totals = merged_usage(self._runtime().stores, account_id, start=home.from_, end=home.to)
        return Usage(account_id=account_id, from_=home.from_, to=home.to, **asdict(totals))


def _entry_in(region: str, entry: LedgerRecord) -> LedgerEntry:
    return LedgerEntry(
        entry_id=entry.entry_id,
        account_id=entry.account_id,
        request_id=entry.request_id,
        kind=EntryKind(entry.kind.value),
        amount=entry.amount,
        method=entry.method,
        path=entry.path,
        bytes=entry.bytes,
        reason=entry.reason,
        created_at=entry.created_at,
        region=region,
    )
