"""The twin and the DynamoDB store on accounts split over four balance shards give the same
outcomes for the same random history (issue 14): the layout is invisible through the Protocol."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings

from functions.credits.settings import Settings
from functions.credits.store.memory import InMemoryCreditsStore
from tests.contract.credits.test_store_equivalence import histories, replay
from tests.integration.sharding.stores import ShardedOnCreateStore

_runs = itertools.count(10_000)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories)
def test_the_twin_and_a_sharded_account_agree_on_every_outcome(
    sharded_dynamodb_settings: Settings, history: list[tuple[Any, ...]]
) -> None:
    run = next(_runs)
    assert replay(InMemoryCreditsStore(), history, run) == replay(
        ShardedOnCreateStore(sharded_dynamodb_settings, shards=4), history, run
    )
