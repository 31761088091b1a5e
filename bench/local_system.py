"""The whole local system (``make run``'s supervisor, in this process) on free loopback ports.

Used by the end-to-end benchmark and the soak: DynamoDB Local in memory, the local S3 origin,
the credits API and the CDN as ``local.run.LocalSystem`` starts them, with data in a temporary
directory and no demo seeding. Accounts and keys are made through the real credits API (signed),
objects are put straight into the origin bucket.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

from cli.client import CreditsApiClient
from functions.credits.settings import Settings
from functions.shared.sigv4 import static_credentials
from local.config import LocalConfig
from local.credits_environment import credits_settings
from local.processes import free_port
from local.run import LocalSystem

# The origin's request counters (local/archive_origin.py control endpoint).
ORIGIN_STATS_PATH = "/_archive_origin/stats"
ORIGIN_RESET_PATH = "/_archive_origin/reset"


@dataclass
class RunningLocalSystem:
    config: LocalConfig
    credits: CreditsApiClient
    s3: Any

    @property
    def cdn_url(self) -> str:
        return self.config.cdn_url

    @property
    def origin_url(self) -> str:
        return self.config.effective_origin_url

    @property
    def credits_settings(self) -> Settings:
        """Where the credits tables live (for the audit)."""
        return credits_settings(self.config)

    def put_object(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.config.bucket, Key=key, Body=body)

    def funded_key(self, name: str, credits: int) -> tuple[str, str]:
        """(account_id, api_key) of a new account holding ``credits``."""
        account_id = str(self.credits.create_account(name)["account_id"])
        api_key = str(self.credits.issue_key(account_id)["api_key"])
        if credits:
            self.credits.grant(
                account_id, amount=credits, reason="bench", idempotency_key=f"fund-{account_id}"
            )
        return account_id, api_key

    def balance(self, account_id: str) -> int:
        return int(self.credits.get_account(account_id)["balance"])

    def origin_gets(self) -> int:
        """GETs that reached the origin since the last reset (counted by the origin itself)."""
        document = httpx.get(self.origin_url + ORIGIN_STATS_PATH, trust_env=False).json()
        return int(document["by_method"].get("GET", 0))

    def reset_origin_counts(self) -> None:
        httpx.post(self.origin_url + ORIGIN_RESET_PATH, trust_env=False).raise_for_status()


@contextmanager
def local_system(data_dir: Path | None = None, **overrides: Any) -> Iterator[RunningLocalSystem]:
    with tempfile.TemporaryDirectory(prefix="edgemeter-local-") as scratch:
        config = LocalConfig.model_validate(
            {
                "cdn_port": free_port(),
                "credits_port": free_port(),
                "origin_port": free_port(),
                "dynamodb_port": free_port(),
                "data_dir": data_dir or Path(scratch),
                "in_memory": True,
                "demo": {"enabled": False},
                **overrides,
            }
        )
        system = LocalSystem(config)
        try:
            system.start()
            s3 = boto3.client(
                "s3",
                endpoint_url=config.effective_origin_url,
                aws_access_key_id=config.origin_credentials.access_key_id,
                aws_secret_access_key=config.origin_credentials.secret_access_key,
                region_name=config.region,
                config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required"),
            )
            credits = CreditsApiClient(
                base_url=config.credits_url,
                credentials=static_credentials(
                    config.credentials.access_key_id, config.credentials.secret_access_key
                ),
                region=config.region,
            )
            yield RunningLocalSystem(config=config, credits=credits, s3=s3)
        finally:
            system.stop()
