"""One JSON object per log line, the shape the Lambda@Edge functions log in."""

from __future__ import annotations

import json
import logging
from typing import Any


def log_json(logger: logging.Logger, level: int, event_name: str, **fields: Any) -> None:
    """Log ``{"event": event_name, **fields}`` compactly; callers never pass a key or a secret."""
    # Checked first: the viewer-request path logs every request at INFO, and the JSON is
    # built only when that level is actually emitted.
    if logger.isEnabledFor(level):
        logger.log(level, json.dumps({"event": event_name, **fields}, separators=(",", ":"), default=str))
