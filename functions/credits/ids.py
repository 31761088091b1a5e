"""Identifiers of the credits service: their shapes (validated at the API) and their generation."""

from __future__ import annotations

import secrets

ACCOUNT_ID_PATTERN = r"^acct_[0-9a-f]{20}$"
KEY_ID_PATTERN = r"^key_[0-9a-f]{16}$"
ENTRY_ID_PATTERN = r"^le_[0-9a-f]{24}$"
# CloudFront request ids are ~56 characters of base64 (with '-', '_', '='); grants use "grant:<key>".
REQUEST_ID_PATTERN = r"^[A-Za-z0-9_=+/.:-]{1,128}$"
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
KEY_DIGEST_PATTERN = r"^[0-9a-f]{64}$"


def new_account_id() -> str:
    return f"acct_{secrets.token_hex(10)}"


def new_key_id() -> str:
    return f"key_{secrets.token_hex(8)}"


def new_entry_id() -> str:
    return f"le_{secrets.token_hex(12)}"
