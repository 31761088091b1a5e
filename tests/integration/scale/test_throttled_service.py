"""Throttling reaches the viewer through the real paths: the service's retries, its 503, the edge's 503.

The credits service gets one transaction attempt (``EDGEMETER_TRANSACTION_ATTEMPTS=1``, a setting of
the deployed function), so the first throttled charge is its answer: no sleeping, no luck."""

from __future__ import annotations

import json
import time

from bench.edge_bench import configure_bench_edge, viewer_request_event
from bench.inprocess import HandlerTransport
from bench.scale_harness import scale_credits
from functions.edge_auth import runtime, viewer_request
from functions.shared.environment_variables import EDGEMETER_TRANSACTION_ATTEMPTS
from local.cdn.events import new_request_id
from local.dynamodb_capacity import CapacityLayer
from local.dynamodb_local import DynamoDBLocal

PATH = "/scale/object.bin"


def test_a_throttled_charge_is_a_503_with_retry_after_and_charges_nothing(
    dynamodb_local: DynamoDBLocal, dynamodb_at_scale: CapacityLayer
) -> None:
    layer = dynamodb_at_scale
    with scale_credits(
        dynamodb_local.endpoint_url, settings_environment={EDGEMETER_TRANSACTION_ATTEMPTS: "1"}
    ) as credits:
        with layer.limits_paused():
            ((account, api_key),) = credits.funded_keys(1, 100, "throttled")
        time.sleep(1.2)
        replies = [credits.authorize(api_key, PATH) for _ in range(8)]  # 4 WCU each on a 10 WCU burst
        busy = next(reply for reply in replies if reply.status == 503)
        allowed = sum(reply.allowed for reply in replies)
        with layer.limits_paused():
            balance = credits.admin.balance(account)
        edge_results = []
        time.sleep(1.2)
        configure_bench_edge(HandlerTransport(credits.admin))
        try:
            for _ in range(8):
                edge_results.append(viewer_request.handler(viewer_request_event(api_key, new_request_id())))
        finally:
            runtime.reset_runtime()

    assert busy.document["error"]["code"] == "service_unavailable"
    assert 1 <= allowed < len(replies)
    # Every refused charge left nothing behind: the balance moved by the allowed ones only.
    assert balance == 100 - allowed
    refusals = [result for result in edge_results if result.get("status") == "503"]
    assert refusals, "the edge never answered 503 for a throttled credits service"
    assert "retry-after" in refusals[0]["headers"]
    assert json.loads(refusals[0]["body"])["error"]["code"]
    assert layer.snapshot().throttled.get("TransactWriteItems", 0) >= 1
