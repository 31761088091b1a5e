"""The billing console in a real headless Chromium against the whole local system (issue 17)."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import Request, expect

from cli.client import CreditsApiClient, CreditsApiError
from tests.browser.conftest import ConsolePage
from tests.e2e.conftest import RunningSystem

pytestmark = pytest.mark.e2e

XSS_NAME = "<img src=x onerror=alert(1)>"
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _account(api: CreditsApiClient, name: str, credits: int = 0) -> str:
    account_id: str = api.create_account(name)["account_id"]
    if credits:
        api.grant(account_id, amount=credits, reason="browser test credits", idempotency_key=f"seed-{_tag()}")
    return account_id


def _ledger(api: CreditsApiClient, account_id: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = api.ledger(account_id, limit=100, cursor=cursor)
        entries += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            return entries


def test_find_an_account_by_name_prefix_and_balance(
    console: ConsolePage, admin_api: CreditsApiClient
) -> None:
    tag = _tag()
    rich = _account(admin_api, f"find-{tag}-rich", credits=500)
    poor = _account(admin_api, f"find-{tag}-poor", credits=5)
    _account(admin_api, f"other-{tag}", credits=5)
    console.open()
    page = console.page
    page.get_by_label("Name starts with").fill(f"find-{tag}")
    page.get_by_label("Name starts with").press("Enter")
    results = page.locator("table.results tbody")
    expect(results.get_by_role("link", name=f"find-{tag}-rich")).to_be_visible()
    expect(results.get_by_role("link", name=f"find-{tag}-poor")).to_be_visible()
    expect(results.locator("tr")).to_have_count(2)
    console.screenshot("search-by-prefix")

    page.get_by_label("Balance below").fill("10")
    page.get_by_role("button", name="Search").click()
    expect(results.locator("tr")).to_have_count(1)
    expect(results.locator("tr")).to_contain_text(poor)
    console.screenshot("search-balance-below")

    results.get_by_role("link", name=f"find-{tag}-poor").click()
    expect(page.locator("h1")).to_have_text(f"find-{tag}-poor")
    expect(page.locator("dd.balance")).to_have_attribute("data-balance", "5")
    assert rich not in page.url
    console.screenshot("account")


def test_grant_twice_from_the_same_form_grants_once(
    console: ConsolePage, admin_api: CreditsApiClient
) -> None:
    account_id = _account(admin_api, f"grant-{_tag()}")
    grant_requests: list[Request] = []
    console.page.on(
        "request", lambda request: grant_requests.append(request) if request.url.endswith("/grants") else None
    )
    console.open(f"/accounts/{account_id}")
    page = console.page
    form = page.get_by_role("form", name="Grant credits")
    form.get_by_label("Amount").fill("250")
    form.get_by_label("Reason").fill("double click test")
    form.get_by_role("button", name="Grant credits").dblclick()
    expect(form.get_by_role("status")).to_contain_text("Granted 250 credits")
    # The same form submitted once more (Enter, a retry): same idempotency key, replayed.
    form.evaluate("form => form.requestSubmit()")
    expect(form.get_by_role("status")).to_contain_text("Already granted 250 credits")
    expect(page.locator("dd.balance")).to_have_attribute("data-balance", "250")
    console.screenshot("granted-once")

    assert len(grant_requests) >= 2
    keys = {json.loads(request.post_data or "{}")["idempotency_key"] for request in grant_requests}
    assert len(keys) == 1
    assert admin_api.get_account(account_id)["balance"] == 250
    grants = [entry for entry in _ledger(admin_api, account_id) if entry["kind"] == "grant"]
    assert [grant["amount"] for grant in grants] == [250]

    # A new form is a new grant.
    page.get_by_role("button", name="New grant form").click()
    form = page.get_by_role("form", name="Grant credits")
    form.get_by_label("Amount").fill("5")
    form.get_by_label("Reason").fill("second grant")
    form.get_by_role("button", name="Grant credits").click()
    expect(form.get_by_role("status")).to_contain_text("Granted 5 credits")
    assert admin_api.get_account(account_id)["balance"] == 255


def _issue_key_in_console(console: ConsolePage, name: str) -> str:
    page = console.page
    page.get_by_text("Issue a key").click()
    form = page.get_by_role("form", name="Issue a key")
    form.get_by_label("Name").fill(name)
    form.get_by_label("GET", exact=True).check()
    form.get_by_label("HEAD", exact=True).check()
    form.get_by_label("Path prefixes").fill("/hello")
    form.get_by_role("button", name="Issue key").click()
    dialog = page.get_by_role("dialog")
    key_box = dialog.get_by_label("The new API key")
    expect(key_box).to_have_value(re.compile(r"^em_"))
    api_key = key_box.input_value()
    dialog.get_by_role("button", name="Copy").click()
    expect(dialog.get_by_role("status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == api_key
    console.screenshot("key-shown-once")
    dialog.get_by_role("button", name="I have stored the key").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    # A closed dialog is hidden before its close handler removes it: wait for the removal.
    expect(page.locator("dialog.issued")).to_have_count(0)
    # Shown once: the page no longer holds it anywhere.
    assert api_key not in page.content()
    return api_key


def test_issue_a_key_use_it_at_the_cdn_and_see_the_charge_in_ledger_chart_and_csv(
    console: ConsolePage, admin_api: CreditsApiClient, cdn: httpx.Client
) -> None:
    account_id = _account(admin_api, f"usage-{_tag()}", credits=100)
    console.open(f"/accounts/{account_id}")
    api_key = _issue_key_in_console(console, "browser key")
    keys = admin_api.list_keys(account_id)["keys"]
    assert [key["name"] for key in keys] == ["browser key"]

    download = cdn.get("/hello.txt", headers={"x-api-key": api_key})
    assert download.status_code == 200
    page = console.page
    page.get_by_role("button", name="Show period").click()

    ledger = page.locator("table.ledger tbody")
    charge_row = ledger.locator("tr", has_text="/hello.txt")
    expect(charge_row).to_have_count(1)
    expect(charge_row).to_contain_text("charge")
    expect(charge_row.locator("td").nth(2)).to_have_text("-1")

    page.get_by_text("Usage as a table").click()
    downloads = page.locator("table.usage-table tbody tr td:nth-child(2)")
    expect(downloads.filter(has_text="1")).to_have_count(1)
    assert page.locator(".chart canvas").evaluate("canvas => canvas.width") > 0
    console.screenshot("charge-in-ledger-and-chart")

    page.get_by_label("Kind").select_option("charge")
    expect(ledger.locator("tr")).to_have_count(1)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export CSV of the period").click()
    exported = download_info.value
    rows = list(csv.DictReader(io.StringIO(exported.path().read_text(encoding="utf-8"))))
    charges = [entry for entry in _ledger(admin_api, account_id) if entry["kind"] == "charge"]
    assert len(rows) == len(charges) == 1
    for row, entry in zip(rows, charges, strict=True):
        assert row["entry_id"] == entry["entry_id"]
        assert int(row["amount"]) == entry["amount"] == -1
        assert row["kind"] == "charge"
        assert row["method"] == entry["method"]
        assert row["path"] == entry["path"] == "/hello.txt"
        assert int(row["bytes"]) == entry["bytes"]
        request_id = entry["request_id"]
        assert row["request_id"] == (
            f"'{request_id}" if request_id.startswith(CSV_FORMULA_START) else request_id
        )
    assert admin_api.get_account(account_id)["balance"] == 99


def test_revoke_suspend_and_resume(
    console: ConsolePage, admin_api: CreditsApiClient, cdn: httpx.Client
) -> None:
    account_id = _account(admin_api, f"lifecycle-{_tag()}", credits=10)
    revoked = admin_api.issue_key(account_id, name="to revoke")
    kept = admin_api.issue_key(account_id, name="kept")
    assert cdn.get("/hello.txt", headers={"x-api-key": revoked["api_key"]}).status_code == 200
    console.open(f"/accounts/{account_id}")
    page = console.page

    page.get_by_role("button", name=f"Revoke key {revoked['key_id']}").click()
    confirm = page.get_by_role("dialog")
    expect(confirm).to_contain_text("cannot be undone")
    console.screenshot("revoke-confirmation")
    confirm.get_by_role("button", name="Revoke key").click()
    expect(page.locator(f"tr[data-key-id='{revoked['key_id']}']")).to_contain_text("revoked")
    statuses = {key["key_id"]: key["status"] for key in admin_api.list_keys(account_id)["keys"]}
    assert statuses == {revoked["key_id"]: "revoked", kept["key_id"]: "active"}
    assert cdn.get("/hello.txt", headers={"x-api-key": revoked["api_key"]}).status_code == 403

    page.get_by_role("button", name="Suspend").click()
    confirm = page.get_by_role("dialog")
    confirm.get_by_label("Reason").fill("unpaid invoice")
    console.screenshot("suspend-confirmation")
    confirm.get_by_role("button", name="Suspend").click()
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "suspended")
    assert admin_api.get_account(account_id)["status"] == "suspended"
    suspended = cdn.get("/hello.txt", headers={"x-api-key": kept["api_key"]})
    assert suspended.status_code == 403
    assert suspended.json()["error"]["code"] == "account_suspended"
    console.screenshot("suspended")

    page.get_by_role("button", name="Resume").click()
    confirm = page.get_by_role("dialog")
    confirm.get_by_label("Reason").fill("paid")
    confirm.get_by_role("button", name="Resume").click()
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "active")
    assert admin_api.get_account(account_id)["status"] == "active"
    assert cdn.get("/hello.txt", headers={"x-api-key": kept["api_key"]}).status_code == 200


def test_cancelled_confirmation_changes_nothing(console: ConsolePage, admin_api: CreditsApiClient) -> None:
    account_id = _account(admin_api, f"cancel-{_tag()}", credits=1)
    console.open(f"/accounts/{account_id}")
    page = console.page
    page.get_by_role("button", name="Close").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert admin_api.get_account(account_id)["status"] == "active"


def test_xss_name_reason_and_path_render_as_text(console: ConsolePage, admin_api: CreditsApiClient) -> None:
    account_id = admin_api.create_account(XSS_NAME)["account_id"]
    reason = "<script>alert(2)</script>"
    admin_api.grant(account_id, amount=3, reason=reason, idempotency_key=f"xss-{_tag()}")
    admin_api.issue_key(account_id, name="<b onmouseover=alert(3)>key</b>")
    console.open(f"/accounts/{account_id}")
    page = console.page
    expect(page.locator("h1")).to_have_text(XSS_NAME)
    expect(page.locator("table.ledger tbody td", has_text=reason)).to_have_count(1)
    expect(page.locator("table.keys tbody")).to_contain_text("<b onmouseover=alert(3)>key</b>")
    assert page.locator("main img, main script, main b").count() == 0
    console.screenshot("xss-as-text")

    page.get_by_role("link", name="← Accounts").click()
    page.get_by_label("Name starts with").fill("<img")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table.results tbody").get_by_role("link", name=XSS_NAME)).to_be_visible()
    assert page.locator("main img").count() == 0
    console.screenshot("xss-in-search")


def test_a_reader_sees_no_write_control_and_the_api_refuses_it(
    console: ConsolePage, admin_api: CreditsApiClient, reader_api: CreditsApiClient
) -> None:
    account_id = _account(admin_api, f"reader-{_tag()}", credits=40)
    key = admin_api.issue_key(account_id, name="visible to the reader")
    console.open(f"/accounts/{account_id}", principal="reader")
    page = console.page
    expect(page.locator("[data-role]")).to_have_attribute("data-role", "reader")
    expect(page.locator("dd.balance")).to_have_attribute("data-balance", "40")
    expect(page.locator(f"tr[data-key-id='{key['key_id']}']")).to_be_visible()
    expect(page.locator("table.ledger tbody tr")).to_have_count(1)
    for hidden in ("Grant credits", "Suspend", "Close", "Save thresholds", "Issue key", "New grant form"):
        expect(page.get_by_role("button", name=hidden)).to_have_count(0)
    expect(page.get_by_role("button", name=f"Revoke key {key['key_id']}")).to_have_count(0)
    expect(page.get_by_role("form", name="Grant credits")).to_have_count(0)
    console.screenshot("reader-account")

    assert reader_api.get_account(account_id)["balance"] == 40
    with pytest.raises(CreditsApiError) as refused:
        reader_api.grant(account_id, amount=1000, reason="reader tries", idempotency_key=f"reader-{_tag()}")
    assert refused.value.status == 403
    assert refused.value.code == "access_denied"
    with pytest.raises(CreditsApiError) as refused_revoke:
        reader_api.revoke_key(account_id, key["key_id"])
    assert refused_revoke.value.status == 403
    assert admin_api.get_account(account_id)["balance"] == 40
    assert admin_api.list_keys(account_id)["keys"][0]["status"] == "active"


def test_security_headers_memory_only_credentials_and_labelled_controls(
    console: ConsolePage, console_system: RunningSystem, admin_api: CreditsApiClient
) -> None:
    with httpx.Client(trust_env=False) as http:
        index = http.get(f"{console_system.credits_url}/console/")
    assert index.status_code == 200
    policy = index.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert index.headers["x-content-type-options"] == "nosniff"

    account_id = _account(admin_api, f"a11y-{_tag()}", credits=2)
    loaded: list[str] = []
    console.page.on("request", lambda request: loaded.append(request.url))
    console.open(f"/accounts/{account_id}")
    page = console.page
    expect(page.locator("table.ledger tbody tr")).to_have_count(1)
    # Every byte from this origin: no CDN, no third party.
    assert loaded
    assert all(url.startswith((console_system.credits_url, "data:")) for url in loaded)
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter(control => control.labels.length === 0 && !control.getAttribute('aria-label'))
            .map(control => control.name)"""
    )
    assert unlabelled == []
    # Keyboard: Tab reaches the grant form's amount, typing and Enter submit it.
    amount = page.get_by_role("form", name="Grant credits").get_by_label("Amount")
    amount.focus()
    page.keyboard.type("7")
    page.keyboard.press("Tab")
    page.keyboard.type("keyboard grant")
    page.keyboard.press("Enter")
    expect(page.get_by_role("form", name="Grant credits").get_by_role("status")).to_contain_text(
        "Granted 7 credits"
    )
    assert admin_api.get_account(account_id)["balance"] == 9


def test_api_errors_are_shown_readably(console: ConsolePage) -> None:
    console.open("/accounts/acct_00000000000000000000")
    alert = console.page.get_by_role("alert")
    expect(alert).to_contain_text("not_found")
    expect(alert).to_contain_text("HTTP 404")
    console.screenshot("readable-error")


def test_low_balance_thresholds_are_saved_and_shown_to_a_reader(
    console: ConsolePage, admin_api: CreditsApiClient
) -> None:
    account_id = _account(admin_api, f"alerts-{_tag()}", credits=500)
    console.open(f"/accounts/{account_id}")
    page = console.page
    form = page.get_by_role("form", name="Low-balance thresholds")
    form.get_by_label("Alert when the balance falls below").fill("10, 100")
    form.get_by_role("button", name="Save thresholds").click()
    expect(form.get_by_role("status")).to_have_text("Saved: 100, 10.")
    assert admin_api.get_account(account_id)["alert_thresholds"] == [100, 10]
    form.get_by_label("Alert when the balance falls below").fill("0")
    form.get_by_role("button", name="Save thresholds").click()
    expect(form.get_by_role("alert")).to_contain_text("1 or more")
    console.screenshot("thresholds")

    console.open(f"/accounts/{account_id}", principal="reader")
    expect(page.get_by_text("Alert when the balance falls below: 100, 10.")).to_be_visible()


def test_usage_per_day_and_the_per_region_balance_split(
    console: ConsolePage, admin_api: CreditsApiClient
) -> None:
    account_id = _account(admin_api, f"regions-{_tag()}", credits=30)
    split = {"eu-west-1": 20, "ap-northeast-1": 5}  # + 5 in flight = the balance of 30

    def with_region_split(route: Any) -> None:
        # The split appears once regional credits exist; until then the page is given one.
        reply = route.fetch()
        account = reply.json()
        route.fulfill(response=reply, json={**account, "balance_by_region": split, "balance_in_flight": 5})

    console.page.route(f"**/v1/accounts/{account_id}", with_region_split)
    console.open(f"/accounts/{account_id}")
    page = console.page
    regions = page.locator("ul.regions li")
    expect(regions).to_have_count(3)
    expect(regions.nth(0)).to_have_text("eu-west-1: 20")
    expect(regions.nth(1)).to_have_text("ap-northeast-1: 5")
    expect(regions.nth(2)).to_have_text("in flight between regions: 5")

    page.get_by_label("Buckets").select_option("day")
    page.get_by_role("button", name="Show period").click()
    page.get_by_text("Usage as a table").click()
    rows = page.locator("table.usage-table tbody tr")
    expect(rows).to_have_count(1)
    console.screenshot("per-day-and-regions")


def test_csv_export_quotes_text_and_defuses_formulas(
    console: ConsolePage, admin_api: CreditsApiClient
) -> None:
    account_id = _account(admin_api, f"csv-{_tag()}")
    tricky_reason = '=HYPERLINK("https://example.com"), "quoted", line'
    admin_api.grant(account_id, amount=4, reason=tricky_reason, idempotency_key=f"csv-{_tag()}")
    console.open(f"/accounts/{account_id}")
    page = console.page
    expect(page.locator("table.ledger tbody tr")).to_have_count(1)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export CSV of the period").click()
    (row,) = csv.DictReader(io.StringIO(download_info.value.path().read_text(encoding="utf-8")))
    (entry,) = _ledger(admin_api, account_id)
    assert row["reason"] == f"'{tricky_reason}"
    assert row["entry_id"] == entry["entry_id"]
    assert row["kind"] == "grant"
    assert int(row["amount"]) == 4
    assert row["method"] == row["path"] == row["bytes"] == ""
