"""What issue 16 adds to a download, counted: DynamoDB operations and billed units per path.

Keys without a scope, limit or link pay exactly what they paid before (one three-item
transaction when warm); a status check adds nothing; a spend limit or a link with max_uses
adds one item to the transaction; a link adds one read of the link item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from bench.dynamodb_counting import DynamoDBCounter, DynamoDBCounts, count_dynamodb
from functions.credits.service import CreditsService
from functions.credits.settings import Settings
from tests.integration.credits.conftest import Caller
from tests.integration.sellers.helpers import authorize_key, authorize_link, container, key_id_of

pytestmark = pytest.mark.dynamodb

FundedKey = Callable[..., tuple[str, str]]


@pytest.fixture
def counter() -> Iterator[DynamoDBCounter]:
    with count_dynamodb() as counting:
        yield counting


def _warm(service: CreditsService, api_key: str) -> None:
    for _ in range(2):  # the first allow caches the key
        assert authorize_key(service, api_key)["decision"] == "allow"


def _measured(counter: DynamoDBCounter, run: Callable[[], object]) -> DynamoDBCounts:
    counter.reset()
    run()
    return counter.snapshot()


def test_plain_keys_pay_what_they_paid_before_and_limits_add_one_item(
    funded_key: FundedKey, credits_settings: Settings, counter: DynamoDBCounter
) -> None:
    edge = container(credits_settings)
    _, plain = funded_key(100)
    _, scoped = funded_key(100, scope={"methods": ["GET"], "prefixes": ["/"]})
    _, limited = funded_key(100, spend_limit=50)
    for api_key in (plain, scoped, limited):
        _warm(edge, api_key)
    plain_cost = _measured(counter, lambda: authorize_key(edge, plain))
    scoped_cost = _measured(counter, lambda: authorize_key(edge, scoped))
    limited_cost = _measured(counter, lambda: authorize_key(edge, limited))
    out_of_scope = _measured(counter, lambda: authorize_key(edge, scoped, method="PUT"))
    assert plain_cost.operations == scoped_cost.operations == {"TransactWriteItems": 1}
    assert plain_cost.billed_write_units == scoped_cost.billed_write_units == 6
    assert limited_cost.operations == {"TransactWriteItems": 1}
    assert limited_cost.billed_write_units == 8
    # Out of scope: no write at all (only the look for an earlier charge of the request id).
    assert out_of_scope.operations == {"GetItem": 1}
    assert out_of_scope.billed_write_units == 0


def test_a_suspended_account_costs_one_refused_transaction_and_nothing_more(
    call: Caller, funded_key: FundedKey, credits_settings: Settings, counter: DynamoDBCounter
) -> None:
    edge = container(credits_settings)
    account_id, api_key = funded_key(100)
    _warm(edge, api_key)
    call("PATCH", f"/v1/accounts/{account_id}", {"status": "suspended", "reason": "cost"})
    refused = _measured(counter, lambda: authorize_key(edge, api_key))
    # One attempt, cancelled by the balance item's status condition: no key read, no second call.
    assert refused.http_attempts == 1
    assert refused.operations == {"TransactWriteItems": 1}
    assert refused.errors == {"TransactionCanceledException": 1}


def test_a_link_adds_one_read_and_max_uses_one_item(
    call: Caller, funded_key: FundedKey, credits_settings: Settings, counter: DynamoDBCounter
) -> None:
    edge = container(credits_settings)
    account_id, api_key = funded_key(100)
    _warm(edge, api_key)
    key_id = key_id_of(call, account_id)

    def token(**limits: int) -> str:
        body = {"key_id": key_id, "path": "/a.bin", "expires_in": 600} | limits
        url = call("POST", f"/v1/accounts/{account_id}/links", body).body["url"]
        return str(parse_qs(urlsplit(url).query)["em_link"][0])

    unlimited, counted = token(), token(max_uses=10)
    unlimited_cost = _measured(counter, lambda: authorize_link(edge, unlimited, path="/a.bin"))
    counted_cost = _measured(counter, lambda: authorize_link(edge, counted, path="/a.bin"))
    assert unlimited_cost.operations == {"GetItem": 1, "TransactWriteItems": 1}
    assert unlimited_cost.billed_write_units == 6
    assert counted_cost.operations == {"GetItem": 1, "TransactWriteItems": 1}
    assert counted_cost.billed_write_units == 8
    assert counted_cost.billed_read_units == 1
