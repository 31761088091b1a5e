"""The new CLI commands against the real credits resolver (on DynamoDB Local), and the events
their changes produce: the request shapes the CLI sends are the ones the API accepts."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from functions.account_events.events import EventType
from functions.credits.app import CreditsApi
from tests.integration.account_events.conftest import PumpFactory
from tests.integration.credits.events import FakeLambdaContext, api_event

pytestmark = pytest.mark.dynamodb


def resolver_transport(api: CreditsApi) -> httpx.MockTransport:
    """Each HTTP request the CLI sends becomes the API Gateway event the credits Lambda gets."""

    def handle(request: httpx.Request) -> httpx.Response:
        event = api_event(
            request.method,
            request.url.path,
            query=dict(request.url.params),
            raw_body=request.content.decode() or None,
        )
        reply = api.handle(event, FakeLambdaContext())  # type: ignore[arg-type]
        return httpx.Response(reply["statusCode"], content=reply["body"], headers=reply.get("headers"))

    return httpx.MockTransport(handle)


def edgemeter(api: CreditsApi, *arguments: str) -> Result:
    return CliRunner().invoke(app, ["--json", *arguments], obj=resolver_transport(api))


def test_cli_commands_drive_the_api_and_produce_events(api: CreditsApi, stream_pump: PumpFactory) -> None:
    pump, publisher = stream_pump()
    created = edgemeter(api, "accounts", "create", "Zebra Films")
    assert created.exit_code == 0, created.stderr
    account_id = json.loads(created.stdout)["account_id"]

    alerts = edgemeter(api, "alerts", "set", account_id, "10", "100")
    assert alerts.exit_code == 0, alerts.stderr
    shown = edgemeter(api, "alerts", "show", account_id)
    assert json.loads(shown.stdout)["alert_thresholds"] == [100, 10]

    issued = edgemeter(api, "keys", "issue", account_id, "--methods", "GET,HEAD", "--prefix", "/reports/")
    assert issued.exit_code == 0, issued.stderr
    key_id = json.loads(issued.stdout)["key_id"]

    suspended = edgemeter(api, "accounts", "suspend", account_id, "--reason", "audit")
    assert suspended.exit_code == 0, suspended.stderr
    listed = edgemeter(api, "accounts", "list", "--status", "suspended", "--name-prefix", "zebra", "--all")
    assert [account["account_id"] for account in json.loads(listed.stdout)["accounts"]] == [account_id]

    closed = edgemeter(api, "accounts", "close", account_id, "--reason", "left", "--yes")
    assert closed.exit_code == 0, closed.stderr
    assert json.loads(closed.stdout)["balance"] == 0
    reopened = edgemeter(api, "accounts", "resume", account_id, "--reason", "oops")
    assert reopened.exit_code == 1  # closed is terminal: the API's 409, the CLI's exit 1
    assert "409" in reopened.stderr

    pump.drain()
    mine = [event for event in publisher.events if event.account_id == account_id]
    assert [event.type for event in mine] == [
        EventType.KEY_ISSUED,
        EventType.ACCOUNT_SUSPENDED,
        EventType.ACCOUNT_CLOSED,
    ]
    assert mine[0].detail["key_id"] == key_id
    assert mine[0].detail["scope"] == {"methods": ["GET", "HEAD"], "prefixes": ["/reports/"]}


def test_cli_bad_input_reaches_the_api_as_a_4xx_and_exits_1(api: CreditsApi) -> None:
    created = edgemeter(api, "accounts", "create", "Bad Input Ltd")
    account_id = json.loads(created.stdout)["account_id"]
    unknown_method = edgemeter(api, "keys", "issue", account_id, "--methods", "FETCH")
    assert unknown_method.exit_code == 1
    assert "422" in unknown_method.stderr
    not_a_prefix = edgemeter(api, "keys", "issue", account_id, "--prefix", "reports")
    assert not_a_prefix.exit_code == 1
    assert "422" in not_a_prefix.stderr
    too_long = edgemeter(
        api, "links", "create", account_id, "--key", "key_0123456789abcdef", "--path", "/a",
        "--expires-in", str(400 * 24 * 3600),
    )  # fmt: skip
    assert too_long.exit_code == 1
    assert "422" in too_long.stderr
