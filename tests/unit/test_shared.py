from __future__ import annotations

import hashlib
import json

from functions.shared.api_keys import (
    generate_api_key,
    hash_api_key,
    is_key_digest,
    looks_like_api_key,
)
from functions.shared.errors import ErrorCode, error_json


def test_generated_keys_are_recognisable_unique_and_hash_to_sha256_hex() -> None:
    keys = {generate_api_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert looks_like_api_key(key)
        digest = hash_api_key(key)
        assert digest == hashlib.sha256(key.encode()).hexdigest()
        assert is_key_digest(digest)
        assert key not in digest


def test_malformed_keys_and_digests_are_rejected() -> None:
    assert not looks_like_api_key("em_short")
    assert not looks_like_api_key("xx_" + "a" * 43)
    assert not is_key_digest("A" * 64)
    assert not is_key_digest("a" * 63)


def test_error_json_has_the_public_shape_and_drops_empty_details() -> None:
    body = json.loads(
        error_json(ErrorCode.INSUFFICIENT_CREDITS, "not enough", balance=0, price=3, extra=None)
    )
    assert body == {
        "error": {"code": "insufficient_credits", "message": "not enough", "balance": 0, "price": 3}
    }
