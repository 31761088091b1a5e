"""The deployed sign-in path in the browser, with Cognito's endpoints played by the test.

Managed login, the token endpoint and the identity pool are answered by Playwright routes (there
is no Cognito locally); the console must run PKCE (S256), exchange the code once, keep nothing but
the verifier in sessionStorage and only until the exchange, take the group from the ID token, and
sign API calls with the identity pool's temporary credentials for the stage's URL while sending
them to its own origin (the deployed /v1/* behaviour). The signature is then checked the way
API Gateway checks it, for the stage's host and path.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect

from local.sigv4_verify import SigV4Verifier
from tests.browser.conftest import OUTPUT_DIR
from tests.e2e.conftest import RunningSystem

pytestmark = pytest.mark.e2e

REGION = "eu-west-1"
STAGE_URL = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/live/"
ACCESS_KEY_ID = "ASIAFAKEBILLINGREADER"
SECRET_ACCESS_KEY = "fake-secret-from-the-identity-pool"
SESSION_TOKEN = "fake-session-token"


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _id_token(claims: dict[str, Any]) -> str:
    return ".".join(
        [_base64url(b'{"alg":"RS256"}'), _base64url(json.dumps(claims).encode()), _base64url(b"signature")]
    )


class FakeCognito:
    """Managed login, the token endpoint and the identity pool, as Playwright routes."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.domain = f"{base_url}/fake-cognito"
        self.authorize_query: dict[str, list[str]] = {}
        self.token_requests: list[dict[str, list[str]]] = []
        self.identity_calls: list[str] = []
        self.logins: list[dict[str, str]] = []

    def config(self) -> dict[str, str]:
        return {
            "mode": "cognito",
            "apiUrl": STAGE_URL,
            "region": REGION,
            "userPoolId": f"{REGION}_AbCdEf123",
            "userPoolClientId": "console-client-id",
            "identityPoolId": f"{REGION}:00000000-0000-0000-0000-000000000000",
            "cognitoDomain": self.domain,
        }

    def install(self, page: Page) -> None:
        page.route("**/console/config.json*", lambda route: route.fulfill(json=self.config()))
        page.route(f"{self.domain}/oauth2/authorize*", self._authorize)
        page.route(f"{self.domain}/oauth2/token", self._token)
        page.route(f"https://cognito-identity.{REGION}.amazonaws.com/**", self._identity)

    def _authorize(self, route: Route) -> None:
        self.authorize_query = parse_qs(urlsplit(route.request.url).query)
        state = self.authorize_query["state"][0]
        # The user signs in (and types a TOTP code) on Cognito's page, which redirects back.
        route.fulfill(
            status=302, headers={"Location": f"{self.base_url}/console/?code=one-time-code&state={state}"}
        )

    def _token(self, route: Route) -> None:
        self.token_requests.append(parse_qs(route.request.post_data or ""))
        claims = {"cognito:groups": ["BillingReader"], "email": "alice@example.com"}
        route.fulfill(json={"id_token": _id_token(claims), "access_token": "access", "token_type": "Bearer"})

    def _identity(self, route: Route) -> None:
        target = route.request.headers.get("x-amz-target", "")
        self.identity_calls.append(target)
        body = json.loads(route.request.post_data or "{}")
        self.logins.append(body.get("Logins", {}))
        identity_id = f"{REGION}:11111111-1111-1111-1111-111111111111"
        if target.endswith(".GetId"):
            reply: dict[str, Any] = {"IdentityId": identity_id}
        else:
            reply = {
                "IdentityId": identity_id,
                "Credentials": {
                    "AccessKeyId": ACCESS_KEY_ID,
                    "SecretKey": SECRET_ACCESS_KEY,
                    "SessionToken": SESSION_TOKEN,
                    "Expiration": 4102444800,
                },
            }
        route.fulfill(body=json.dumps(reply), headers={"Content-Type": "application/x-amz-json-1.1"})


@pytest.fixture
def cognito_page(browser: Browser, console_system: RunningSystem) -> Iterator[tuple[Page, FakeCognito]]:
    # The local CSP allows only this origin; the identity pool's real endpoint is another one
    # (the deployed CSP names it), so this test alone lifts the CSP.
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    cognito = FakeCognito(console_system.credits_url)
    cognito.install(page)
    yield page, cognito
    context.close()


def test_sign_in_with_pkce_then_calls_are_signed_with_identity_pool_credentials_for_the_stage(
    cognito_page: tuple[Page, FakeCognito], console_system: RunningSystem
) -> None:
    page, cognito = cognito_page
    api_calls: list[Request] = []
    page.on("request", lambda request: api_calls.append(request) if "/v1/" in request.url else None)
    page.goto(f"{console_system.credits_url}/console/")
    sign_in = page.get_by_role("button", name="Sign in")
    expect(sign_in).to_be_visible()
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    page.screenshot(path=str(OUTPUT_DIR / "test_cognito_sign_in-01-signed-out.png"), full_page=True)

    sign_in.click()
    expect(page.locator("[data-role]")).to_have_attribute("data-role", "reader")
    expect(page.locator("header")).to_contain_text("alice@example.com")
    expect(page.get_by_role("link", name="Sign-in security")).to_be_visible()

    query = cognito.authorize_query
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [f"{console_system.credits_url}/console/"]
    assert "aws.cognito.signin.user.admin" in query["scope"][0].split()
    (token_request,) = cognito.token_requests
    verifier = token_request["code_verifier"][0]
    assert _base64url(hashlib.sha256(verifier.encode()).digest()) == query["code_challenge"][0]
    assert token_request["code"] == ["one-time-code"]
    assert [call.rsplit(".", 1)[-1] for call in cognito.identity_calls] == [
        "GetId",
        "GetCredentialsForIdentity",
    ]
    assert list(cognito.logins[0]) == [f"cognito-idp.{REGION}.amazonaws.com/{REGION}_AbCdEf123"]
    # Nothing kept: the verifier is gone, the code is out of the address bar.
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert "code=" not in page.url

    expect(page.get_by_role("alert")).to_contain_text("HTTP 403")  # the local API does not know these keys
    page.screenshot(path=str(OUTPUT_DIR / "test_cognito_sign_in-02-signed-in-as-reader.png"), full_page=True)
    listing = next(call for call in api_calls if urlsplit(call.url).path == "/v1/accounts")
    assert listing.url.startswith(console_system.credits_url)
    headers = listing.all_headers()
    assert headers["x-amz-security-token"] == SESSION_TOKEN
    stage = urlsplit(STAGE_URL)
    signed_for_stage = (
        f"{stage.scheme}://{stage.netloc}/live{urlsplit(listing.url).path}?{urlsplit(listing.url).query}"
    )
    sent_headers = [(name, value) for name, value in headers.items() if name != "host"] + [
        ("host", stage.netloc)
    ]
    caller = SigV4Verifier(access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET_ACCESS_KEY).verify(
        method="GET", url=signed_for_stage, headers=sent_headers, body=b""
    )
    assert caller.region == REGION
