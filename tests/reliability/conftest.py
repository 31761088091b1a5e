"""Reliability fixtures: the real credits code on DynamoDB Local, the real edge handlers, faults.

Each test gets its own tables on the session's DynamoDB Local, a credits API built for them
(``functions.credits.app.CreditsApi``: the resolver the Lambda handler runs), and an edge
container whose credits calls are answered by that API in-process. Every DynamoDB client
the credits code creates goes through a ``FaultPolicy`` the test can arm.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bench.inprocess import HandlerTransport, InProcessCredits
from functions.credits.app import CreditsApi
from functions.credits.data.tables import create_tables, delete_tables
from functions.credits.service import CreditsService
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.edge_auth import runtime
from functions.edge_auth.credits_client import CreditsTransport
from functions.edge_auth.runtime import EdgeRuntime
from functions.edge_auth.settings import CreditsApiSettings, EdgeSettings
from functions.shared.sigv4 import static_credentials
from local.dynamodb_local import DynamoDBLocal
from tests.reliability.faults import FaultPolicy, dynamodb_faults
from tests.reliability.reporting import REPORTED_LINES

EDGE_SIGNING_CREDENTIALS = static_credentials("AKIDEDGE", "edge-secret")


def reliability_settings(dynamodb_endpoint: str, **overrides: object) -> Settings:
    suffix = secrets.token_hex(4)
    return Settings.model_validate(
        {
            "users_table": f"rel-users-{suffix}",
            "credits_table": f"rel-credits-{suffix}",
            "dynamodb_endpoint": dynamodb_endpoint,
            **overrides,
        }
    )


class ContainerPerThread:
    """The credits Lambda scaled out: each calling thread gets a container of its own.

    One container serves one invocation at a time (Powertools' resolver keeps the current event
    on the app), so concurrent edge requests must not share one; Lambda gives each its own.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._containers = threading.local()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        api: CreditsApi | None = getattr(self._containers, "api", None)
        if api is None:
            settings = self._settings
            api = CreditsApi(CreditsService(DynamoDBCreditsStore(settings), settings), settings)
            self._containers.api = api
        return api.handle(event, context)


def in_process_credits(settings: Settings) -> InProcessCredits:
    return InProcessCredits(ContainerPerThread(settings))


def configure_edge(
    credits_url: str, transport: CreditsTransport | None = None, **overrides: object
) -> EdgeRuntime:
    settings = EdgeSettings(
        credits_api=CreditsApiSettings(url=credits_url, region="us-east-1"),
        **overrides,  # type: ignore[arg-type]
    )
    return runtime.configure(
        settings, transport=transport, credentials_loader=lambda: EDGE_SIGNING_CREDENTIALS
    )


@dataclass
class CreditsUnderTest:
    settings: Settings
    credits: InProcessCredits
    transport: HandlerTransport
    faults: FaultPolicy


@pytest.fixture
def fault_policy() -> Iterator[FaultPolicy]:
    with dynamodb_faults(FaultPolicy()) as policy:
        yield policy


@pytest.fixture
def system(dynamodb_local: DynamoDBLocal, fault_policy: FaultPolicy) -> Iterator[CreditsUnderTest]:
    """Credits on fresh tables (behind the fault policy) and an edge container talking to it."""
    settings = reliability_settings(dynamodb_local.endpoint_url)
    create_tables(settings)
    credits = in_process_credits(settings)
    transport = HandlerTransport(credits)
    configure_edge("https://credits.invalid/prod", transport)
    yield CreditsUnderTest(settings=settings, credits=credits, transport=transport, faults=fault_policy)
    runtime.reset_runtime()
    fault_policy.choose = FaultPolicy().choose
    delete_tables(settings)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The counts every fault test and the soak reported, after the run."""
    if REPORTED_LINES:
        terminalreporter.section("edgemeter reliability counts")
        for line in REPORTED_LINES:
            terminalreporter.write_line(line)
