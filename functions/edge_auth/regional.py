"""Regional credits at the edge (issue 15): the nearest credits region first, failover, never twice.

The deploy bakes, per edge region, the credits regions to try (nearest first, home among them;
functions/shared/region_latency.py). ``RegionalCreditsClient`` has ``CreditsClient``'s two calls:

- **authorize** tries the regions in order. A failure whose request never left the edge
  (``RequestNotSentError``) moves on at once. One that may have reached the region
  (``RequestMaybeSentError``: a timeout, a lost reply) is voided there first (a refund by request
  id, a short budget); when that void fails too, the next attempt carries ``retry_of_region``
  naming that region, so the answering region records a void notice for it (docs/decisions.md,
  "Regional credits"): a charge standing there is refunded once the notice reaches it. Every
  attempt gets an equal share of what is left of the regional budget, so three attempts, their
  voids and the viewer-request's own last void fit the 5 s limit. Only when no region answers
  does the caller get a ``CreditsUnavailableError`` (the viewer a 503).
- **refund** goes to the regions in the same order, then to the others, until one finds the
  charge: a request id is charged in at most one region (the others answer 404), and refunds are
  idempotent per id.

Standard library only, like the rest of the edge package.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from functions.edge_auth.credits_client import (
    Authorization,
    AuthorizeDecision,
    Clock,
    CreditsClient,
    CreditsUnavailableError,
    RefundOutcome,
    RequestNotSentError,
)

# All authorize attempts and their voids end by then (the viewer-request limit is 5 s; the
# caller's own void of a last maybe-sent attempt takes at most 1 s more).
REGIONAL_AUTHORIZE_BUDGET_S = 3.4
# A void in a region that just failed to answer: short, the next region is waiting.
ATTEMPT_VOID_BUDGET_S = 0.3
# An attempt with less than this left is not worth sending.
MIN_ATTEMPT_S = 0.05
VOID_REASON = "edge_void"

EdgeRegionSource = Callable[[], str | None]


def lambda_edge_region() -> str | None:
    """Where this Lambda@Edge container runs: the regional edge cache's region (``AWS_REGION``)."""
    return os.environ.get("AWS_REGION")


class NoRegionAnsweredError(RequestNotSentError):
    """Every region failed, and any attempt that may have charged was voided: nothing stands."""

    default_cause = "no_region_answered"


class RegionalCreditsClient:
    """``CreditsClient``'s interface over several credits regions (see the module docstring)."""

    def __init__(
        self,
        *,
        clients: Mapping[str, CreditsClient],
        order: Mapping[str, tuple[str, ...]],
        home_region: str,
        clock: Clock,
        edge_region: EdgeRegionSource = lambda_edge_region,
    ) -> None:
        if home_region not in clients:
            raise ValueError("home's credits API must be among the clients")
        self._clients = dict(clients)
        self._order = dict(order)
        self._home_region = home_region
        self._clock = clock
        self._edge_region = edge_region

    def regions_to_try(self) -> tuple[str, ...]:
        """This edge region's baked order; home alone for an edge region the table does not name."""
        edge_region = self._edge_region()
        regions = self._order.get(edge_region, ()) if edge_region is not None else ()
        return tuple(region for region in regions if region in self._clients) or (self._home_region,)

    def authorize(self, authorization: Authorization, deadline: float) -> AuthorizeDecision:
        """The first region's decision that answers; ``deadline`` bounds each attempt's share."""
        started = self._clock()
        attempt_cap = max(deadline - started, 0.0)
        regional_deadline = started + REGIONAL_AUTHORIZE_BUDGET_S
        regions = self.regions_to_try()
        unvoided: list[str] = []
        last_failure: CreditsUnavailableError | None = None
        for index, region in enumerate(regions):
            now = self._clock()
            share = (regional_deadline - now) / (len(regions) - index)
            attempt_deadline = now + min(attempt_cap, share)
            if attempt_deadline - now < MIN_ATTEMPT_S:
                break
            attempt = authorization._replace(retry_of_region=unvoided[0] if unvoided else None)
            try:
                return self._clients[region].authorize(attempt, attempt_deadline)
            except RequestNotSentError as failure:
                last_failure = failure
            except CreditsUnavailableError as failure:
                last_failure = failure
                if not self._voided(region, authorization.request_id, regional_deadline):
                    unvoided.append(region)
        raise _final_failure(last_failure, unvoided)

    def refund(self, request_id: str, reason: str, deadline: float) -> RefundOutcome:
        """Refund in the region that charged: the first (in this edge's order) that finds the charge."""
        outcome = RefundOutcome(refunded=0, found=False, replayed=False)
        last_failure: CreditsUnavailableError | None = None
        ordered = self.regions_to_try()
        # This edge's order first, then every other region: a refund must find the charge even
        # when it runs where the order differs (origin-response, a local container).
        for region in (*ordered, *(region for region in self._clients if region not in ordered)):
            if deadline - self._clock() < MIN_ATTEMPT_S:
                break
            try:
                outcome = self._clients[region].refund(request_id, reason, deadline)
            except CreditsUnavailableError as failure:
                last_failure = failure
                continue
            if outcome.found:
                return outcome
        if last_failure is not None:
            # A region that may hold the charge did not answer: not "nothing to refund".
            raise last_failure
        return outcome

    def _voided(self, region: str, request_id: str, regional_deadline: float) -> bool:
        """Whether a possible charge in ``region`` is settled (refunded, or none stands)."""
        void_deadline = min(self._clock() + ATTEMPT_VOID_BUDGET_S, regional_deadline)
        try:
            self._clients[region].refund(request_id, VOID_REASON, void_deadline)
        except CreditsUnavailableError:
            return False
        return True


def _final_failure(
    last_failure: CreditsUnavailableError | None, unvoided: list[str]
) -> CreditsUnavailableError:
    """What the caller sees when no region answered: "maybe sent" only while a charge may stand."""
    if unvoided and last_failure is not None and not isinstance(last_failure, RequestNotSentError):
        return last_failure
    if unvoided:
        return CreditsUnavailableError("maybe_charged_in_" + unvoided[0])
    return NoRegionAnsweredError(last_failure.cause if last_failure is not None else None)
