"""Edge settings: a JSON document baked into the package, validated at cold start.

Lambda@Edge has no environment variables, so the CDK writes
``functions/edge_auth/config.json`` into the function's asset at synth time
(schema and example: docs/decisions.md, "Edge settings file";
``config.example.json`` next to this module). The local runtime skips the file
and passes an ``EdgeSettings`` to ``functions.edge_auth.runtime.configure``.

Nothing here runs at import time: the file is read on the first invocation of a
container, and any problem is reported as one ``SettingsError`` naming every
offending field. The settings are NamedTuples and one slotted class rather than
dataclasses, whose import (inspect, ast, dis, tokenize) would cost the cold start
more than the rest of this module.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from functions.shared.aws_regions import is_aws_region

SETTINGS_SCHEMA_VERSION = 1
BAKED_SETTINGS_PATH = os.path.join(os.path.dirname(__file__), "config.json")

# The viewer-request trigger is killed at 5 s; the authorize call must leave
# room for the cold start, signing and building the response.
MAX_AUTHORIZE_BUDGET_MS = 3000
MIN_BUDGET_MS = 50
# Origin-response triggers may run for 30 s; a refund still must not hold the viewer long.
MAX_REFUND_BUDGET_MS = 10_000
MAX_CACHE_TTL_SECONDS = 300
MAX_CACHE_ENTRIES = 1_000_000
MAX_RETRY_AFTER_SECONDS = 86_400

_HEADER_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_QUERY_PARAMETER_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# CloudFront reserves these prefixes and refuses requests whose Lambda adds them.
_RESERVED_HEADER_PREFIXES = ("x-amz-", "x-edge-", "x-amzn-")
# Headers CloudFront or HTTP give a meaning of their own; never reuse them as ours.
_RESERVED_HEADER_NAMES = frozenset(
    {
        "authorization",
        "host",
        "content-length",
        "content-type",
        "connection",
        "cookie",
        "range",
        "transfer-encoding",
        "via",
        "x-forwarded-for",
        "x-real-ip",
    }
)
_LOOPBACK_HOSTS = frozenset({"localhost"})


# Defaults of the top-level settings: one home for EdgeSettings and parse_settings.
DEFAULT_SIGNING_SERVICE = "execute-api"
DEFAULT_AUTHORIZE_BUDGET_MS = 1500
DEFAULT_REFUND_BUDGET_MS = 3000
DEFAULT_UNAVAILABLE_RETRY_AFTER_SECONDS = 5
DEFAULT_RESTORE_RETRY_AFTER_SECONDS = 300


class SettingsError(ValueError):
    """The edge settings document is missing or invalid; the message names every problem."""


class CreditsApiSettings(NamedTuple):
    """Where the credits API lives and how requests to it are signed."""

    url: str
    region: str
    service: str = DEFAULT_SIGNING_SERVICE


class CacheSettings(NamedTuple):
    """Per-container negative caches; TTLs bound how long a grant or new key waits."""

    unknown_key_ttl_seconds: int = 30
    empty_account_ttl_seconds: int = 5
    max_entries: int = 10_000


class HeaderSettings(NamedTuple):
    """Header names (lowercase) the edge reads from viewers and writes for the origin."""

    api_key: str = "x-api-key"
    account: str = "x-edgemeter-account"
    charged: str = "x-edgemeter-charged"
    request_id: str = "x-edgemeter-request-id"


class QueryKeySettings(NamedTuple):
    """Whether a key may come in the query string (off: keys end up in logs and links)."""

    enabled: bool = False
    parameter: str = "api_key"


# CloudFront's default failover criteria for an origin group (stacks/constructs/origin_failover.py).
DEFAULT_FAILOVER_STATUS_CODES = (500, 502, 503, 504, 404)
_FAILOVER_STATUS_CODES_ALLOWED = frozenset({400, 403, 404, 416, 500, 502, 503, 504})
_DOMAIN_NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


class FailoverSettings(NamedTuple):
    """The origin group's secondary, when the distribution has one (``secondary_domain_name``).

    Under an origin group CloudFront runs origin-response for the primary's answer too, then
    retries a GET/HEAD/OPTIONS answered with one of ``status_codes`` on the secondary: the
    primary's failure is not what the viewer gets, so it is neither refunded nor cached as gone.
    """

    secondary_domain_name: str | None = None
    status_codes: tuple[int, ...] = DEFAULT_FAILOVER_STATUS_CODES


class RegionalCreditsSettings(NamedTuple):
    """Issue 15: the credits regions' APIs and, for each edge region, the regions to try in order.

    Empty (the default): one credits region, ``credits_api``. ``order`` is baked at deploy time from
    the round-trip table (functions/shared/region_latency.py): ``AWS_REGION`` -> nearest first,
    home among them. An edge region missing from ``order`` tries home only.
    """

    apis: tuple[CreditsApiSettings, ...] = ()
    order: tuple[tuple[str, tuple[str, ...]], ...] = ()


class EdgeSettings:
    """Everything the edge functions are configured with; immutable, validated when built."""

    __slots__ = (
        "authorize_budget_ms",
        "cache",
        "credits_api",
        "failover",
        "headers",
        "query_key",
        "refund_budget_ms",
        "refund_not_modified",
        "regional_credits",
        "restore_retry_after_seconds",
        "unavailable_retry_after_seconds",
    )
    credits_api: CreditsApiSettings
    authorize_budget_ms: int
    refund_budget_ms: int
    unavailable_retry_after_seconds: int
    restore_retry_after_seconds: int
    cache: CacheSettings
    headers: HeaderSettings
    query_key: QueryKeySettings
    failover: FailoverSettings
    refund_not_modified: bool
    regional_credits: RegionalCreditsSettings

    def __init__(  # noqa: PLR0917 - field order and defaults as the settings document has them
        self,
        credits_api: CreditsApiSettings,
        authorize_budget_ms: int = DEFAULT_AUTHORIZE_BUDGET_MS,
        refund_budget_ms: int = DEFAULT_REFUND_BUDGET_MS,
        unavailable_retry_after_seconds: int = DEFAULT_UNAVAILABLE_RETRY_AFTER_SECONDS,
        restore_retry_after_seconds: int = DEFAULT_RESTORE_RETRY_AFTER_SECONDS,
        cache: CacheSettings = CacheSettings(),  # noqa: B008 - an immutable NamedTuple
        headers: HeaderSettings = HeaderSettings(),  # noqa: B008 - an immutable NamedTuple
        query_key: QueryKeySettings = QueryKeySettings(),  # noqa: B008 - an immutable NamedTuple
        failover: FailoverSettings = FailoverSettings(),  # noqa: B008 - an immutable NamedTuple
        refund_not_modified: bool = False,
        regional_credits: RegionalCreditsSettings = RegionalCreditsSettings(),  # noqa: B008 - immutable
    ) -> None:
        for name, value in (
            ("credits_api", credits_api),
            ("authorize_budget_ms", authorize_budget_ms),
            ("refund_budget_ms", refund_budget_ms),
            ("unavailable_retry_after_seconds", unavailable_retry_after_seconds),
            ("restore_retry_after_seconds", restore_retry_after_seconds),
            ("cache", cache),
            ("headers", headers),
            ("query_key", query_key),
            ("failover", failover),
            ("refund_not_modified", refund_not_modified),
            ("regional_credits", regional_credits),
        ):
            object.__setattr__(self, name, value)
        problems = _settings_problems(self)
        if problems:
            raise SettingsError("invalid edge settings: " + "; ".join(problems))

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in _EDGE_SETTINGS_FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EdgeSettings):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _EDGE_SETTINGS_FIELDS)
        return f"EdgeSettings({fields})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"EdgeSettings is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"EdgeSettings is immutable: cannot delete {name!r}")


# Declaration order (the settings document's), for equality and repr.
_EDGE_SETTINGS_FIELDS = (
    "credits_api",
    "authorize_budget_ms",
    "refund_budget_ms",
    "unavailable_retry_after_seconds",
    "restore_retry_after_seconds",
    "cache",
    "headers",
    "query_key",
    "failover",
    "refund_not_modified",
    "regional_credits",
)


def load_settings_file(path: str | os.PathLike[str] = BAKED_SETTINGS_PATH) -> EdgeSettings:
    """Read and validate the baked settings file."""
    file_name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as settings_file:
            text = settings_file.read()
    except FileNotFoundError:
        raise SettingsError(
            f"edge settings file {file_name} is missing from the package "
            "(the CDK bundling step writes it; locally call runtime.configure)"
        ) from None
    except OSError as exc:
        raise SettingsError(f"edge settings file {file_name} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"edge settings file {file_name} is not UTF-8 text") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"edge settings file {file_name} is not JSON (line {exc.lineno}: {exc.msg})"
        ) from None
    return parse_settings(document)


def parse_settings(document: Any) -> EdgeSettings:
    """Validate a settings document (the JSON schema in docs/decisions.md) into ``EdgeSettings``."""
    if not isinstance(document, dict):
        raise SettingsError("edge settings must be a JSON object")
    problems: list[str] = []
    reader = _FieldReader(document, "", problems)
    version = reader.integer("schema_version", None)
    if version is not None and version != SETTINGS_SCHEMA_VERSION:
        problems.append(f"schema_version: expected {SETTINGS_SCHEMA_VERSION}, got {version}")
    credits_api = _read_credits_api(reader.section("credits_api", required=True))
    cache = _read_cache(reader.section("cache", required=False))
    headers = _read_headers(reader.section("headers", required=False))
    query_key = _read_query_key(reader.section("query_key", required=False))
    failover = _read_failover(reader.section("failover", required=False))
    regional_credits = _read_regional_credits(reader.section("regional_credits", required=False))
    top_level = {
        "authorize_budget_ms": reader.integer("authorize_budget_ms", DEFAULT_AUTHORIZE_BUDGET_MS),
        "refund_budget_ms": reader.integer("refund_budget_ms", DEFAULT_REFUND_BUDGET_MS),
        "unavailable_retry_after_seconds": reader.integer(
            "unavailable_retry_after_seconds", DEFAULT_UNAVAILABLE_RETRY_AFTER_SECONDS
        ),
        "restore_retry_after_seconds": reader.integer(
            "restore_retry_after_seconds", DEFAULT_RESTORE_RETRY_AFTER_SECONDS
        ),
        "refund_not_modified": reader.boolean("refund_not_modified", False),
    }
    reader.report_unknown_fields()
    if problems or credits_api is None:
        raise SettingsError("invalid edge settings: " + "; ".join(problems))
    return EdgeSettings(
        credits_api=credits_api,
        cache=cache,
        headers=headers,
        query_key=query_key,
        failover=failover,
        regional_credits=regional_credits,
        **top_level,
    )


def _read_credits_api(reader: _FieldReader) -> CreditsApiSettings | None:
    url = reader.string("url", None)
    region = reader.string("region", None)
    service = reader.string("service", DEFAULT_SIGNING_SERVICE)
    reader.report_unknown_fields()
    if url is None or region is None:
        reader.problem("credits_api.url and credits_api.region are required")
        return None
    return CreditsApiSettings(url=url, region=region, service=service)


def _read_regional_credits(reader: _FieldReader) -> RegionalCreditsSettings:
    apis: list[CreditsApiSettings] = []
    for index, api in enumerate(reader.object_list("apis")):
        api_settings = _read_credits_api(
            _FieldReader(api, f"regional_credits.apis[{index}].", reader.problems)
        )
        if api_settings is not None:
            apis.append(api_settings)
    order = reader.string_lists("order")
    reader.report_unknown_fields()
    return RegionalCreditsSettings(
        apis=tuple(apis), order=tuple((edge_region, tuple(regions)) for edge_region, regions in order.items())
    )


def _read_cache(reader: _FieldReader) -> CacheSettings:
    defaults = CacheSettings()
    cache = CacheSettings(
        unknown_key_ttl_seconds=reader.integer("unknown_key_ttl_seconds", defaults.unknown_key_ttl_seconds),
        empty_account_ttl_seconds=reader.integer(
            "empty_account_ttl_seconds", defaults.empty_account_ttl_seconds
        ),
        max_entries=reader.integer("max_entries", defaults.max_entries),
    )
    reader.report_unknown_fields()
    return cache


def _read_headers(reader: _FieldReader) -> HeaderSettings:
    defaults = HeaderSettings()
    headers = HeaderSettings(
        api_key=reader.string("api_key", defaults.api_key),
        account=reader.string("account", defaults.account),
        charged=reader.string("charged", defaults.charged),
        request_id=reader.string("request_id", defaults.request_id),
    )
    reader.report_unknown_fields()
    return headers


def _read_query_key(reader: _FieldReader) -> QueryKeySettings:
    defaults = QueryKeySettings()
    query_key = QueryKeySettings(
        enabled=reader.boolean("enabled", defaults.enabled),
        parameter=reader.string("parameter", defaults.parameter),
    )
    reader.report_unknown_fields()
    return query_key


def _read_failover(reader: _FieldReader) -> FailoverSettings:
    defaults = FailoverSettings()
    codes = reader.integer_list("status_codes", list(defaults.status_codes))
    failover = FailoverSettings(
        secondary_domain_name=reader.string("secondary_domain_name", None), status_codes=tuple(codes)
    )
    reader.report_unknown_fields()
    return failover


def settings_document(settings: EdgeSettings) -> dict[str, Any]:
    """The JSON document for ``settings`` (what the CDK bakes; round-trips through ``parse_settings``)."""
    return {
        "schema_version": SETTINGS_SCHEMA_VERSION,
        "credits_api": {
            "url": settings.credits_api.url,
            "region": settings.credits_api.region,
            "service": settings.credits_api.service,
        },
        "authorize_budget_ms": settings.authorize_budget_ms,
        "refund_budget_ms": settings.refund_budget_ms,
        "unavailable_retry_after_seconds": settings.unavailable_retry_after_seconds,
        "restore_retry_after_seconds": settings.restore_retry_after_seconds,
        "cache": {
            "unknown_key_ttl_seconds": settings.cache.unknown_key_ttl_seconds,
            "empty_account_ttl_seconds": settings.cache.empty_account_ttl_seconds,
            "max_entries": settings.cache.max_entries,
        },
        "headers": {
            "api_key": settings.headers.api_key,
            "account": settings.headers.account,
            "charged": settings.headers.charged,
            "request_id": settings.headers.request_id,
        },
        "query_key": {"enabled": settings.query_key.enabled, "parameter": settings.query_key.parameter},
        "failover": {
            "secondary_domain_name": settings.failover.secondary_domain_name,
            "status_codes": list(settings.failover.status_codes),
        },
        "refund_not_modified": settings.refund_not_modified,
        "regional_credits": {
            "apis": [
                {"url": api.url, "region": api.region, "service": api.service}
                for api in settings.regional_credits.apis
            ],
            "order": {edge_region: list(regions) for edge_region, regions in settings.regional_credits.order},
        },
    }


class _FieldReader:
    """Reads typed fields from one JSON object, collecting problems instead of stopping at the first."""

    def __init__(self, document: dict[str, Any], prefix: str, problems: list[str]) -> None:
        self._document = document
        self._prefix = prefix
        self._problems = problems
        self._read: set[str] = set()

    def section(self, name: str, *, required: bool) -> _FieldReader:
        self._read.add(name)
        value = self._document.get(name)
        if value is None:
            if required:
                self._problems.append(f"{self._prefix}{name}: required")
            return _FieldReader({}, f"{self._prefix}{name}.", self._problems)
        if not isinstance(value, dict):
            self._problems.append(f"{self._prefix}{name}: must be an object")
            return _FieldReader({}, f"{self._prefix}{name}.", self._problems)
        return _FieldReader(value, f"{self._prefix}{name}.", self._problems)

    def integer(self, name: str, default: int | None) -> Any:
        self._read.add(name)
        value = self._document.get(name, default)
        # bool is an int subclass in Python; true is not a number of milliseconds.
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            self._problems.append(f"{self._prefix}{name}: must be an integer")
            return default
        return value

    def string(self, name: str, default: str | None) -> Any:
        self._read.add(name)
        value = self._document.get(name, default)
        if value is not None and not isinstance(value, str):
            self._problems.append(f"{self._prefix}{name}: must be a string")
            return default
        return value

    def boolean(self, name: str, default: bool) -> Any:
        self._read.add(name)
        value = self._document.get(name, default)
        if not isinstance(value, bool):
            self._problems.append(f"{self._prefix}{name}: must be true or false")
            return default
        return value

    def integer_list(self, name: str, default: list[int]) -> list[int]:
        self._read.add(name)
        value = self._document.get(name, default)
        if not isinstance(value, list) or not all(
            isinstance(item, int) and not isinstance(item, bool) for item in value
        ):
            self._problems.append(f"{self._prefix}{name}: must be a list of integers")
            return default
        return value

    @property
    def problems(self) -> list[str]:
        return self._problems

    def object_list(self, name: str) -> list[dict[str, Any]]:
        self._read.add(name)
        value = self._document.get(name, [])
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            self._problems.append(f"{self._prefix}{name}: must be a list of objects")
            return []
        return value

    def string_lists(self, name: str) -> dict[str, list[str]]:
        """An object whose values are lists of strings (``{"us-east-1": ["us-east-1", ...]}``)."""
        self._read.add(name)
        value = self._document.get(name, {})
        if not isinstance(value, dict) or not all(
            isinstance(item, list) and all(isinstance(text, str) for text in item) for item in value.values()
        ):
            self._problems.append(f"{self._prefix}{name}: must map names to lists of strings")
            return {}
        return value

    def problem(self, message: str) -> None:
        self._problems.append(message)

    def report_unknown_fields(self) -> None:
        # A misspelt field would otherwise silently fall back to its default.
        for name in sorted(set(self._document) - self._read):
            self._problems.append(f"{self._prefix}{name}: unknown field")


def _settings_problems(settings: EdgeSettings) -> list[str]:
    problems: list[str] = []
    problems.extend(_credits_api_problems(settings.credits_api))
    _check_range(
        problems, "authorize_budget_ms", settings.authorize_budget_ms, MIN_BUDGET_MS, MAX_AUTHORIZE_BUDGET_MS
    )
    _check_range(problems, "refund_budget_ms", settings.refund_budget_ms, MIN_BUDGET_MS, MAX_REFUND_BUDGET_MS)
    _check_range(
        problems,
        "unavailable_retry_after_seconds",
        settings.unavailable_retry_after_seconds,
        1,
        MAX_RETRY_AFTER_SECONDS,
    )
    _check_range(
        problems,
        "restore_retry_after_seconds",
        settings.restore_retry_after_seconds,
        1,
        MAX_RETRY_AFTER_SECONDS,
    )
    _check_range(
        problems,
        "cache.unknown_key_ttl_seconds",
        settings.cache.unknown_key_ttl_seconds,
        0,
        MAX_CACHE_TTL_SECONDS,
    )
    _check_range(
        problems,
        "cache.empty_account_ttl_seconds",
        settings.cache.empty_account_ttl_seconds,
        0,
        MAX_CACHE_TTL_SECONDS,
    )
    _check_range(problems, "cache.max_entries", settings.cache.max_entries, 1, MAX_CACHE_ENTRIES)
    header_names = {
        "headers.api_key": settings.headers.api_key,
        "headers.account": settings.headers.account,
        "headers.charged": settings.headers.charged,
        "headers.request_id": settings.headers.request_id,
    }
    for label, name in header_names.items():
        if not _HEADER_NAME_PATTERN.fullmatch(name):
            problems.append(f"{label}: {name!r} is not a lowercase header name")
        elif name.startswith(_RESERVED_HEADER_PREFIXES) or name in _RESERVED_HEADER_NAMES:
            problems.append(f"{label}: {name!r} is reserved by HTTP or CloudFront")
    if len(set(header_names.values())) != len(header_names):
        problems.append("headers: the four header names must be distinct")
    if not _QUERY_PARAMETER_PATTERN.fullmatch(settings.query_key.parameter):
        problems.append(
            f"query_key.parameter: {settings.query_key.parameter!r} is not a plain parameter name"
        )
    problems.extend(_failover_problems(settings.failover))
    problems.extend(_regional_credits_problems(settings.regional_credits, settings.credits_api.region))
    if not isinstance(settings.refund_not_modified, bool):
        problems.append("refund_not_modified: must be true or false")
    return problems


# Attempts per request: each gets its share of the 5 s viewer-request limit (edge_auth.regional).
MAX_REGIONS_PER_EDGE_REGION = 3


def _regional_credits_problems(regional: RegionalCreditsSettings, home_region: str) -> list[str]:
    problems: list[str] = []
    for index, api in enumerate(regional.apis):
        problems.extend(
            problem.replace("credits_api.", f"regional_credits.apis[{index}].", 1)
            for problem in _credits_api_problems(api)
        )
    known = {api.region for api in regional.apis} | {home_region}
    if len(known) != len(regional.apis) + 1:
        problems.append("regional_credits.apis: each region once, and not home's (credits_api)")
    for edge_region, regions in regional.order:
        label = f"regional_credits.order.{edge_region}"
        if not is_aws_region(edge_region):
            problems.append(f"{label}: {edge_region!r} is not an AWS region name")
        if not regions or len(regions) > MAX_REGIONS_PER_EDGE_REGION or len(set(regions)) != len(regions):
            problems.append(f"{label}: 1 to {MAX_REGIONS_PER_EDGE_REGION} distinct regions")
        unknown = sorted(set(regions) - known)
        if unknown:
            problems.append(f"{label}: {', '.join(unknown)} has no credits API here")
    return problems


def _failover_problems(failover: FailoverSettings) -> list[str]:
    problems: list[str] = []
    domain = failover.secondary_domain_name
    if domain is not None and not _DOMAIN_NAME_PATTERN.fullmatch(domain):
        problems.append(f"failover.secondary_domain_name: {domain!r} is not a lowercase domain name")
    unsupported = sorted(set(failover.status_codes) - _FAILOVER_STATUS_CODES_ALLOWED)
    if not failover.status_codes or unsupported:
        problems.append(
            f"failover.status_codes: must be some of {sorted(_FAILOVER_STATUS_CODES_ALLOWED)}, "
            f"got {list(failover.status_codes)}"
        )
    return problems


def _credits_api_problems(credits_api: CreditsApiSettings) -> list[str]:
    problems: list[str] = []
    split_url = urlsplit(credits_api.url)
    host = split_url.hostname or ""
    if split_url.scheme not in ("http", "https") or not host:
        problems.append(f"credits_api.url: {credits_api.url!r} is not an absolute http(s) URL")
    elif split_url.scheme == "http" and not _is_loopback(host):
        # Plain HTTP is for the local runtime only; a deployed edge always uses TLS.
        problems.append("credits_api.url: plain http is only allowed for a loopback host")
    if split_url.query or split_url.fragment:
        problems.append("credits_api.url: must not have a query string or fragment")
    try:
        _ = split_url.port
    except ValueError:
        problems.append("credits_api.url: invalid port")
    if not is_aws_region(credits_api.region):
        problems.append(f"credits_api.region: {credits_api.region!r} is not an AWS region name")
    if not credits_api.service or not credits_api.service.replace("-", "").isalnum():
        problems.append(f"credits_api.service: {credits_api.service!r} is not a SigV4 service name")
    return problems


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_range(problems: list[str], label: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(f"{label}: must be an integer from {low} to {high}, got {value!r}")
