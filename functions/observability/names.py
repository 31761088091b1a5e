"""Names the credits Lambda publishes logs and metrics under, and the stacks read back.

Plain constants: importing this module builds no Logger, Metrics or Tracer, so the CDK app
(stacks/constructs/credits_api.py, monitoring.py) can name the same service and namespace.
"""

from __future__ import annotations

from typing import Final

CREDITS_SERVICE_NAME: Final = "credits"
METRICS_NAMESPACE: Final = "edgemeter"
