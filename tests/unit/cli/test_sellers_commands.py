"""`edgemeter accounts list|suspend|resume|close`, `keys issue` scopes, `links create`, `alerts ...`
against a fake credits API (httpx.MockTransport): requests sent, output, exit codes, bad input."""

from __future__ import annotations

import json

import httpx
import pytest

from cli.common import EXIT_DENIED, EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE
from tests.unit.cli.fake_api import FakeCreditsApi, error

ACCOUNT = "acct_0123456789abcdef0123"
LISTED = {
    "account_id": ACCOUNT,
    "name": "Acme Media",
    "status": "active",
    "balance": 42,
    "created_at": "2026-12-01T10:00:00Z",
}


@pytest.fixture
def api() -> FakeCreditsApi:
    return FakeCreditsApi()


def test_accounts_list_sends_the_filters_and_prints_a_table(api: FakeCreditsApi) -> None:
    api.reply("GET", "/v1/accounts", 200, {"accounts": [LISTED], "next_cursor": "c2"})
    result = api.invoke(
        "accounts", "list", "--name-prefix", "acme", "--status", "active", "--balance-below", "100"
    )
    assert result.exit_code == 0, result.stderr
    query = dict(api.requests[0].url.params)
    assert query == {"name_prefix": "acme", "status": "active", "balance_below": "100", "limit": "50"}
    assert api.requests[0].headers["authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert "Acme Media" in result.stdout
    assert "more: --cursor c2" in result.stdout


def test_accounts_list_all_follows_the_cursor_and_prints_json(api: FakeCreditsApi) -> None:
    second = {**LISTED, "account_id": "acct_ffffffffffffffffffff", "name": "Zeta"}

    def paged(request: httpx.Request) -> tuple[int, dict[str, object]]:
        if request.url.params.get("cursor") == "page2":
            return 200, {"accounts": [second], "next_cursor": None}
        return 200, {"accounts": [LISTED], "next_cursor": "page2"}

    api.replies[("GET", "/v1/accounts")] = paged
    result = api.invoke("--json", "accounts", "list", "--all")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [account["name"] for account in document["accounts"]] == ["Acme Media", "Zeta"]
    assert document["next_cursor"] is None
    assert len(api.requests) == 2


@pytest.mark.parametrize(
    "arguments",
    [
        ["--status", "frozen"],
        ["--balance-below", "0"],
        ["--balance-below", "ten"],
        ["--limit", "1000"],
    ],
)
def test_accounts_list_bad_options_are_usage_errors_without_a_request(
    api: FakeCreditsApi, arguments: list[str]
) -> None:
    result = api.invoke("accounts", "list", *arguments)
    assert result.exit_code == EXIT_USAGE
    assert api.requests == []


@pytest.mark.parametrize(
    ("command", "status"), [("suspend", "suspended"), ("resume", "active"), ("close", "closed")]
)
def test_status_commands_patch_the_account_with_the_reason(
    api: FakeCreditsApi, command: str, status: str
) -> None:
    api.reply(
        "PATCH",
        f"/v1/accounts/{ACCOUNT}",
        200,
        {**LISTED, "status": status, "status_reason": "unpaid", "changed": True},
    )
    extra = ["--yes"] if command == "close" else []
    result = api.invoke("accounts", command, ACCOUNT, "--reason", "unpaid", *extra)
    assert result.exit_code == 0, result.stderr
    assert api.body() == {"status": status, "reason": "unpaid"}
    assert f"is now {status}" in result.stdout
    assert ("Remaining balance: 42 credits" in result.stdout) == (command == "close")


def test_a_status_command_needs_a_reason(api: FakeCreditsApi) -> None:
    result = api.invoke("accounts", "suspend", ACCOUNT)
    assert result.exit_code == EXIT_USAGE
    assert "--reason" in result.stderr
    assert api.requests == []


def test_close_asks_first_and_a_no_sends_nothing(api: FakeCreditsApi) -> None:
    result = api.invoke("accounts", "close", ACCOUNT, "--reason", "gone", input_text="n\n")
    assert result.exit_code == EXIT_USAGE
    assert "not closed" in result.stderr
    assert api.requests == []


def test_a_refused_status_change_exits_1_with_the_apis_error(api: FakeCreditsApi) -> None:
    api.reply("PATCH", f"/v1/accounts/{ACCOUNT}", 409, error("conflict", "the account is closed"))
    result = api.invoke("accounts", "resume", ACCOUNT, "--reason", "oops")
    assert result.exit_code == EXIT_FAILED
    assert "409 conflict: the account is closed" in result.stderr


def test_keys_issue_sends_the_scope_and_spend_limit(api: FakeCreditsApi) -> None:
    api.reply(
        "POST",
        f"/v1/accounts/{ACCOUNT}/keys",
        201,
        {"key_id": "key_1", "account_id": ACCOUNT, "api_key": "em_live_secret"},
    )
    result = api.invoke(
        "keys", "issue", ACCOUNT, "--methods", "get, HEAD", "--prefix", "/reports/",
        "--prefix", "/media/", "--spend-limit", "500",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert api.body() == {
        "scope": {"methods": ["GET", "HEAD"], "prefixes": ["/reports/", "/media/"]},
        "spend_limit": 500,
    }
    assert "em_live_secret" in result.stdout


def test_keys_issue_without_a_scope_sends_none(api: FakeCreditsApi) -> None:
    api.reply(
        "POST", f"/v1/accounts/{ACCOUNT}/keys", 201, {"key_id": "k", "account_id": ACCOUNT, "api_key": "x"}
    )
    assert api.invoke("keys", "issue", ACCOUNT).exit_code == 0
    assert api.body() == {}


@pytest.mark.parametrize("arguments", [["--methods", "GET,,HEAD"], ["--spend-limit", "0"]])
def test_keys_issue_bad_scope_options_are_usage_errors(api: FakeCreditsApi, arguments: list[str]) -> None:
    result = api.invoke("keys", "issue", ACCOUNT, *arguments)
    assert result.exit_code == EXIT_USAGE
    assert api.requests == []


def test_keys_issue_an_unknown_method_is_the_apis_422(api: FakeCreditsApi) -> None:
    api.reply(
        "POST",
        f"/v1/accounts/{ACCOUNT}/keys",
        422,
        error("validation_error", "invalid request", fields=["scope.methods.0"]),
    )
    result = api.invoke("keys", "issue", ACCOUNT, "--methods", "FETCH")
    assert result.exit_code == EXIT_FAILED
    assert "422 validation_error" in result.stderr
    assert "scope.methods.0" in result.stderr
    assert api.body() == {"scope": {"methods": ["FETCH"]}}


def test_links_create_sends_the_link_and_prints_the_url(api: FakeCreditsApi) -> None:
    url = "https://cdn.example.com/media/a.mp4?em_link=eml_" + "x" * 43
    api.reply(
        "POST",
        f"/v1/accounts/{ACCOUNT}/links",
        201,
        {"url": url, "expires_at": "2026-12-05T09:00:00Z", "key_id": "key_1"},
    )
    result = api.invoke(
        "links", "create", ACCOUNT, "--key", "key_1", "--path", "/media/a.mp4",
        "--expires-in", "3600", "--max-uses", "3",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert api.body() == {"key_id": "key_1", "path": "/media/a.mp4", "expires_in": 3600, "max_uses": 3}
    assert url in result.stdout.splitlines()


@pytest.mark.parametrize(
    "arguments",
    [
        ["--key", "key_1", "--expires-in", "60"],  # neither --path nor --prefix
        ["--key", "key_1", "--expires-in", "60", "--path", "/a", "--prefix", "/b/"],  # both
        ["--key", "key_1", "--expires-in", "0", "--path", "/a"],
        ["--key", "key_1", "--path", "/a"],  # no --expires-in
        ["--expires-in", "60", "--path", "/a"],  # no --key
    ],
)
def test_links_create_bad_input_is_a_usage_error_without_a_request(
    api: FakeCreditsApi, arguments: list[str]
) -> None:
    result = api.invoke("links", "create", ACCOUNT, *arguments)
    assert result.exit_code == EXIT_USAGE
    assert api.requests == []


def test_links_create_over_the_maximum_expiry_is_the_apis_422(api: FakeCreditsApi) -> None:
    api.reply(
        "POST",
        f"/v1/accounts/{ACCOUNT}/links",
        422,
        error("validation_error", "expires_in is over the maximum of 604800 seconds"),
    )
    result = api.invoke("links", "create", ACCOUNT, "--key", "k", "--prefix", "/m/", "--expires-in", "999999")
    assert result.exit_code == EXIT_FAILED
    assert "over the maximum" in result.stderr


def test_alerts_set_show_and_clear(api: FakeCreditsApi) -> None:
    alerts_path = f"/v1/accounts/{ACCOUNT}/alerts"
    api.replies[("PUT", alerts_path)] = lambda request: (
        200,
        {"account_id": ACCOUNT, "alert_thresholds": json.loads(request.content)["thresholds"]},
    )
    api.reply("GET", alerts_path, 200, {"account_id": ACCOUNT, "alert_thresholds": [100, 10]})

    result = api.invoke("alerts", "set", ACCOUNT, "100", "10")
    assert result.exit_code == 0, result.stderr
    assert api.body() == {"thresholds": [100, 10]}
    assert "thresholds 100, 10" in result.stdout

    shown = api.invoke("--json", "alerts", "show", ACCOUNT)
    assert json.loads(shown.stdout) == {"account_id": ACCOUNT, "alert_thresholds": [100, 10]}

    cleared = api.invoke("alerts", "clear", ACCOUNT)
    assert api.body() == {"thresholds": []}
    assert "thresholds none" in cleared.stdout


@pytest.mark.parametrize("arguments", [[], ["ten"], ["-5.5"], ["0"]])
def test_alerts_set_needs_whole_positive_numbers(api: FakeCreditsApi, arguments: list[str]) -> None:
    result = api.invoke("alerts", "set", ACCOUNT, *arguments)
    assert result.exit_code == EXIT_USAGE
    assert api.requests == []


def test_alerts_set_thresholds_the_api_refuses_exit_1(api: FakeCreditsApi) -> None:
    api.reply(
        "PUT", f"/v1/accounts/{ACCOUNT}/alerts", 422, error("validation_error", "values must not repeat")
    )
    result = api.invoke("alerts", "set", ACCOUNT, "100", "100")
    assert result.exit_code == EXIT_FAILED
    assert "values must not repeat" in result.stderr
    assert api.body() == {"thresholds": [100, 100]}


def test_an_unreachable_api_exits_3_and_a_refused_signature_4() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    from typer.testing import CliRunner

    from cli.main import app

    unreachable = CliRunner().invoke(app, ["accounts", "list"], obj=httpx.MockTransport(refuse))
    assert unreachable.exit_code == EXIT_UNREACHABLE
    assert "make run" in unreachable.stderr

    denied = FakeCreditsApi()
    denied.reply(
        "GET", "/v1/accounts", 403, {"message": "The security token included in the request is invalid"}
    )
    result = denied.invoke("accounts", "list")
    assert result.exit_code == EXIT_DENIED
    assert "access denied" in result.stderr


def test_keys_list_shows_each_keys_scope_and_spend_limit(api: FakeCreditsApi) -> None:
    key = {"key_id": "key_1", "name": "r", "status": "active", "created_at": "2026-12-05T08:00:00Z"}
    scoped = {**key, "scope": {"methods": ["GET", "HEAD"], "prefixes": ["/reports/"]}, "spend_limit": 500}
    unscoped = {**key, "key_id": "key_2", "scope": None, "spend_limit": None}
    api.reply("GET", f"/v1/accounts/{ACCOUNT}/keys", 200, {"keys": [scoped, unscoped], "next_cursor": None})
    result = api.invoke("keys", "list", ACCOUNT)
    assert result.exit_code == 0, result.stderr
    rows = {line.split()[1]: line for line in result.stdout.splitlines() if "key_" in line}
    assert "GET,HEAD /reports/" in rows["key_1"]
    assert "500" in rows["key_1"]
    assert "any" in rows["key_2"]
