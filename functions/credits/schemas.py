"""Request and response models of the credits API (pydantic).

``DenialReason`` is re-exported from ``functions/shared/errors.py``, its one home.

They are the API's contract: the resolver validates requests and responses against them and
generates the OpenAPI document from them. The logic (``service.py``) takes the request models
and returns the response models, so a field is named in exactly one place.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from functions.credits.ids import (
    ACCOUNT_ID_PATTERN,
    ENTRY_ID_PATTERN,
    IDEMPOTENCY_KEY_PATTERN,
    KEY_DIGEST_PATTERN,
    KEY_ID_PATTERN,
    REQUEST_ID_PATTERN,
)
from functions.credits.ranges import MAX_RANGE_HEADER_LENGTH
from functions.credits.sellers.lifecycle import AccountStatus as AccountStatus  # noqa: PLC0414 - re-exported
from functions.credits.sellers.scope_model import KeyScopeModel
from functions.shared.aws_regions import AWS_REGION_PATTERN
from functions.shared.errors import DenialReason as DenialReason  # noqa: PLC0414 - re-exported for the API's users
from functions.shared.http_methods import HttpMethod

# --- limits -----------------------------------------------------------------------------------

REASON_PATTERN = r"^[a-z0-9_]{1,64}$"
# The largest balance an account may hold, and the largest single grant.
MAX_BALANCE = 10**15
MAX_GRANT = 10**12
# S3's largest object is 5 TiB; a body larger than that is not a real upload.
MAX_BODY_BYTES = 5 * 1024**4
# Year 2100 in Unix milliseconds: any later deadline is garbage, not a time budget.
MAX_DEADLINE_MS = 4_102_444_800_000
MAX_PATH_LENGTH = 4096

AccountId = Annotated[str, Field(pattern=ACCOUNT_ID_PATTERN, examples=["acct_0123456789abcdef0123"])]
KeyId = Annotated[str, Field(pattern=KEY_ID_PATTERN, examples=["key_0123456789abcdef"])]
EntryId = Annotated[str, Field(pattern=ENTRY_ID_PATTERN)]
RequestId = Annotated[str, Field(pattern=REQUEST_ID_PATTERN)]
Credits = Annotated[int, Field(ge=0, le=MAX_BALANCE)]


def _absent(value: object) -> bool:
    """Optional reply fields of regional credits (issue 15) are left out when they do not apply."""
    return value is None


class _Request(BaseModel):
    # Strict: "5" is not 5, true is not 1; unknown fields are refused rather than ignored.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorBody(_Response):
    code: str = Field(examples=["not_found"])
    message: str


class ErrorResponse(_Response):
    """Every error reply: ``{"error": {"code": "...", "message": "..."}}``."""

    error: ErrorBody


# --- accounts ---------------------------------------------------------------------------------


class CreateAccountRequest(_Request):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")


class Account(_Response):
    account_id: AccountId
    name: str
    balance: Credits
    status: AccountStatus
    created_at: datetime
    # sellers (issue 16): the last status change and the low-balance alert thresholds.
    status_reason: str | None = None
    status_changed_by: str | None = Field(default=None, description="The IAM principal (ARN) of the change.")
    status_changed_at: datetime | None = None
    alert_thresholds: list[int] = Field(default_factory=list, description="Credits, high to low.")


# --- keys -------------------------------------------------------------------------------------


class KeyStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class RateLimit(_Request):
    """At most ``per_second`` requests a second on average, ``burst`` at once."""

    per_second: int = Field(ge=1, le=10_000)
    burst: int = Field(ge=1, le=10_000)


class IssueKeyRequest(_Request):
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the key stops working (must be in the future)."
    )
    rate_limit: RateLimit | None = None
    # sellers (issue 16): what the key may do, and the credits it may be charged over its life.
    scope: KeyScopeModel | None = None
    spend_limit: int | None = Field(
        default=None, ge=1, le=MAX_BALANCE, strict=True, description="Credits over the key's life."
    )

    # JSON carries datetimes as strings: allow that one coercion (the model is not strict)...
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _expiry_is_a_string(cls, data: object) -> object:
        # ...and no other: lax mode would read a bare number as a Unix time.
        if isinstance(data, dict):
            expires_at = data.get("expires_at")
            if expires_at is not None and not isinstance(expires_at, str | datetime):
                raise ValueError("expires_at must be an ISO 8601 date-time string")
        return data


class Key(_Response):
    key_id: KeyId
    account_id: AccountId
    name: str | None
    status: KeyStatus
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rate_limit: RateLimit | None
    scope: KeyScopeModel | None = None
    spend_limit: int | None = None
    # Regional credits (issue 15), on a revocation's reply only: the credits regions it could not
    # reach yet, and when it holds everywhere (now, or when their standing leases lapse).
    pending_regions: list[str] | None = Field(default=None, exclude_if=_absent)
    holds_everywhere_by: datetime | None = Field(default=None, exclude_if=_absent)


class IssuedKey(Key):
    api_key: str = Field(description="The key itself. Shown this once; only its SHA-256 digest is stored.")


class KeyList(_Response):
    keys: list[Key]
    next_cursor: str | None


# --- grants -----------------------------------------------------------------------------------


class GrantRequest(_Request):
    amount: int = Field(ge=1, le=MAX_GRANT)
    reason: str = Field(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$")
    idempotency_key: str = Field(pattern=IDEMPOTENCY_KEY_PATTERN)


class Grant(_Response):
    account_id: AccountId
    entry_id: EntryId
    amount: int
    balance: Credits
    idempotency_key: str
    created_at: datetime
    replayed: bool = Field(description="True when this idempotency key had already been granted.")


# --- ledger and usage -------------------------------------------------------------------------


class EntryKind(StrEnum):
    CHARGE = "charge"
    REFUND = "refund"
    GRANT = "grant"


class LedgerEntry(_Response):
    entry_id: EntryId
    account_id: AccountId
    request_id: str
    kind: EntryKind
    amount: int = Field(description="Signed: charges are negative.")
    method: str | None
    path: str | None
    bytes: int | None
    reason: str | None
    created_at: datetime
    # Regional credits (issue 15): the region whose ledger holds the entry (home's merged pages only).
    region: str | None = Field(default=None, exclude_if=_absent)


class LedgerPage(_Response):
    entries: list[LedgerEntry]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page.")


class Usage(_Response):
    account_id: AccountId
    from_: datetime = Field(alias="from", serialization_alias="from")
    to: datetime
    downloads: int = Field(description="Charged GET and HEAD requests.")
    uploads: int = Field(description="Charged PUT, POST and PATCH requests.")
    other_requests: int
    bytes: int = Field(
        description="Bytes moved by charged requests: an upload's Content-Length, a download's bytes served "
        "(the range or the whole object, 0 for HEAD; downloads of objects of unknown size count 0)."
    )
    credits_spent: int = Field(description="Credits charged, before refunds.")
    refunds: int
    credits_refunded: int
    grants: int
    credits_granted: int

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)


# --- edge: authorize and refund ---------------------------------------------------------------


class AuthorizeRequest(_Request):
    key_digest: str | None = Field(
        default=None, pattern=KEY_DIGEST_PATTERN, description="SHA-256 hex digest of the API key."
    )
    # sellers (issue 16): a signed link's token digest, sent instead of key_digest.
    link_token_digest: str | None = Field(
        default=None,
        pattern=KEY_DIGEST_PATTERN,
        description="SHA-256 hex digest of a signed link's token (`em_link`), instead of `key_digest`.",
    )
    request_id: RequestId = Field(description="CloudFront's request id: the idempotency key of the charge.")
    method: HttpMethod
    path: str = Field(min_length=1, max_length=MAX_PATH_LENGTH, pattern=r"^/[^\x00-\x1f\x7f]*$")
    bytes: int = Field(default=0, ge=0, le=MAX_BODY_BYTES, description="Upload Content-Length; 0 otherwise.")
    range: str | None = Field(
        default=None,
        max_length=MAX_RANGE_HEADER_LENGTH,
        pattern=r"^[\x20-\x7e]*$",
        description=(
            "The raw Range header of a GET. The download is priced by the bytes it serves (from the "
            "catalog's object size) and those bytes are recorded; an unsatisfiable range is denied "
            "`range_not_satisfiable`, not charged; a malformed one is ignored (the whole object)."
        ),
    )
    deadline_ms: int | None = Field(
        default=None,
        ge=0,
        le=MAX_DEADLINE_MS,
        description=(
            "Unix time in milliseconds at which the edge stops waiting and answers 503. Nothing is "
            "charged past it, and a charge that commits too late is refunded at once."
        ),
    )
    # regions (issue 15): the edge retried here after an attempt in that region may have charged.
    retry_of_region: str | None = Field(
        default=None,
        pattern=AWS_REGION_PATTERN,
        description=(
            "Regional credits: the region an earlier attempt of this request id may have charged "
            "(its reply was lost and its void failed). This region posts a void notice for it; "
            "that region refunds the request id once the notice reaches it."
        ),
    )

    @model_validator(mode="after")
    def _one_credential(self) -> AuthorizeRequest:
        if (self.key_digest is None) == (self.link_token_digest is None):
            raise ValueError("send exactly one of key_digest and link_token_digest")
        return self


class Decision(_Response):
    """The answer to every authorization, allow or deny (both are HTTP 200)."""

    decision: Literal["allow", "deny"]
    reason: DenialReason | None = None
    account_id: str | None = None
    price: int
    charged: int = 0
    balance: int | None = Field(
        default=None,
        description="The account's balance, on insufficient_credits denials; null on allow (not read).",
    )
    entry_id: str | None = None
    retry_after: int | None = Field(default=None, description="Seconds, for rate_limited.")
    replayed: bool = Field(default=False, description="The request id had been charged already.")
    object_size: int | None = Field(
        default=None,
        ge=0,
        description="The object's size in bytes, on range_not_satisfiable (for Content-Range: bytes */size).",
    )


class RefundRequest(_Request):
    request_id: RequestId
    reason: str = Field(default="origin_error", pattern=REASON_PATTERN)


class Refund(_Response):
    request_id: str
    account_id: AccountId
    refunded: int
    balance: Credits
    entry_id: EntryId
    replayed: bool = Field(description="True when this charge had been refunded already.")
    restore_retry_after: int | None = Field(
        default=None,
        description="Set when the refunded origin answer was an archived object whose restore is running: "
        "the seconds the viewer should wait (the edge answers 503 restore_in_progress).",
    )
