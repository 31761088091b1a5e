"""Origin signer settings: a JSON document baked into the package at deploy time.

stacks/ writes ``functions/origin_signer/config.json`` (Lambda@Edge has no
environment variables). Schema (docs/decisions.md, "Origin signer settings")::

    {"credentials_secret_arn": "arn:aws:secretsmanager:<region>:<account>:secret:<name>",
     "credentials_secret_region": "<region>",      # where the secret lives
     "signing_region": "us-east-1",                 # region name the store expects in SigV4
     "service": "s3",                               # SigV4 service name
     "credentials_ttl_seconds": 300}                # optional; how long fetched credentials are reused

Validated on a container's first invocation; the local runtime and tests call
``functions.origin_signer.origin_request.configure`` instead of baking a file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.shared.aws_regions import is_aws_region

BAKED_SETTINGS_PATH = Path(__file__).with_name("config.json")
MAX_CREDENTIALS_TTL_SECONDS = 3600

_SECRET_ARN_PATTERN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+$"
)
_SERVICE_PATTERN = re.compile(r"^[a-z0-9-]{1,32}$")
_KNOWN_FIELDS = frozenset(
    {
        "credentials_secret_arn",
        "credentials_secret_region",
        "signing_region",
        "service",
        "credentials_ttl_seconds",
    }
)


class SignerSettingsError(ValueError):
    """The origin signer's settings are missing or invalid; the message names every problem."""


@dataclass(frozen=True, slots=True)
class SignerSettings:
    credentials_secret_arn: str
    credentials_secret_region: str
    signing_region: str = "us-east-1"
    service: str = "s3"
    credentials_ttl_seconds: int = 300

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not _SECRET_ARN_PATTERN.fullmatch(self.credentials_secret_arn):
            problems.append("credentials_secret_arn: not a Secrets Manager secret ARN")
        for label, region in (
            ("credentials_secret_region", self.credentials_secret_region),
            ("signing_region", self.signing_region),
        ):
            if not is_aws_region(region):
                problems.append(f"{label}: {region!r} is not an AWS region name")
        if not _SERVICE_PATTERN.fullmatch(self.service):
            problems.append(f"service: {self.service!r} is not a SigV4 service name")
        ttl = self.credentials_ttl_seconds
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= MAX_CREDENTIALS_TTL_SECONDS:
            problems.append(
                f"credentials_ttl_seconds: must be an integer from 0 to {MAX_CREDENTIALS_TTL_SECONDS}"
            )
        if problems:
            raise SignerSettingsError("invalid origin signer settings: " + "; ".join(problems))


def parse_signer_settings(document: Any) -> SignerSettings:
    if not isinstance(document, dict):
        raise SignerSettingsError("origin signer settings must be a JSON object")
    problems = [f"{name}: unknown field" for name in sorted(set(document) - _KNOWN_FIELDS)]
    for name in ("credentials_secret_arn", "credentials_secret_region", "signing_region", "service"):
        if name in document and not isinstance(document[name], str):
            problems.append(f"{name}: must be a string")
    for name in ("credentials_secret_arn", "credentials_secret_region"):
        if name not in document:
            problems.append(f"{name}: required")
    if problems:
        raise SignerSettingsError("invalid origin signer settings: " + "; ".join(problems))
    return SignerSettings(**document)


def load_signer_settings(path: Path = BAKED_SETTINGS_PATH) -> SignerSettings:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SignerSettingsError(
            f"origin signer settings file {path.name} is missing from the package "
            "(the CDK bundling step writes it)"
        ) from None
    except (OSError, ValueError) as exc:
        raise SignerSettingsError(f"origin signer settings file {path.name} is unreadable: {exc}") from None
    return parse_signer_settings(document)
