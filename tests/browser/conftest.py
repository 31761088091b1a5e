"""Browser tests of the billing console: Debian's Chromium (/usr/bin/chromium, installed by
`make browser`) driven by Playwright for Python, never a downloaded browser.

The local system starts as `make run` starts it (tests/e2e/conftest.py's ``running_system``) on
free loopback ports; every test gets a fresh browser context (memory only: nothing survives it)
and writes a screenshot of each page it visits under tests/browser/output/ for review.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, sync_playwright

from cli.client import CreditsApiClient
from functions.shared.sigv4 import static_credentials
from local.billing_console import LOCAL_READER_ACCESS_KEY_ID, LOCAL_READER_SECRET_ACCESS_KEY
from local.config import LocalCredentials
from local.dynamodb_local import LOCAL_REGION
from tests.e2e.conftest import PROJECT_ROOT, RunningSystem, running_system

CHROMIUM = Path("/usr/bin/chromium")
CONSOLE_INDEX = PROJECT_ROOT / "console" / "dist" / "index.html"
OUTPUT_DIR = Path(__file__).resolve().parent / "output"
# Replies the console expects and shows as readable errors (the reader's refusals, a missing key).
_EXPECTED_RESOURCE_ERROR = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so the console fixture can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def console_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    if not CONSOLE_INDEX.exists():
        pytest.fail("the console is not built: `make console` (make test builds it first)")
    with running_system(tmp_path_factory.mktemp("console-system"), "--in-memory") as system:
        yield system


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: `make browser` installs it (apt-get)")
    OUTPUT_DIR.mkdir(exist_ok=True)
    for old_screenshot in OUTPUT_DIR.glob("*.png"):
        old_screenshot.unlink()  # this run's screenshots only
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


def _api(system: RunningSystem, access_key_id: str, secret_access_key: str) -> CreditsApiClient:
    return CreditsApiClient(
        base_url=system.credits_url,
        credentials=static_credentials(access_key_id, secret_access_key),
        region=LOCAL_REGION,
    )


@pytest.fixture(scope="package")
def admin_api(console_system: RunningSystem) -> CreditsApiClient:
    credentials = LocalCredentials()
    return _api(console_system, credentials.access_key_id, credentials.secret_access_key)


@pytest.fixture(scope="package")
def reader_api(console_system: RunningSystem) -> CreditsApiClient:
    return _api(console_system, LOCAL_READER_ACCESS_KEY_ID, LOCAL_READER_SECRET_ACCESS_KEY)


@pytest.fixture
def cdn(console_system: RunningSystem) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console_system.cdn_url, timeout=60, trust_env=False) as client:
        yield client


@dataclass
class ConsolePage:
    """One browser tab on the console, with what went wrong in it."""

    page: Page
    base_url: str
    test_name: str
    problems: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    shots: int = 0

    def open(self, route: str = "", *, principal: str | None = None) -> None:
        query = f"?principal={principal}" if principal else ""
        self.page.goto(f"{self.base_url}/console/{query}#{route or '/'}")
        self.page.locator("h1").first.wait_for()

    def screenshot(self, step: str) -> Path:
        self.shots += 1
        path = OUTPUT_DIR / f"{self.test_name}-{self.shots:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not _EXPECTED_RESOURCE_ERROR.search(message.text):
            self.problems.append(message.text)

    def on_page_error(self, error: Error) -> None:
        self.problems.append(f"uncaught: {error}")


@pytest.fixture
def console(
    browser: Browser, console_system: RunningSystem, request: pytest.FixtureRequest
) -> Iterator[ConsolePage]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console_system.credits_url)
    page = context.new_page()
    page.set_default_timeout(20_000)
    tab = ConsolePage(page=page, base_url=console_system.credits_url, test_name=request.node.name)
    page.on("console", tab.on_console)
    page.on("pageerror", tab.on_page_error)

    def _record_dialog(dialog: Any) -> None:
        tab.alerts.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", _record_dialog)
    yield tab
    call_report = getattr(request.node, "report_call", None)
    if call_report is not None and call_report.failed:
        tab.screenshot("failed")  # what the page showed when the test failed, for review
    context.close()
    # No CSP violation ("Refused to ..."), no uncaught error, no alert() from injected markup.
    assert tab.problems == []
    assert tab.alerts == []
