"""Configuration of the credits service: modelled with pydantic, validated once at cold start.

Everything comes from environment variables (set by the CDK stack in AWS and by the
local runtime on one machine); ``settings_from_env`` is the one place that reads them.
Prices are a ``PricingConfig``; the CDK app validates the same model at synth time
from ``cdk.json`` context, so a bad price table fails the deploy, not a request.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from functions.shared import environment_variables
from functions.shared.aws_regions import AWS_REGION_PATTERN
from functions.shared.http_methods import HttpMethod

MIB = 1024 * 1024
# The largest price one rule may name; keeps every computed price far from overflow.
MAX_RULE_CREDITS = 1_000_000


_TABLE_NAME = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{3,255}$")]


class CreditsSettingsError(RuntimeError):
    """The service's configuration is invalid; raised at cold start, never per request."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PriceRule(_Frozen):
    """``base`` credits per request plus ``per_started_mib`` for every started MiB of the body."""

    base: int = Field(default=1, ge=0, le=MAX_RULE_CREDITS)
    per_started_mib: int = Field(default=0, ge=0, le=MAX_RULE_CREDITS)

    def price(self, body_bytes: int) -> int:
        return self.base + self.per_started_mib * math.ceil(body_bytes / MIB)


def _default_method_prices() -> dict[HttpMethod, PriceRule]:
    download = PriceRule(base=1)
    upload = PriceRule(base=1, per_started_mib=1)
    return {"GET": download, "HEAD": download, "PUT": upload, "POST": upload}


class PathPricing(_Frozen):
    """Prices for the paths under ``prefix``; methods it does not name use the global table."""

    prefix: str = Field(min_length=1, max_length=1024, pattern=r"^/")
    methods: dict[HttpMethod, PriceRule]


class PricingConfig(_Frozen):
    """Per method, per path prefix (the longest matching prefix wins).

    Defaults are the brief's: a download costs 1 credit; an upload 1 credit plus 1 per
    started MiB of its Content-Length; any other method ``other`` (1 credit).
    """

    methods: dict[HttpMethod, PriceRule] = Field(default_factory=_default_method_prices)
    other: PriceRule = PriceRule(base=1)
    prefixes: tuple[PathPricing, ...] = ()

    @field_validator("prefixes")
    @classmethod
    def _prefixes_are_unique(cls, prefixes: tuple[PathPricing, ...]) -> tuple[PathPricing, ...]:
        seen = [rule.prefix for rule in prefixes]
        duplicates = sorted({prefix for prefix in seen if seen.count(prefix) > 1})
        if duplicates:
            raise ValueError(f"path prefixes are listed more than once: {duplicates}")
        # Longest first, so the first match is the most specific one.
        return tuple(sorted(prefixes, key=lambda rule: len(rule.prefix), reverse=True))

    def rule_for(self, method: str, path: str) -> PriceRule:
        for path_rule in self.prefixes:
            if path.startswith(path_rule.prefix) and method in path_rule.methods:
                return path_rule.methods[method]
        return self.methods.get(method, self.other)  # type: ignore[call-overload, no-any-return]

    def price(self, method: str, path: str, body_bytes: int) -> int:
        return self.rule_for(method, path).price(body_bytes)


class Settings(_Frozen):
    users_table: _TABLE_NAME = "edgemeter-users"
    credits_table: _TABLE_NAME = "edgemeter-credits"
    region: str = Field(default="us-east-1", pattern=AWS_REGION_PATTERN)
    # Only for DynamoDB Local; None means the regional AWS endpoint.
    dynamodb_endpoint: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(:\d+)?/?$")
    pricing: PricingConfig = PricingConfig()
    # Largest request body accepted (API Gateway itself allows 10 MB; ours are tiny).
    max_body_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    # How long a charge can still be refunded (and its request id is remembered).
    charge_record_ttl_days: int = Field(default=90, ge=1, le=3650)
    # Attempts of one transaction that DynamoDB cancelled for a conflicting transaction.
    transaction_attempts: int = Field(default=12, ge=1, le=50)
    dynamodb_connect_timeout_seconds: float = Field(default=1.0, gt=0, le=10)
    dynamodb_read_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    dynamodb_max_retry_attempts: int = Field(default=3, ge=0, le=10)
    dynamodb_max_pool_connections: int = Field(default=10, ge=1, le=256)
    # Per-container cache of the facts of active keys (docs/decisions.md, "Key standing cache"):
    # a hit saves the key read and the charge still checks revocation. 0 turns it off.
    key_cache_ttl_seconds: int = Field(default=600, ge=0, le=86_400)
    key_cache_max_entries: int = Field(default=10_000, ge=1, le=1_000_000)
    # sellers (issue 16): signed links point at the CDN (the local CDN by default) and live at most
    # this long (the API refuses a longer expires_in with 422).
    cdn_base_url: str = Field(default="http://127.0.0.1:8080", pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    link_max_expires_in_seconds: int = Field(default=7 * 24 * 3600, ge=60, le=366 * 24 * 3600)
    # Deployed: the SSM parameter the stack writes the distribution's URL to (it wins over
    # cdn_base_url; functions/credits/sellers/cdn_url.py says why it cannot be an env value).
    cdn_base_url_parameter: str | None = Field(default=None, pattern=r"^/[A-Za-z0-9_.\-/]{1,1000}$")
    # issue 14: the stream-derived ledger's table (absent: the credits table's name + "-ledger",
    # so every set of local or test tables has its own).
    ledger_table: _TABLE_NAME | None = None

    @property
    def ledger_table_name(self) -> str:
        return self.ledger_table or f"{self.credits_table}-ledger"


# Environment variable -> Settings field. JSON-valued fields are parsed before validation.
ENVIRONMENT: Mapping[str, str] = {
    environment_variables.EDGEMETER_USERS_TABLE: "users_table",
    environment_variables.EDGEMETER_CREDITS_TABLE: "credits_table",
    "AWS_REGION": "region",
    environment_variables.EDGEMETER_DYNAMODB_ENDPOINT: "dynamodb_endpoint",
    environment_variables.EDGEMETER_PRICING: "pricing",
    environment_variables.EDGEMETER_MAX_BODY_BYTES: "max_body_bytes",
    environment_variables.EDGEMETER_CHARGE_RECORD_TTL_DAYS: "charge_record_ttl_days",
    environment_variables.EDGEMETER_TRANSACTION_ATTEMPTS: "transaction_attempts",
    environment_variables.EDGEMETER_DYNAMODB_MAX_POOL_CONNECTIONS: "dynamodb_max_pool_connections",
    environment_variables.EDGEMETER_KEY_CACHE_TTL_SECONDS: "key_cache_ttl_seconds",
    environment_variables.EDGEMETER_KEY_CACHE_MAX_ENTRIES: "key_cache_max_entries",
    environment_variables.EDGEMETER_CDN_BASE_URL: "cdn_base_url",
    environment_variables.EDGEMETER_LINK_MAX_EXPIRES_IN_SECONDS: "link_max_expires_in_seconds",
    environment_variables.EDGEMETER_CDN_BASE_URL_PARAMETER: "cdn_base_url_parameter",
    environment_variables.EDGEMETER_LEDGER_TABLE: "ledger_table",
}
_JSON_FIELDS = frozenset({"pricing"})


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Build and validate the settings; raise CreditsSettingsError naming every bad variable."""
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for variable, field_name in ENVIRONMENT.items():
        raw = environ.get(variable)
        if raw is None or raw == "":
            continue
        if field_name in _JSON_FIELDS:
            try:
                values[field_name] = json.loads(raw)
            except json.JSONDecodeError as error:
                raise CreditsSettingsError(f"{variable} is not valid JSON: {error.msg}") from None
        else:
            values[field_name] = raw
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        by_field = {field: variable for variable, field in ENVIRONMENT.items()}
        problems = []
        for problem in error.errors(include_url=False, include_input=False):
            location = [str(part) for part in problem["loc"]]
            variable = by_field.get(location[0], location[0]) if location else "?"
            inner = ".".join(location[1:])
            problems.append(f"{variable}{'.' + inner if inner else ''}: {problem['msg']}")
        raise CreditsSettingsError("invalid credits service configuration: " + "; ".join(problems)) from None
