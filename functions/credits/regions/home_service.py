"""Home's credits service with credits regions (issue 15 §4): a revocation or a status change is
applied in home, then in every credits region at once before the reply; the reply names the regions
it could not reach (``pending_regions``) and when it holds everywhere (``holds_everywhere_by``)."""

from __future__ import annotations

from collections.abc import Callable

from functions.credits.regions.regional_standing import AccountStatusSet, KeyRevoked, StandingKeeper
from functions.credits.regions.runtime import RegionalRuntime
from functions.credits.schemas import Key
from functions.credits.sellers.schemas import AccountStatusReply, AccountStatusRequest
from functions.credits.sellers.service import LinkSettings, SellersService
from functions.credits.service import Clock, CreditsService, ObjectsCatalog, Telemetry
from functions.credits.settings import Settings
from functions.credits.store.protocol import CreditsStore


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
