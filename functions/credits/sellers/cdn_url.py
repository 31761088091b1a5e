"""Where signed links point: the CDN's base URL.

Locally (and wherever an operator names one) it is the ``cdn_base_url`` setting. Deployed, the
CloudFront domain cannot be put in the credits Lambda's environment (the distribution already
depends on the credits API through the edge functions' baked settings: a cycle), so the stack
writes it to an SSM parameter once the distribution exists, and the Lambda reads that parameter
on its first link (never on the authorize path) and keeps it for the container's life.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.credits.errors import ServiceBusy

_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")

SsmClientFactory = Callable[[], Any]


def _default_ssm_client() -> Any:
    import boto3  # noqa: PLC0415 - only containers that make links pay for an SSM client

    return boto3.client("ssm")


class CdnBaseUrl:
    """The base URL of links: ``fixed``, unless ``parameter_name`` names an SSM parameter to read."""

    def __init__(
        self, fixed: str, parameter_name: str | None, ssm_client: SsmClientFactory = _default_ssm_client
    ) -> None:
        self._fixed = fixed
        self._parameter_name = parameter_name
        self._ssm_client = ssm_client
        self._resolved: str | None = None if parameter_name else fixed
        self._lock = threading.Lock()

    def __call__(self) -> str:
        if self._resolved is not None:
            return self._resolved
        with self._lock:
            if self._resolved is None:
                self._resolved = self._read_parameter()
            return self._resolved

    def _read_parameter(self) -> str:
        assert self._parameter_name is not None
        try:
            reply = self._ssm_client().get_parameter(Name=self._parameter_name)
        except (BotoCoreError, ClientError) as error:
            raise ServiceBusy("the CDN's address could not be read; retry shortly") from error
        value = str(reply["Parameter"]["Value"])
        if not _URL.fullmatch(value):
            raise ValueError(f"SSM parameter {self._parameter_name} does not hold an http(s) URL")
        return value
