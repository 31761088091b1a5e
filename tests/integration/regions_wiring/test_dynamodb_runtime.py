"""The regional wiring on DynamoDB Local (issue 15): a credits region's API and home's upkeep as the
deployed Lambdas build them from ``EDGEMETER_CREDITS_REGIONS``, each region in a database of its
own (DynamoDB Local without -sharedDb), every region's store opened per instance in this process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from functions.credits.regions.billing import regional_audit
from functions.credits.regions.dynamodb_runtime import DynamoDBRegionOpener, dynamodb_runtime
from functions.credits.regions.home_service import HomeRegionalService
from functions.credits.regions.leases import LeaseLapsed
from functions.credits.regions.routes import account_regions
from functions.credits.regions.runtime import RegionalRuntime, RegionDry
from functions.credits.regions.topology import RegionsTopology
from functions.credits.regions.transfers import transfer_request_id
from functions.credits.regions.wiring import regional_service, run_regional_upkeep
from functions.credits.schemas import CreateAccountRequest, GrantRequest, IssueKeyRequest
from functions.credits.sellers.lifecycle import AccountStatus
from functions.credits.sellers.schemas import AccountStatusRequest
from functions.credits.service import CreditsService
from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.records import ChargeIntent
from functions.shared.api_keys import hash_api_key
from functions.shared.environment_variables import EDGEMETER_CREDITS_REGIONS, EDGEMETER_CREDITS_TABLE
from local.dynamodb_local import DynamoDBLocal
from ops.regional_audit import regional_audit_settings, run_regional_audit
from tests.contract.regions.conftest import Switchable, regional_tables, replicate_users
from tests.integration.regions.test_money_across_regions import ALL_TIME
from tests.unit.credits.service_fakes import authorize_request

HOME = "eu-west-1"
NEAR = "ap-northeast-1"
OTHER = "us-east-1"


@pytest.fixture
def settings(dynamodb_local_per_region: DynamoDBLocal) -> Iterator[dict[str, Settings]]:
    with regional_tables(dynamodb_local_per_region, (HOME, NEAR, OTHER)) as per_region:
        yield per_region


def _topology(settings: dict[str, Settings]) -> RegionsTopology:
    return RegionsTopology(
        home=HOME,
        credits_tables={region: settings[region].credits_table for region in (NEAR, OTHER)},
        home_credits_table=settings[HOME].credits_table,
    )


def _funded_account(settings: dict[str, Settings], credits: int) -> tuple[str, str]:
    home = CreditsService(DynamoDBCreditsStore(settings[HOME]), settings[HOME])
    account = home.create_account(CreateAccountRequest(name="regional"))
    home.grant(account.account_id, GrantRequest(amount=credits, reason="fund", idempotency_key="fund"))
    issued = home.issue_key(account.account_id, IssueKeyRequest())
    replicate_users(settings, HOME)
    return account.account_id, hash_api_key(issued.api_key)


def test_a_region_charges_its_own_credit_after_home_leases_and_refills_it(
    settings: dict[str, Settings],
) -> None:
    topology = _topology(settings)
    account_id, digest = _funded_account(settings, 100)
    near = regional_service(settings[NEAR], topology).service

    def authorize(request_id: str) -> Any:
        return near.authorize(authorize_request(digest, request_id))

    with pytest.raises(LeaseLapsed):  # no lease yet: the region must not charge
        authorize("before-lease")
    assert run_regional_upkeep(settings[HOME], topology)["renewed"] == [NEAR, OTHER]
    with pytest.raises(RegionDry):  # leased, but it holds none of the account's credit
        authorize("dry")
    upkeep = run_regional_upkeep(settings[HOME], topology)
    assert upkeep["moves"] == [{"source": HOME, "target": NEAR, "amount": 3, "state": "done"}]
    assert authorize("near-1").decision == "allow"
    assert authorize("near-1").replayed  # the same request id is charged once
    assert authorize("near-2").decision == "allow"

    home_runtime = dynamodb_runtime(topology, settings[HOME])
    split = account_regions(home_runtime, account_id)
    assert {r.region: r.balance for r in split.regions} == {HOME: 97, NEAR: 1, OTHER: 0}
    assert (split.balance, split.in_flight, split.complete) == (98, 0, True)
    start, end = ALL_TIME
    audit = regional_audit(home_runtime.stores, home_runtime.coordinator, account_id, start=start, end=end)
    assert audit.problems == []
    assert audit.balances == {HOME: 97, NEAR: 1, OTHER: 0}
    # Home's ledger route merges both regions' ledgers by time, two entries a page.
    home = regional_service(settings[HOME], topology).service
    entries, cursor = [], None
    while True:
        page = home.ledger(account_id, start=None, end=None, limit=2, cursor=cursor)
        entries.extend(page.entries)
        if (cursor := page.next_cursor) is None:
            break
    assert sorted((e.region, e.kind.value, e.amount) for e in entries) == sorted(
        [
            (HOME, "grant", 100),
            (HOME, "charge", -3),
            (NEAR, "grant", 3),
            (NEAR, "charge", -1),
            (NEAR, "charge", -1),
        ]
    )
    assert [e.created_at for e in entries] == sorted((e.created_at for e in entries), reverse=True)
    # Usage covers every region and leaves the transfer out (a move, not a spend or a grant).
    usage = home.usage(account_id, start=None, end=None)
    assert (usage.downloads, usage.credits_spent, usage.grants, usage.credits_granted) == (2, 2, 1, 100)
    assert usage.other_requests == 0


def test_the_upkeep_returns_an_idle_regions_credit_home(settings: dict[str, Settings]) -> None:
    topology = _topology(settings)
    account_id, _ = _funded_account(settings, 50)
    runtime = dynamodb_runtime(topology, settings[HOME])
    record = runtime.coordinator.start(account_id, HOME, OTHER, 20)
    assert str(record.state) == "done"
    registry = runtime.handles[OTHER].accounts
    assert registry is not None
    # Noted long ago and never charged since: idle.
    registry.note(account_id, ALL_TIME[0])
    moves = runtime.upkeep().moves
    assert [(m.source_region, m.target_region, m.amount) for m in moves] == [(OTHER, HOME, 20)]
    assert runtime.stores[HOME].get_balance(account_id) == 50
    assert runtime.stores[OTHER].get_balance(account_id) == 0
    assert registry.noted() == {}


def test_the_audit_covers_every_region_shows_money_in_flight_and_a_request_charged_twice(
    settings: dict[str, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    topology = _topology(settings)
    account_id, _ = _funded_account(settings, 60)
    runtime = dynamodb_runtime(topology, settings[HOME])
    assert str(runtime.coordinator.start(account_id, HOME, NEAR, 10).state) == "done"
    audit_settings = regional_audit_settings(settings[HOME], topology.credits_tables)
    clean = run_regional_audit(audit_settings)
    assert clean.ok, clean.to_json_dict()
    assert sorted(clean.regions) == sorted((HOME, NEAR, OTHER))
    assert clean.regions[NEAR].total_balance == 10
    # A debit whose credit has not landed yet (the coordinator stopped after step 2): in flight.
    runtime.stores[HOME].charge(_intent(account_id, transfer_request_id("stuck"), 5))
    # The same viewer request charged in two regions: what the void notices exist to prevent.
    for region in (HOME, NEAR):
        runtime.stores[region].charge(_intent(account_id, "viewer-request-1", 1))
    report = run_regional_audit(audit_settings)
    assert report.in_flight == {transfer_request_id("stuck"): 5}
    assert report.problems == (f"request viewer-request-1 is charged in {NEAR}, {HOME}",)
    assert not report.ok
    # The CLI: `edgemeter audit` with the regions' topology in its environment audits them all.
    monkeypatch.setenv(EDGEMETER_CREDITS_REGIONS, topology.model_dump_json())
    monkeypatch.setenv(EDGEMETER_CREDITS_TABLE, settings[HOME].credits_table)
    result = CliRunner().invoke(
        app,
        ["audit", "--endpoint", str(settings[HOME].dynamodb_endpoint), "--region", HOME, "--json"],
    )
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["in_flight_total"] == 5
    assert document["problems"] == [f"request viewer-request-1 is charged in {NEAR}, {HOME}"]


def _intent(account_id: str, request_id: str, amount: int) -> ChargeIntent:
    return ChargeIntent(
        account_id=account_id,
        key_id="k",
        request_id=request_id,
        amount=amount,
        method="GET",
        path="/a",
        bytes=None,
        now=datetime.now(UTC),
    )


def test_revocation_and_suspension_reach_every_region_before_the_reply_or_are_named_pending(
    settings: dict[str, Settings],
) -> None:
    topology = _topology(settings)
    account_id, digest = _funded_account(settings, 100)
    opener = DynamoDBRegionOpener(topology, settings[HOME])
    handles = {region: opener.open(region) for region in topology.regions}
    # OTHER can be cut off from home: its standing target and its lease fail while it is down.
    cut_standing, cut_lease = Switchable(handles[OTHER].standing), Switchable(handles[OTHER].lease)
    handles[OTHER] = replace(handles[OTHER], standing=cut_standing, lease=cut_lease)
    pending = opener.pending_changes()
    runtime = RegionalRuntime(home=HOME, handles=handles, pending=pending)
    home = HomeRegionalService(DynamoDBCreditsStore(settings[HOME]), settings[HOME], runtime=lambda: runtime)
    second = home.issue_key(account_id, IssueKeyRequest())
    second_digest = hash_api_key(second.api_key)
    replicate_users(settings, HOME)
    runtime.upkeep()  # leases
    runtime.coordinator.start(account_id, HOME, NEAR, 20)
    near = regional_service(settings[NEAR], topology).service
    # The region's container has the doomed key's facts cached from a charge.
    assert near.authorize(authorize_request(second_digest, "warm")).decision == "allow"

    revoked = home.revoke_key(account_id, second.key_id)
    assert (revoked.status, revoked.pending_regions) == ("revoked", [])
    assert revoked.holds_everywhere_by is not None
    # Refused in the region at once: its cached facts are stale (its revocation count moved).
    refused = near.authorize(authorize_request(second_digest, "after-revoke"))
    assert (refused.decision, refused.reason) == ("deny", "revoked_api_key")
    assert near.authorize(authorize_request(digest, "other-key")).decision == "allow"

    # A region home cannot reach: named in the reply, recorded, replayed before its next lease.
    cut_standing.down = cut_lease.down = True
    suspended = home.sellers.change_status(
        account_id, AccountStatusRequest(status=AccountStatus.SUSPENDED, reason="audit"), "arn:test"
    )
    assert suspended.pending_regions == [OTHER]
    assert suspended.holds_everywhere_by is not None
    denied = near.authorize(authorize_request(digest, "suspended"))
    assert (denied.decision, denied.reason) == ("deny", "account_suspended")
    assert OTHER not in runtime.upkeep().renewed  # still cut off: its lease runs out
    assert [type(change).__name__ for _, change in pending.pending(OTHER)] == ["AccountStatusSet"]
    cut_standing.down = cut_lease.down = False
    assert OTHER in runtime.upkeep().renewed
    assert pending.pending(OTHER) == []
