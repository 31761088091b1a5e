"""Request and response models of the sellers' routes (pydantic; they feed the OpenAPI document).

Bad input is refused by these models (422 with the JSON error shape): an unknown status, a
scope naming an unknown method or a prefix that is not a path, a link with both or neither of
``path`` and ``prefix``, malformed thresholds. Limits that are settings (the longest
``expires_in``) are checked by the service, also as 422.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from functions.credits.schemas import AccountId, Credits, KeyId, _Request, _Response
from functions.credits.sellers.alerts import MAX_ALERT_THRESHOLD, MAX_ALERT_THRESHOLDS, normalise_thresholds
from functions.credits.sellers.lifecycle import AccountStatus
from functions.credits.sellers.links import MAX_LINK_USES
from functions.credits.sellers.scope_model import PATH_PATTERN, PRINTABLE
from functions.credits.sellers.scopes import SCOPE_PREFIX_MAX_LENGTH

# The longest link anyone may ask for, whatever the setting (one year); the setting is lower.
MAX_EXPIRES_IN_SECONDS = 366 * 24 * 3600

Reason = Annotated[str, Field(min_length=1, max_length=500, pattern=PRINTABLE)]


def _absent(value: object) -> bool:
    """Optional reply fields of regional credits (issue 15) are left out when they do not apply."""
    return value is None


# --- account list -----------------------------------------------------------------------------


class ListedAccount(_Response):
    account_id: AccountId
    name: str
    status: AccountStatus
    balance: Credits
    created_at: datetime


class AccountList(_Response):
    accounts: list[ListedAccount]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end. With `balance_below` a page "
        "may hold fewer accounts than `limit` (even none) before the end: follow the cursor."
    )


# --- lifecycle --------------------------------------------------------------------------------


class AccountStatusRequest(_Request):
    # Lax for this field only: JSON carries the enum as its string value.
    status: AccountStatus = Field(strict=False, description="`closed` is terminal.")
    reason: Reason


class AccountStatusReply(_Response):
    account_id: AccountId
    name: str
    status: AccountStatus
    balance: Credits = Field(description="The balance at the change: what remains on a closed account.")
    status_reason: str | None
    status_changed_by: str | None = Field(description="The IAM principal (ARN) that made the change.")
    status_changed_at: datetime | None
    changed: bool = Field(description="False when the account already had this status.")
    # Regional credits (issue 15): the credits regions the change could not reach yet, and when it
    # holds everywhere (now, or when their standing leases lapse). Absent without regions.
    pending_regions: list[str] | None = Field(default=None, exclude_if=_absent)
    holds_everywhere_by: datetime | None = Field(default=None, exclude_if=_absent)


# --- links ------------------------------------------------------------------------------------


class CreateLinkRequest(_Request):
    key_id: KeyId = Field(description="The key the link stands for: it is charged and checked as that key.")
    path: str | None = Field(default=None, max_length=SCOPE_PREFIX_MAX_LENGTH, pattern=PATH_PATTERN)
    prefix: str | None = Field(default=None, max_length=SCOPE_PREFIX_MAX_LENGTH, pattern=PATH_PATTERN)
    expires_in: int = Field(ge=1, le=MAX_EXPIRES_IN_SECONDS, description="Seconds until the link expires.")
    max_uses: int | None = Field(default=None, ge=1, le=MAX_LINK_USES)

    @model_validator(mode="after")
    def _path_or_prefix(self) -> CreateLinkRequest:
        if (self.path is None) == (self.prefix is None):
            raise ValueError("give exactly one of `path` and `prefix`")
        return self


class Link(_Response):
    link_id: str
    account_id: AccountId
    key_id: KeyId
    url: str = Field(
        description="The CDN URL with the token in `em_link`. For a prefix link it names the prefix: "
        "put any object path under it in its place and keep the query."
    )
    path: str | None
    prefix: str | None
    expires_at: datetime
    max_uses: int | None


# --- alerts -----------------------------------------------------------------------------------


def _valid_thresholds(thresholds: list[int]) -> list[int]:
    return list(normalise_thresholds(thresholds))


class AlertsRequest(_Request):
    thresholds: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_ALERT_THRESHOLD)]], AfterValidator(_valid_thresholds)
    ] = Field(
        max_length=MAX_ALERT_THRESHOLDS,
        examples=[[100, 10]],
        description="Credits. An event fires once per downward crossing; `[]` removes every threshold.",
    )


class Alerts(_Response):
    account_id: AccountId
    alert_thresholds: list[int]
