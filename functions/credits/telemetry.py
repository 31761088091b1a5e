"""Powertools Logger, Metrics and Tracer of the credits Lambda (imported by the Lambda only).

Logs are structured JSON with the API Gateway request id as correlation id. No API key and
no key digest may appear in a log line: the service never logs them, and as a second line
of defence every line is passed through ``functions.observability.logs.redact``. The objects
catalog's code runs inside this Lambda too; its standard-library loggers (``functions.catalog``)
are routed through the same handler, so they get the same correlation id and redaction.
Third-party loggers that print request bodies at debug level are held at WARNING. The names
live in ``functions/observability/names.py``, which the CDK app reads without building these.
"""

from __future__ import annotations

import os
import warnings

from aws_lambda_powertools import Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit

from functions.observability.logs import REDACTED, build_service_logger, redact
from functions.observability.names import CREDITS_SERVICE_NAME, METRICS_NAMESPACE
from functions.shared.errors import DenialReason

# Packages whose code runs inside the credits Lambda and logs through the standard library.
ROUTED_PACKAGES = ("functions.catalog",)

# The POWERTOOLS_* environment variables, where set, name service and namespace (the stack sets them).
_service = os.environ.get("POWERTOOLS_SERVICE_NAME") or CREDITS_SERVICE_NAME
_namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or METRICS_NAMESPACE
logger = build_service_logger(_service, routed_packages=ROUTED_PACKAGES)
metrics = Metrics(namespace=_namespace, service=_service)
tracer = Tracer(service=_service)

# Read-only routes publish no business metric; that is expected, not worth a warning per call.
warnings.filterwarnings("ignore", message="No application metrics to publish")

__all__ = ["REDACTED", "PowertoolsTelemetry", "logger", "metrics", "redact", "tracer"]


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
