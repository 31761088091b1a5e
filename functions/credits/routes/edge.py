"""Routes the edge function calls: authorize (and charge) one CDN request, refund one charge."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.credits.regions.void_notices import VoidNoticeBook, post_void_notice
from functions.credits.routes.common import ERROR_RESPONSES, new_router
from functions.credits.routes.edge_callers import refuse_non_edge_callers
from functions.credits.schemas import AuthorizeRequest, Decision, Refund, RefundRequest
from functions.credits.service import CreditsService
from functions.credits.telemetry import logger, tracer


def edge_router(
    service: CreditsService, void_notices: VoidNoticeBook | None = None, region: str | None = None
) -> APIGatewayRouter:
    """``void_notices``: regional credits (issue 15); a retry from another region posts a notice."""
    router = new_router()

    @router.post(
        "/v1/authorize",
        summary="Authorize and charge one CDN request (edge only)",
        tags=["edge"],
        responses=ERROR_RESPONSES,
        middlewares=[refuse_non_edge_callers],  # the edge-only rule (routes/edge_callers.py)
    )
    def authorize(request: AuthorizeRequest) -> Decision:
        if void_notices is not None and request.retry_of_region not in (None, region):
            # Before the charge: the region named may hold an earlier attempt's charge.
            post_void_notice(void_notices, request.request_id, request.retry_of_region, region)
        decision = service.authorize(request)
        tracer.put_annotation("decision", decision.decision)
        # Allows at DEBUG: every one is in the ledger already (request id, key, path, bytes) and
        # counted in the metrics; a line per download would cost CloudWatch Logs and handler time
        # on the hot path (docs/decisions.md). Denials are the ones an operator looks for.
        log = logger.debug if decision.decision == "allow" else logger.info
        log(
            "authorization",
            extra={
                "request_id": request.request_id,
                "method": request.method,
                "decision": decision.decision,
                "reason": decision.reason,
                "account_id": decision.account_id,
                "charged": decision.charged,
                "replayed": decision.replayed,
            },
        )
        return decision

    @router.post(
        "/v1/refunds",
        summary="Refund one earlier charge, once (edge only)",
        tags=["edge"],
        responses=ERROR_RESPONSES,
        middlewares=[refuse_non_edge_callers],
    )
    def refund(request: RefundRequest) -> Refund:
        refunded = service.refund(request)
        logger.info(
            "refund",
            extra={
                "request_id": request.request_id,
                "account_id": refunded.account_id,
                "refunded": refunded.refunded,
                "replayed": refunded.replayed,
            },
        )
        return refunded

    return router
