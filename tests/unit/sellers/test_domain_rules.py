"""The sellers' domain rules without storage: lifecycle, scopes, spend ceilings, links, thresholds."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from functions.credits.errors import Conflict
from functions.credits.sellers.alerts import MAX_ALERT_THRESHOLDS, ThresholdError, normalise_thresholds
from functions.credits.sellers.lifecycle import (
    UNKNOWN_PRINCIPAL,
    AccountClosed,
    AccountStatus,
    AccountSuspended,
    is_status_change,
    principal_from_request_context,
    require_usable,
    status_from_stored,
)
from functions.credits.sellers.links import (
    LinkFacts,
    link_denial,
    link_url,
    new_link_token,
)
from functions.credits.sellers.scopes import KeyScope, ScopeError, scope_from_stored, spend_ceiling
from functions.credits.telemetry import redact
from functions.shared.api_keys import hash_api_key, looks_like_link_token
from functions.shared.errors import DenialReason, ErrorCode

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)

# --- lifecycle --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "requested"),
    [
        (AccountStatus.ACTIVE, AccountStatus.SUSPENDED),
        (AccountStatus.SUSPENDED, AccountStatus.ACTIVE),
        (AccountStatus.ACTIVE, AccountStatus.CLOSED),
        (AccountStatus.SUSPENDED, AccountStatus.CLOSED),
    ],
)
def test_allowed_transitions_are_changes(current: AccountStatus, requested: AccountStatus) -> None:
    assert is_status_change("acct_x", current, requested) is True


@pytest.mark.parametrize("status", list(AccountStatus))
def test_setting_the_current_status_again_changes_nothing(status: AccountStatus) -> None:
    assert is_status_change("acct_x", status, status) is False


@pytest.mark.parametrize("requested", [AccountStatus.ACTIVE, AccountStatus.SUSPENDED])
def test_closed_is_terminal(requested: AccountStatus) -> None:
    with pytest.raises(AccountClosed) as refused:
        is_status_change("acct_x", AccountStatus.CLOSED, requested)
    assert refused.value.status == 409
    assert refused.value.code == ErrorCode.ACCOUNT_CLOSED
    assert isinstance(refused.value, Conflict)


def test_only_active_accounts_take_keys_and_links() -> None:
    require_usable("acct_x", AccountStatus.ACTIVE, "issuing a key")
    with pytest.raises(AccountSuspended) as suspended:
        require_usable("acct_x", AccountStatus.SUSPENDED, "issuing a key")
    assert suspended.value.code == ErrorCode.ACCOUNT_SUSPENDED
    with pytest.raises(AccountClosed):
        require_usable("acct_x", AccountStatus.CLOSED, "making a link")


def test_items_without_a_status_are_active() -> None:
    assert status_from_stored(None) is AccountStatus.ACTIVE
    assert status_from_stored("closed") is AccountStatus.CLOSED
    with pytest.raises(ValueError, match="frozen"):
        status_from_stored("frozen")


def test_principal_comes_from_the_verified_identity() -> None:
    arn = "arn:aws:iam::123456789012:user/billing"
    assert principal_from_request_context({"identity": {"userArn": arn}}) == arn
    assert principal_from_request_context({"identity": {"userArn": None}}) == UNKNOWN_PRINCIPAL
    assert principal_from_request_context({}) == UNKNOWN_PRINCIPAL
    assert principal_from_request_context(None) == UNKNOWN_PRINCIPAL


# --- scopes and spend limits ------------------------------------------------------------------


def test_scope_matches_methods_and_prefixes() -> None:
    scope = KeyScope.build(["GET", "HEAD"], ["/reports/", "/public/"])
    assert scope.allows("GET", "/reports/2026/q4.pdf")
    assert scope.allows("HEAD", "/public/a")
    assert not scope.allows("PUT", "/reports/a")
    assert not scope.allows("GET", "/private/a")
    assert not scope.allows("GET", "/reports")  # the prefix is "/reports/", not "/reports"


def test_missing_scope_parts_do_not_restrict() -> None:
    assert KeyScope.build(None, None).unrestricted
    assert KeyScope.build(["PUT"], None).allows("PUT", "/anything")
    assert KeyScope.build(None, ["/a/"]).allows("DELETE", "/a/b")
    assert not KeyScope.build(None, ["/a/"]).allows("GET", "/b")


def test_scope_covers_link_targets() -> None:
    scope = KeyScope.build(None, ["/media/"])
    assert scope.covers("/media/a.mp4")
    assert scope.covers("/media/videos/")
    assert not scope.covers("/med")


@pytest.mark.parametrize(
    ("methods", "prefixes"),
    [(["FETCH"], None), ([], None), (None, ["reports/"]), (None, []), (None, ["/a\x00"])],
)
def test_bad_scopes_are_refused(methods: list[str] | None, prefixes: list[str] | None) -> None:
    with pytest.raises(ScopeError):
        KeyScope.build(methods, prefixes)


def test_stored_scope_round_trips() -> None:
    scope = scope_from_stored(["GET"], ["/r/"])
    assert scope == KeyScope(frozenset({"GET"}), ("/r/",))
    assert scope_from_stored(None, None).unrestricted


def test_spend_ceiling_keeps_the_counter_within_the_limit() -> None:
    assert spend_ceiling(10, 3) == 7
    assert spend_ceiling(10, 10) == 0
    assert spend_ceiling(10, 11) is None


# --- links ------------------------------------------------------------------------------------


def _link(**overrides: object) -> LinkFacts:
    facts: dict[str, object] = {
        "link_id": "lnk_1",
        "account_id": "acct_x",
        "key_id": "key_x",
        "key_digest": "0" * 64,
        "path": "/media/a.mp4",
        "prefix": None,
        "expires_at": NOW + timedelta(hours=1),
        "max_uses": None,
        "uses": 0,
    }
    facts.update(overrides)
    return LinkFacts(**facts)  # type: ignore[arg-type]


def test_link_tokens_have_the_contract_shape_and_are_stored_as_digests() -> None:
    first, second = new_link_token(), new_link_token()
    assert re.fullmatch(r"eml_[A-Za-z0-9_-]{43}", first.token)
    assert looks_like_link_token(first.token)
    assert first.digest == hash_api_key(first.token)
    assert first.token != second.token


def test_a_fresh_link_serves_its_path() -> None:
    assert link_denial(_link(), "GET", "/media/a.mp4", NOW) is None
    assert link_denial(_link(), "HEAD", "/media/a.mp4", NOW) is None


def test_each_link_failure_has_its_own_reason() -> None:
    assert link_denial(_link(), "GET", "/media/a.mp4", NOW + timedelta(hours=1)) == DenialReason.LINK_EXPIRED
    assert link_denial(_link(), "GET", "/media/b.mp4", NOW) == DenialReason.LINK_PATH_DENIED
    assert link_denial(_link(), "PUT", "/media/a.mp4", NOW) == DenialReason.KEY_SCOPE_DENIED
    exhausted = _link(max_uses=2, uses=2)
    assert link_denial(exhausted, "GET", "/media/a.mp4", NOW) == DenialReason.LINK_EXHAUSTED
    assert link_denial(_link(max_uses=2, uses=1), "GET", "/media/a.mp4", NOW) is None


def test_prefix_links_serve_everything_under_the_prefix() -> None:
    link = _link(path=None, prefix="/media/")
    assert link.target == "/media/"
    assert link_denial(link, "GET", "/media/deep/b.mp4", NOW) is None
    assert link_denial(link, "GET", "/other/b.mp4", NOW) == DenialReason.LINK_PATH_DENIED


def test_link_url_puts_the_token_in_em_link() -> None:
    url = link_url("https://d111.cloudfront.net/", "/media/a b.mp4", "eml_" + "x" * 43)
    assert url == "https://d111.cloudfront.net/media/a%20b.mp4?em_link=eml_" + "x" * 43


# --- thresholds -------------------------------------------------------------------------------


def test_thresholds_are_sorted_high_to_low() -> None:
    assert normalise_thresholds([10, 100, 50]) == (100, 50, 10)
    assert normalise_thresholds([]) == ()


@pytest.mark.parametrize(
    "thresholds",
    [[10, 10], [0], [-5], [10**15 + 1], list(range(1, MAX_ALERT_THRESHOLDS + 2)), [True], [1.5]],
)
def test_malformed_thresholds_are_refused(thresholds: list[object]) -> None:
    with pytest.raises(ThresholdError):
        normalise_thresholds(thresholds)  # type: ignore[arg-type]


def test_link_tokens_are_redacted_from_the_credits_logs() -> None:
    token = new_link_token().token
    line = f"GET https://cdn.example.com/a.mp4?em_link={token} digest {hash_api_key(token)}"
    redacted = redact(line)
    assert token not in redacted
    assert hash_api_key(token) not in redacted
    assert redacted == "GET https://cdn.example.com/a.mp4?em_link=[REDACTED] digest [REDACTED]"
