"""The cost scenarios count what the real edge and credits code do, with and without the catalog.

Small counts on the session's DynamoDB Local; the assertions are on counts (calls, origin
requests, statuses, DynamoDB work), never on time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.cost_scenarios import CostScenarioFigures, TrafficMix, price_mix, run_cost_scenarios
from local.dynamodb_local import DynamoDBLocal

pytestmark = pytest.mark.dynamodb

ALLOWED_REQUESTS = 6
UNKNOWN_KEY_CALLS = 3
REQUESTS_PER_MISSING_OBJECT = 5


@pytest.fixture(scope="module")
def scenarios(dynamodb_local: DynamoDBLocal) -> Iterator[CostScenarioFigures]:
    with pytest.MonkeyPatch.context() as patch:
        # Module scope: the autouse credential fixture is function-scoped.
        patch.setenv("AWS_ACCESS_KEY_ID", "local")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "local")
        yield run_cost_scenarios(
            dynamodb_local.endpoint_url,
            mix=TrafficMix(requests_per_missing_object=REQUESTS_PER_MISSING_OBJECT),
            allowed_requests=ALLOWED_REQUESTS,
            unknown_key_calls=UNKNOWN_KEY_CALLS,
            missing_objects=1,
        )


def test_without_the_catalog_every_missing_object_request_is_charged_fetched_and_refunded(
    scenarios: CostScenarioFigures,
):
    missing = scenarios.without_caches_and_catalog.missing_object
    assert missing.requests == REQUESTS_PER_MISSING_OBJECT
    assert missing.viewer_statuses == {403: REQUESTS_PER_MISSING_OBJECT}
    assert missing.origin_gets == REQUESTS_PER_MISSING_OBJECT
    assert missing.origin_heads == 0
    # One authorize at the viewer, one refund at origin-response, per request.
    assert missing.viewer_request.credits_calls == REQUESTS_PER_MISSING_OBJECT
    assert missing.origin_response.credits_calls == REQUESTS_PER_MISSING_OBJECT
    assert missing.viewer_request.dynamodb_operations.get("TransactWriteItems") == REQUESTS_PER_MISSING_OBJECT
    assert (
        missing.origin_response.dynamodb_operations.get("TransactWriteItems") == REQUESTS_PER_MISSING_OBJECT
    )
    assert missing.origin_response.billed_write_units > 0


def test_with_the_catalog_a_missing_object_reaches_the_origin_once_then_is_refused_before_any_charge(
    scenarios: CostScenarioFigures,
):
    missing = scenarios.with_caches_and_catalog.missing_object
    assert missing.viewer_statuses == {403: 1, 404: REQUESTS_PER_MISSING_OBJECT - 1}
    assert missing.origin_gets == 1
    # S3 answers 403 for a missing key behind OAC: the catalog asks with one HEAD, then tombstones it.
    assert missing.origin_heads == 1
    assert missing.origin_response.credits_calls == 1
    assert missing.viewer_request.dynamodb_operations.get("TransactWriteItems") == 1
    # Every authorize still reads the catalog (the tombstone): one more read per request.
    assert missing.viewer_request.dynamodb_operations.get("GetItem", 0) >= REQUESTS_PER_MISSING_OBJECT


def test_allowed_downloads_are_charged_once_each_in_both_configurations(scenarios: CostScenarioFigures):
    for figures in (scenarios.with_caches_and_catalog, scenarios.without_caches_and_catalog):
        allowed = figures.allowed
        assert allowed.viewer_statuses == {200: ALLOWED_REQUESTS}
        assert allowed.viewer_request.credits_calls == ALLOWED_REQUESTS
        assert allowed.viewer_request.dynamodb_operations.get("TransactWriteItems") == ALLOWED_REQUESTS
        assert allowed.origin_response.credits_calls == 0
        assert allowed.origin_gets == ALLOWED_REQUESTS
    # The catalog's objects-table read is part of every authorize with the catalog.
    with_catalog = scenarios.with_caches_and_catalog.allowed.viewer_request
    assert with_catalog.dynamodb_operations.get("GetItem", 0) >= ALLOWED_REQUESTS


def test_each_unknown_key_call_is_refused_with_a_read_and_no_write(scenarios: CostScenarioFigures):
    for figures in (scenarios.with_caches_and_catalog, scenarios.without_caches_and_catalog):
        unknown = figures.unknown_key_call
        assert unknown.viewer_statuses == {403: UNKNOWN_KEY_CALLS}
        assert unknown.viewer_request.credits_calls == UNKNOWN_KEY_CALLS
        assert unknown.viewer_request.billed_write_units == 0
        assert unknown.viewer_request.billed_read_units > 0
        assert unknown.origin_gets == 0


def test_the_counted_mix_is_cheaper_with_caches_and_catalog(scenarios: CostScenarioFigures):
    costs = price_mix(
        scenarios.mix,
        scenarios,
        cdn_hit_ratio=0.9,
        unknown_key_calls_per_request_cached=0.01,
        unknown_key_calls_per_request_uncached=1.0,
    )
    with_missing, without_missing = costs.by_kind["missing object"]
    assert with_missing.total < without_missing.total
    assert costs.no_edgemeter.total < costs.with_caches_and_catalog.total
