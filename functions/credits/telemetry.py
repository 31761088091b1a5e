"""Powertools Logger, Metrics and Tracer of the credits service, and log redaction.

Logs are structured JSON with the API Gateway request id as correlation id. No API key and
no key digest may appear in a log line: the service never logs them, and as a second line
of defence every line our logger writes is passed through ``redact`` (keys and anything
shaped like a SHA-256 hex digest are replaced). Third-party loggers that print request
bodies at debug level (botocore, pynamodb, urllib3) are held at WARNING.
"""

from __future__ import annotations

import logging
import os
import re
import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord
from aws_lambda_powertools.metrics import MetricUnit

from functions.credits.schemas import DenialReason

SERVICE = "credits"
NAMESPACE = "edgemeter"
REDACTED = "[REDACTED]"

_SECRETS = re.compile(r"em_[A-Za-z0-9_-]{43}|(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])")
# Libraries whose debug logs print request bodies or models (which hold key digests).
_NOISY_LIBRARIES = ("botocore", "boto3", "pynamodb", "urllib3", "aws_xray_sdk", "aws_lambda_powertools")


def redact(text: str) -> str:
    """Replace API keys and SHA-256 hex digests in ``text``."""
    return _SECRETS.sub(REDACTED, text)


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter, with every serialized line passed through ``redact``."""

    def serialize(self, log: LogRecord) -> str:
        return redact(super().serialize(log))


# The POWERTOOLS_* environment variables, where set, name service and namespace (the stack sets them).
_service = os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE
_namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE
logger = Logger(service=_service, logger_formatter=RedactingFormatter())
metrics = Metrics(namespace=_namespace, service=_service)
tracer = Tracer(service=_service)

# Our records leave only through the redacting handler, never through a root handler as well.
logging.getLogger(logger.name).propagate = False
for _library in _NOISY_LIBRARIES:
    logging.getLogger(_library).setLevel(logging.WARNING)
# Read-only routes publish no business metric; that is expected, not worth a warning per call.
warnings.filterwarnings("ignore", message="No application metrics to publish")


class PowertoolsTelemetry:
    """Business metrics as CloudWatch EMF: charges, credits spent, denials by reason, refunds, grants."""

    def charged(self, credits: int) -> None:
        metrics.add_metric(name="Charges", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="CreditsSpent", unit=MetricUnit.Count, value=credits)

    def denied(self, reason: DenialReason) -> None:
        metrics.add_metric(name="Denials", unit=MetricUnit.Count, value=1)
        with single_metric(
            name="DenialsByReason",
            unit=MetricUnit.Count,
            value=1,
            namespace=_namespace,
            default_dimensions={"service": _service},
        ) as metric:
            metric.add_dimension(name="reason", value=reason.value)

    def refunded(self, credits: int) -> None:
        metrics.add_metric(name="Refunds", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="CreditsRefunded", unit=MetricUnit.Count, value=credits)

    def granted(self, credits: int) -> None:
        metrics.add_metric(name="Grants", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="CreditsGranted", unit=MetricUnit.Count, value=credits)
