from __future__ import annotations

import hashlib

from functions.credits.ids import new_account_id, new_entry_id, new_key_id
from functions.credits.telemetry import REDACTED, redact
from functions.shared.api_keys import generate_api_key


def test_keys_and_digests_are_redacted_and_ids_are_kept() -> None:
    key = generate_api_key()
    digest = hashlib.sha256(key.encode()).hexdigest()
    ids = [
        new_account_id(),
        new_key_id(),
        new_entry_id(),
        "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==",
    ]
    text = f"key={key} digest={digest} upper={digest.upper()} pk=keydigest#{digest} ids={' '.join(ids)}"
    cleaned = redact(text)
    assert key not in cleaned
    assert digest not in cleaned.lower()
    assert cleaned.count(REDACTED) == 4
    for identifier in ids:
        assert identifier in cleaned
