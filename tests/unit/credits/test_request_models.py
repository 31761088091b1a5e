"""Property-based tests of the API's request models (hypothesis).

Valid requests built to the contract are always accepted and round-trip through JSON;
arbitrary JSON either validates into a request that honours every bound, or fails with a
pydantic ValidationError (which the API answers as a 4xx) and never with anything else.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from functions.credits.ids import IDEMPOTENCY_KEY_PATTERN, KEY_DIGEST_PATTERN, REQUEST_ID_PATTERN
from functions.credits.ranges import MAX_RANGE_HEADER_LENGTH
from functions.credits.schemas import (
    MAX_BODY_BYTES,
    MAX_DEADLINE_MS,
    MAX_GRANT,
    AuthorizeRequest,
    CreateAccountRequest,
    GrantRequest,
    IssueKeyRequest,
    RefundRequest,
)
from functions.shared.http_methods import HTTP_METHODS

digests = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)
request_ids = st.from_regex(r"[A-Za-z0-9_=+/.:-]{1,128}", fullmatch=True)
paths = st.from_regex(r"/[A-Za-z0-9._~/%-]{0,200}", fullmatch=True)
# Lone surrogates are not UTF-8 text (the codec leaves them out): refused, tested below.
names = st.text(
    st.characters(min_codepoint=0x20, exclude_characters="\x7f", codec="utf-8"),
    min_size=1,
    max_size=200,
)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)


# Printable ASCII up to the limit: what a Range header the edge forwards may hold.
range_headers = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=MAX_RANGE_HEADER_LENGTH
)

ModelT = TypeVar("ModelT", bound=BaseModel)


def via_json(model: type[ModelT], data: Any) -> ModelT:
    """Validate what the API would receive: the data after a trip through JSON."""
    return model.model_validate(json.loads(json.dumps(data)))


@given(
    st.builds(
        dict,
        key_digest=digests,
        request_id=request_ids,
        method=st.sampled_from(HTTP_METHODS),
        path=paths,
        bytes=st.integers(min_value=0, max_value=MAX_BODY_BYTES),
        deadline_ms=st.none() | st.integers(min_value=0, max_value=MAX_DEADLINE_MS),
        range=st.none() | range_headers,
        # regions (issue 15): a retry names the region that may hold a charge
        retry_of_region=st.none() | st.sampled_from(["us-east-1", "ap-northeast-1"]),
    )
)
def test_valid_authorize_requests_are_accepted_and_round_trip(data: dict[str, Any]) -> None:
    request = via_json(AuthorizeRequest, data)
    assert request.model_dump() == data | {"link_token_digest": None}  # sellers (issue 16): links
    assert via_json(AuthorizeRequest, request.model_dump(mode="json")) == request


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "key_digest": digests | json_values,
            "request_id": request_ids | json_values,
            "method": st.sampled_from(HTTP_METHODS) | json_values,
            "path": paths | json_values,
            "bytes": st.integers() | json_values,
            "range": range_headers | st.text(max_size=1100) | json_values,
            "extra": json_values,
        },
    )
    | json_values
)
def test_any_json_either_honours_every_bound_or_is_a_validation_error(data: Any) -> None:
    try:
        request = via_json(AuthorizeRequest, data)
    except ValidationError:
        return
    # Exactly one credential: a key's digest or (sellers, issue 16) a link token's.
    assert (request.key_digest is None) != (request.link_token_digest is None)
    assert request.key_digest is None or re.fullmatch(KEY_DIGEST_PATTERN, request.key_digest)
    assert re.fullmatch(REQUEST_ID_PATTERN, request.request_id)
    assert request.method in HTTP_METHODS
    assert request.path.startswith("/")
    assert type(request.bytes) is int
    assert 0 <= request.bytes <= MAX_BODY_BYTES
    assert request.range is None or (
        len(request.range) <= MAX_RANGE_HEADER_LENGTH
        and request.range.isascii()
        and request.range.isprintable()
    )


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "amount": st.integers(min_value=-(10**30), max_value=10**30) | json_values,
            "reason": names | json_values,
            "idempotency_key": st.from_regex(r"[A-Za-z0-9_.:-]{1,140}", fullmatch=True) | json_values,
        },
    )
    | json_values
)
def test_grants_are_positive_bounded_integers_or_refused(data: Any) -> None:
    try:
        grant = via_json(GrantRequest, data)
    except ValidationError:
        return
    assert type(grant.amount) is int
    assert 1 <= grant.amount <= MAX_GRANT
    assert re.fullmatch(IDEMPOTENCY_KEY_PATTERN, grant.idempotency_key)
    assert grant.reason


@given(json_values, json_values)
def test_refunds_and_accounts_accept_only_well_formed_strings(request_id: Any, name: Any) -> None:
    try:
        refund = via_json(RefundRequest, {"request_id": request_id})
        assert isinstance(refund.request_id, str)
        assert re.fullmatch(REQUEST_ID_PATTERN, refund.request_id)
    except ValidationError:
        pass
    try:
        account = via_json(CreateAccountRequest, {"name": name})
        assert isinstance(account.name, str)
        assert 1 <= len(account.name) <= 200
    except ValidationError:
        pass


@given(
    expires_in=st.integers(min_value=1, max_value=10**7),
    per_second=st.integers(min_value=1, max_value=10_000),
    burst=st.integers(min_value=1, max_value=10_000),
    name=st.none() | names,
)
def test_valid_key_requests_are_accepted(
    expires_in: int, per_second: int, burst: int, name: str | None
) -> None:
    expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
    data = {
        "name": name,
        "expires_at": expires_at.isoformat(),
        "rate_limit": {"per_second": per_second, "burst": burst},
    }
    request = via_json(IssueKeyRequest, data)
    assert request.expires_at == expires_at
    assert request.rate_limit is not None
    assert (request.rate_limit.per_second, request.rate_limit.burst) == (per_second, burst)


def test_a_key_name_with_a_lone_surrogate_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        via_json(IssueKeyRequest, {"name": "key \ud800"})


@given(st.integers() | st.floats(allow_nan=False) | st.booleans() | st.text(max_size=30))
def test_key_expiry_must_be_an_aware_date_time_string(expires_at: Any) -> None:
    try:
        request = via_json(IssueKeyRequest, {"expires_at": expires_at})
    except ValidationError:
        return
    assert isinstance(expires_at, str)
    assert request.expires_at is not None
    assert request.expires_at.tzinfo is not None
