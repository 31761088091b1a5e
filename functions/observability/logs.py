"""One log path per Lambda: a Powertools logger whose every line is redacted.

``build_service_logger`` builds the Powertools ``Logger`` of a service (structured JSON,
correlation id) with ``RedactingFormatter``, and routes the standard-library loggers of the
packages that run inside the same Lambda (the objects catalog inside the credits Lambda)
through the same handler: their records get the same JSON shape, correlation id and
redaction instead of a second, unredacted path. Nothing is built at import time.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TextIO

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord

REDACTED = "[REDACTED]"

# API keys (em_ + 43), signed-link tokens (eml_ + 43) and anything shaped like a SHA-256 hex digest.
_SECRETS = re.compile(r"eml?_[A-Za-z0-9_-]{43}|(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])")
# Libraries whose debug logs print request bodies or models (which hold key digests).
NOISY_LIBRARIES = ("botocore", "boto3", "pynamodb", "urllib3", "aws_xray_sdk", "aws_lambda_powertools")


def redact(text: str) -> str:
    """Replace API keys, link tokens and SHA-256 hex digests in ``text``."""
    return _SECRETS.sub(REDACTED, text)


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter, with every serialized line passed through ``redact``."""

    def serialize(self, log: LogRecord) -> str:
        return redact(super().serialize(log))


def build_service_logger(
    service: str, *, routed_packages: Iterable[str] = (), stream: TextIO | None = None
) -> Logger:
    """The service's Powertools logger, its records leaving only through the redacting handler.

    ``routed_packages``: standard-library logger names (``functions.catalog``) whose records
    go through this logger's handler too, at its level, and nowhere else. ``stream``: where
    the handler writes (stdout, as Lambda expects, unless a test passes a buffer).
    """
    handler = None if stream is None else logging.StreamHandler(stream)
    logger = Logger(service=service, logger_formatter=RedactingFormatter(), logger_handler=handler)
    # Our records leave only through the redacting handler, never through a root handler as well.
    logging.getLogger(logger.name).propagate = False
    for package in routed_packages:
        routed = logging.getLogger(package)
        for existing in list(routed.handlers):
            routed.removeHandler(existing)
        routed.addHandler(logger.registered_handler)
        routed.setLevel(logger.log_level)
        routed.propagate = False
    for library in NOISY_LIBRARIES:
        logging.getLogger(library).setLevel(logging.WARNING)
    return logger
