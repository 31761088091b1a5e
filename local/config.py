"""Configuration of the local runtime (`make run`), modelled with pydantic.

One `LocalConfig` is built by `local.run` from defaults, an optional TOML file
(`edgemeter.local.toml` in the project root, or `--config PATH`) and the
command-line flags, in that order of precedence. The supervisor hands the
resolved config to each child server as JSON in an environment variable, so
every process sees exactly the same settings.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from cli import local_runtime
from functions.credits.settings import PricingConfig
from functions.shared.environment_variables import EDGEMETER_LOCAL_CONFIG
from local.dynamodb_local import PROJECT_ROOT

CONFIG_ENV_VAR = EDGEMETER_LOCAL_CONFIG
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "edgemeter.local.toml"
MIB = 1024 * 1024

Port = Annotated[int, Field(ge=0, le=65535)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CacheConfig(_Strict):
    """The local CDN's cache: a cache policy's TTL bounds plus a memory budget."""

    enabled: bool = True
    max_bytes: int = Field(default=256 * MIB, ge=0, description="total size cap (LRU eviction)")
    max_object_bytes: int = Field(default=16 * MIB, ge=0, description="larger responses stream uncached")
    default_ttl_seconds: int = Field(default=86_400, ge=0)
    min_ttl_seconds: int = Field(default=0, ge=0)
    max_ttl_seconds: int = Field(default=31_536_000, ge=0)
    include_query_string: bool = Field(
        default=False, description="CachingOptimized ignores query strings; set true to key on them"
    )


class DemoConfig(_Strict):
    """What `make run` seeds so a newcomer can try a download straight away."""

    enabled: bool = True
    account_name: str = "demo"
    credits: int = Field(default=1000, ge=0)


class LocalCredentials(_Strict):
    """The only credentials the local credits API accepts (and the CDN signs origin requests with)."""

    # The CLI reaches the local runtime with the same defaults (cli/local_runtime.py).
    access_key_id: str = local_runtime.LOCAL_ACCESS_KEY_ID
    secret_access_key: str = local_runtime.LOCAL_SECRET_ACCESS_KEY


class LocalConfig(_Strict):
    host: Literal["127.0.0.1"] = "127.0.0.1"  # loopback only, by design
    cdn_port: Port = local_runtime.LOCAL_CDN_PORT
    credits_port: Port = local_runtime.LOCAL_CREDITS_PORT
    origin_port: Port = local_runtime.LOCAL_ORIGIN_PORT
    dynamodb_port: Port = local_runtime.LOCAL_DYNAMODB_PORT
    data_dir: Path = PROJECT_ROOT / ".local-data"
    in_memory: bool = False
    origin_url: str | None = Field(
        default=None, description="an external S3-compatible endpoint; None starts the local moto origin"
    )
    origin_credentials: LocalCredentials = LocalCredentials()
    bucket: str = local_runtime.LOCAL_BUCKET
    region: str = local_runtime.LOCAL_REGION
    credentials: LocalCredentials = LocalCredentials()
    # The credits service's own pricing model (per method, per path prefix); validated the same way.
    pricing: PricingConfig = PricingConfig()
    # Overrides of the edge function's settings document (functions/edge_auth/settings.py).
    edge_settings: dict[str, Any] = Field(default_factory=dict)
    cache: CacheConfig = CacheConfig()
    demo: DemoConfig = DemoConfig()
    # Lambda runs one event per execution environment; this many environments serve the credits API.
    credits_workers: int = Field(default=4, ge=1, le=64)
    # Lambda@Edge containers (processes) running the edge handlers, one invocation each at a time.
    # As many as credits environments by default: then an authorize call never waits inside its
    # budget for a busy credits environment; viewers queue at the CDN instead (outside the budget).
    edge_workers: int = Field(default=4, ge=1, le=128)
    viewer_timeout_seconds: float = Field(default=5.0, gt=0)
    origin_timeout_seconds: float = Field(default=30.0, gt=0)
    # Local origin only: GET/HEAD/PUT of keys under this prefix answer the status that follows it,
    # e.g. `_faults/503/anything` answers 503; how tests exercise the refund-on-5xx path.
    fault_prefix: str = "_faults/"
    # Local origin only: how long a RestoreObject of an archived object takes (moto's is instant).
    restore_seconds: float = Field(default=10.0, ge=0)
    # The objects catalog's settings (functions/catalog/settings.py) less what the runtime fills in
    # (bucket, region, endpoints); on by default with the local origin, off with --origin URL, as
    # the CDK app does for S3 and custom origins. Validated by local/catalog_environment.py.
    catalog: dict[str, Any] = Field(default_factory=dict)
    credits_environment: dict[str, str] = Field(
        default_factory=dict, description="extra environment for the credits handler"
    )
    # Account events (local/events.py): POSTed to this URL when set, else appended to
    # <data_dir>/events.jsonl for `edgemeter events --follow`.
    events_webhook_url: HttpUrl | None = None
    # Regional credits (issue 15, local/multi_region.py): a credits server per region, from this port up.
    credits_regions: list[str] = Field(default_factory=list)
    regional_credits_port: Port = 8091

    @property
    def cdn_url(self) -> str:
        return f"http://{self.host}:{self.cdn_port}"

    @property
    def credits_url(self) -> str:
        return f"http://{self.host}:{self.credits_port}"

    @property
    def dynamodb_url(self) -> str:
        return f"http://{self.host}:{self.dynamodb_port}"

    @property
    def effective_origin_url(self) -> str:
        return self.origin_url or f"http://{self.host}:{self.origin_port}"

    @property
    def uses_local_origin(self) -> bool:
        return self.origin_url is None

    @property
    def dynamodb_data_dir(self) -> Path | None:
        return None if self.in_memory else self.data_dir / "dynamodb"

    @property
    def run_state_file(self) -> Path:
        """Where the supervisor records child pids and endpoints (read by tests and tools)."""
        return self.data_dir / "run-state.json"

    @property
    def demo_state_file(self) -> Path:
        return self.data_dir / "demo.json"

    def to_env(self) -> dict[str, str]:
        """The config as one environment variable for a child process."""
        return {CONFIG_ENV_VAR: self.model_dump_json()}


def load_config_file(path: Path) -> dict[str, Any]:
    with path.open("rb") as config_file:
        return tomllib.load(config_file)


def build_config(config_file: Path | None, overrides: dict[str, Any]) -> LocalConfig:
    """Defaults < config file < flags (``overrides`` holds only flags the user gave)."""
    values: dict[str, Any] = {}
    if config_file is not None:
        values = load_config_file(config_file)
    elif DEFAULT_CONFIG_FILE.exists():
        values = load_config_file(DEFAULT_CONFIG_FILE)
    return LocalConfig.model_validate(_merged(values, {k: v for k, v in overrides.items() if v is not None}))


def _merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` on top of ``base``, section by section (a flag changes one field of a section)."""
    merged = dict(base)
    for name, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = _merged(merged[name], value)
        else:
            merged[name] = value
    return merged


def config_from_env() -> LocalConfig:
    """The config a supervisor handed to this child process."""
    raw = os.environ.get(CONFIG_ENV_VAR)
    if raw is None:
        raise RuntimeError(f"{CONFIG_ENV_VAR} is not set; start the local runtime with `make run`")
    return LocalConfig.model_validate_json(raw)
