"""Edge handlers for the container-pool test: loaded inside real container processes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def _viewer_request(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request: dict[str, Any] = event["Records"][0]["cf"]["request"]
    if request["uri"] == "/slow":
        time.sleep(30)
    if request["uri"] == "/raise":
        raise RuntimeError("handler failure")
    request["headers"]["x-remaining-ms"] = [
        {"key": "X-Remaining-Ms", "value": str(context.get_remaining_time_in_millis())}
    ]
    return request


def setup(argument: str) -> dict[str, Callable[[Any, Any], Any]]:
    return {"viewer-request": _viewer_request}
