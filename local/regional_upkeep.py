"""Home's regional upkeep in the local runtime (issue 15): what EventBridge does once a minute in AWS.

With ``credits_regions`` configured, ``make run`` starts this child: every ``UPKEEP_EVERY_SECONDS``
it invokes the real credits handler with home's environment and the scheduled upkeep event, so the
regions hold credit locally as they do deployed (transfers settled, leases renewed, refills sized by
each region's observed rate, idle credit returned home). More often than AWS's minute: a local
region gets its first lease a few seconds after start instead of a minute.

Run as a child of ``local.run``: ``python -m local.regional_upkeep``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from functions.credits.regions.upkeep_event import REGIONAL_UPKEEP_EVENT
from local.apigateway import LocalLambdaContext
from local.config import config_from_env
from local.credits_environment import credits_handler_environment
from local.dynamodb_local import PROJECT_ROOT
from local.processes import start_child

UPKEEP_EVERY_SECONDS = 5.0

logger = logging.getLogger("edgemeter.local.regional_upkeep")


def start_regional_upkeep(environment: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """The supervisor's call: the child, in its own session, dying with the supervisor."""
    return start_child(
        [sys.executable, "-m", "local.regional_upkeep"], env=environment, log_path=log_path, cwd=PROJECT_ROOT
    )


def run_rounds(stop: threading.Event, every: float = UPKEEP_EVERY_SECONDS) -> None:
    """Invoke home's credits handler with the upkeep event until ``stop`` is set."""
    os.environ.update(credits_handler_environment(config_from_env()))
    from functions.credits.handler import lambda_handler  # noqa: PLC0415 - after the environment is set

    while not stop.is_set():
        try:
            reply: Any = lambda_handler(dict(REGIONAL_UPKEEP_EVENT), LocalLambdaContext())
            logger.info("upkeep %s", json.dumps(reply, default=str))
        except Exception:
            logger.exception("upkeep round failed")
        stop.wait(every)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()

    def request_stop(_signal: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    run_rounds(stop)


if __name__ == "__main__":
    main()
