"""The real credits service on fresh DynamoDB Local tables, one container per calling thread.

Built only through the service's public entry points (``functions.credits.handler.build_api``
and the settings it reads from the environment, as the deployed Lambda is), so it survives
changes behind them. The objects catalog is configured the same way (``EDGEMETER_CATALOG``) when
a scenario needs it. ``ScaleCredits.authorize`` is the edge's ``POST /v1/authorize``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.credits_bench import stdout_discarded
from bench.inprocess import InProcessCredits
from functions.catalog.dynamodb_store import DynamoObjectCatalog, create_objects_table, delete_objects_table
from functions.catalog.entries import CatalogEntry, ObjectState, object_key_from_path
from functions.catalog.settings import CATALOG_ENV_VAR, CatalogSettings
from functions.credits.app import CreditsApi
from functions.credits.data.tables import create_tables, delete_tables
from functions.credits.handler import build_api
from functions.credits.settings import settings_from_env
from functions.credits.store.rebalancer import ShardRebalancer
from functions.shared.environment_variables import (
    EDGEMETER_CREDITS_TABLE,
    EDGEMETER_DYNAMODB_ENDPOINT,
    EDGEMETER_USERS_TABLE,
)
from local.cdn.events import new_request_id
from local.dynamodb_local import LOCAL_CREDENTIALS, LOCAL_REGION

HOT_OBJECT_BYTES = 4 * 1024
TABLE_CREATION_TIMEOUT = 30.0  # seconds


@dataclass(frozen=True, slots=True)
class Authorization:
    status: int
    document: Any

    @property
    def allowed(self) -> bool:
        return (
            self.status == 200
            and isinstance(self.document, dict)
            and self.document.get("decision") == "allow"
        )


@dataclass
class ScaleCredits:
    """The credits service as the edge sees it; each thread that calls it gets its own container."""

    environment: dict[str, str]
    _containers: threading.local = field(default_factory=threading.local)

    def _api(self) -> CreditsApi:
        api: CreditsApi | None = getattr(self._containers, "api", None)
        if api is None:
            with scoped_environment(self.environment):
                api = build_api(settings_from_env())
            self._containers.api = api
        return api

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self._api().handle(event, context)

    def shard_rebalancer(self) -> ShardRebalancer:
        """Splits and rebalances of balance shards (issue 14) on these tables."""
        with scoped_environment(self.environment):
            return ShardRebalancer(settings_from_env())

    @property
    def admin(self) -> InProcessCredits:
        return InProcessCredits(self.handle)

    def funded_keys(self, accounts: int, credits: int, prefix: str) -> list[tuple[str, str]]:
        """``accounts`` new accounts with ``credits`` each and one key: (account_id, api_key)."""
        return [self.admin.funded_key(f"{prefix}-{index}", credits) for index in range(accounts)]

    def authorize(
        self, api_key: str, path: str, *, method: str = "GET", upload_bytes: int = 0
    ) -> Authorization:
        payload = {
            "key_digest": hashlib.sha256(api_key.encode()).hexdigest(),
            "request_id": new_request_id(),
            "method": method,
            "path": path,
            "bytes": upload_bytes,
        }
        status, document = self.admin.call("POST", "/v1/authorize", payload)
        return Authorization(status, document)


@contextmanager
def scoped_environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _catalog_settings(dynamodb_endpoint: str, suffix: str, region: str) -> CatalogSettings:
    return CatalogSettings(
        bucket="bench-scale-origin",
        objects_table=f"scale-objects-{suffix}",
        region=region,
        dynamodb_endpoint=dynamodb_endpoint,
    )


@contextmanager
def scale_credits(
    dynamodb_endpoint: str,
    *,
    catalog_paths: tuple[str, ...] = (),
    region: str = LOCAL_REGION,
    settings_environment: Mapping[str, str] | None = None,
) -> Iterator[ScaleCredits]:
    """Fresh tables (and a catalog holding ``catalog_paths``, if any) and the service on them.

    Enter it inside the capacity layer's block: the tables are bound, and the clients created, here.
    """
    suffix = secrets.token_hex(4)
    environment = {
        EDGEMETER_USERS_TABLE: f"scale-users-{suffix}",
        EDGEMETER_CREDITS_TABLE: f"scale-credits-{suffix}",
        "AWS_REGION": region,
        EDGEMETER_DYNAMODB_ENDPOINT: dynamodb_endpoint,
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", LOCAL_CREDENTIALS["aws_access_key_id"]),
        "AWS_SECRET_ACCESS_KEY": os.environ.get(
            "AWS_SECRET_ACCESS_KEY", LOCAL_CREDENTIALS["aws_secret_access_key"]
        ),
        "POWERTOOLS_METRICS_NAMESPACE": "edgemeter-bench",
        "POWERTOOLS_SERVICE_NAME": "credits",
        # More of the service's settings, as the Lambda's environment gives them (e.g. its attempts).
        **(settings_environment or {}),
    }
    catalog = _catalog_settings(dynamodb_endpoint, suffix, region) if catalog_paths else None
    if catalog is not None:
        environment[CATALOG_ENV_VAR] = catalog.model_dump_json()
    with scoped_environment(environment), stdout_discarded():
        settings = settings_from_env()
        # Created with a patient client: a loaded DynamoDB Local can take longer than the service's
        # 2 s read timeout to create a table with an index, and botocore's retry of a CreateTable
        # that did succeed fails with "Cannot create preexisting table".
        create_tables(settings.model_copy(update={"dynamodb_read_timeout_seconds": TABLE_CREATION_TIMEOUT}))
        if catalog is not None:
            create_objects_table(
                catalog.model_copy(update={"dynamodb_read_timeout_seconds": TABLE_CREATION_TIMEOUT})
            )
            for path in catalog_paths:
                DynamoObjectCatalog().put(
                    CatalogEntry(
                        key=object_key_from_path(path),
                        state=ObjectState.READY,
                        updated_at=datetime.now(UTC),
                        size=HOT_OBJECT_BYTES,
                        storage_class="STANDARD",
                    )
                )
        try:
            yield ScaleCredits(environment)
        finally:
            delete_tables(settings)
            if catalog is not None:
                delete_objects_table(catalog)
