"""Configuration of the objects catalog, modelled with pydantic and validated once at cold start.

The credits service (authorize) and the S3 event Lambda read it from one environment
variable holding JSON (``EDGEMETER_CATALOG``); the CDK app validates the same model from
``cdk.json`` context at synth time, the local runtime from its config. When the variable is
absent the catalog is off and authorize behaves exactly as without it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from functions.catalog.entries import INTELLIGENT_TIERING
from functions.catalog.models import OBJECTS_TABLE_DEFAULT_NAME
from functions.shared.aws_regions import AWS_REGION_PATTERN
from functions.shared.environment_variables import EDGEMETER_CATALOG

CATALOG_ENV_VAR = EDGEMETER_CATALOG

RestoreTier = Literal["Expedited", "Standard", "Bulk"]
RESTORE_TIERS: tuple[RestoreTier, ...] = ("Expedited", "Standard", "Bulk")
_Seconds = Annotated[int, Field(ge=0, le=30 * 86_400)]

HOUR = 3600


class CatalogConfigurationError(RuntimeError):
    """The catalog configuration is invalid; raised at cold start, never per request."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _default_expected_seconds() -> dict[str, dict[RestoreTier, int]]:
    # The fast end of each tier's published range: clients are told to come back at the earliest
    # moment the copy can be there; if it is not, they get the (short) recheck interval next.
    glacier: dict[RestoreTier, int] = {"Expedited": 60, "Standard": 3 * HOUR, "Bulk": 5 * HOUR}
    return {
        "GLACIER": glacier,
        INTELLIGENT_TIERING: dict(glacier),
        "DEEP_ARCHIVE": {"Standard": 12 * HOUR, "Bulk": 48 * HOUR},
    }


class RestoreSettings(_Frozen):
    """How archived objects are restored on demand."""

    tier: RestoreTier = "Standard"
    # How long the restored copy stays readable (Intelligent-Tiering archive tiers take no Days).
    days: int = Field(default=1, ge=1, le=3650)
    # Per storage class and tier: seconds until the restore is expected to be done (-> Retry-After).
    expected_seconds: dict[str, dict[RestoreTier, _Seconds]] = Field(
        default_factory=_default_expected_seconds
    )
    # Once the expected time has passed: how often the origin is asked (HEAD) whether it is done.
    recheck_seconds: _Seconds = 300
    # Retry-After never exceeds this (a day-long Retry-After helps no client).
    max_retry_after_seconds: int = Field(default=6 * HOUR, ge=1, le=30 * 86_400)
    # Credits charged to the account whose request started a restore (0: restores are free).
    price: int = Field(default=0, ge=0, le=1_000_000)

    def tier_for(self, storage_class: str | None) -> RestoreTier:
        """The configured tier, or Standard where the class does not offer it (DEEP_ARCHIVE: no Expedited)."""
        table = self.expected_seconds.get(storage_class or "", {})
        if table and self.tier not in table:
            return "Standard"
        return self.tier

    def expected_restore_seconds(self, storage_class: str | None, tier: RestoreTier) -> int:
        table = self.expected_seconds.get(storage_class or "") or self.expected_seconds.get("GLACIER", {})
        return table.get(tier, self.recheck_seconds)


class CatalogSettings(_Frozen):
    enabled: bool = True
    objects_table: str = Field(default=OBJECTS_TABLE_DEFAULT_NAME, pattern=r"^[A-Za-z0-9_.-]{3,255}$")
    # The origin bucket the catalog describes (restores and HEADs go there).
    bucket: str = Field(min_length=3, max_length=63)
    region: str = Field(default="us-east-1", pattern=AWS_REGION_PATTERN)
    # Only for local runtimes and tests; None means the regional AWS endpoints.
    dynamodb_endpoint: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(:\d+)?/?$")
    s3_endpoint: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(:\d+)?/?$")
    # advisory: an unknown key goes to the origin (a 404 there leaves a tombstone);
    # authoritative: the catalog is complete (events + sync), an unknown key is missing.
    mode: Literal["advisory", "authoritative"] = "advisory"
    tombstone_ttl_seconds: int = Field(default=HOUR, ge=1, le=30 * 86_400)
    restore: RestoreSettings = RestoreSettings()
    dynamodb_connect_timeout_seconds: float = Field(default=1.0, gt=0, le=10)
    dynamodb_read_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    # The edge waits about 1.5 s for authorize (edgemeter:edge authorize_budget_ms): stay inside it.
    s3_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    # Seconds a container keeps an object's entry for authorize (functions/catalog/read_cache.py):
    # a hot object is read once per container per this long; 0 reads the table on every request.
    read_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    read_cache_entries: int = Field(default=10_000, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _expected_times_name_tiers_for_glacier(self) -> CatalogSettings:
        if "GLACIER" not in self.restore.expected_seconds:
            raise ValueError("restore.expected_seconds must name GLACIER (the fallback for other classes)")
        return self


def catalog_settings_from_env(environ: Mapping[str, str] | None = None) -> CatalogSettings | None:
    """The catalog settings, or None when the catalog is not configured (or switched off)."""
    environ = os.environ if environ is None else environ
    raw = environ.get(CATALOG_ENV_VAR)
    if not raw:
        return None
    try:
        settings = CatalogSettings.model_validate_json(raw)
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(part) for part in problem['loc']) or '?'}: {problem['msg']}"
            for problem in error.errors(include_url=False, include_input=False)
        ]
        raise CatalogConfigurationError(f"invalid {CATALOG_ENV_VAR}: " + "; ".join(problems)) from None
    return settings if settings.enabled else None
