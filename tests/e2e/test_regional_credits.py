"""`make run --credits-regions` (issue 15): the regions hold credit, so a request "from" ap-northeast-1
(the local-only header) is charged in ap-northeast-1's own table, after one far round trip while the
region was dry; the local edge's injected round trip for it is ap-northeast-1's, not home's."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from functions.credits.settings import Settings
from functions.credits.store.dynamodb import DynamoDBCreditsStore
from functions.credits.store.records import LedgerKind
from local.multi_region import LOCAL_EDGE_REGION_HEADER, regional_credits_table
from local.processes import free_port, wait_until
from tests.e2e.conftest import RunningSystem, running_system

pytestmark = pytest.mark.e2e

NEAR = "ap-northeast-1"
_INJECTED = re.compile(
    r"credits call POST /v1/authorize from edge region (\S+) to credits region (\S+): ([\d.]+) ms"
)


@pytest.fixture(scope="module")
def regional_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    directory = tmp_path_factory.mktemp("regional-system")
    config = directory / "local.toml"
    # Two regional credits servers listen on this port and the next.
    config.write_text(f"regional_credits_port = {free_port()}\n")
    regions = ("--credits-regions", f"eu-west-1,{NEAR}")
    with running_system(directory / "data", "--config", str(config), *regions) as system:
        yield system


def _get(system: RunningSystem, api_key: str) -> httpx.Response:
    headers = {"x-api-key": api_key, LOCAL_EDGE_REGION_HEADER: NEAR}
    return httpx.get(f"{system.cdn_url}/hello.txt", headers=headers, timeout=30)


def _near_charges(system: RunningSystem, account_id: str) -> int:
    settings = Settings(
        region=NEAR,
        credits_table=regional_credits_table(NEAR),
        dynamodb_endpoint=f"http://127.0.0.1:{system.ports['dynamodb']}",
    )
    now = datetime.now(UTC)
    page = DynamoDBCreditsStore(settings).ledger_page(
        account_id, start=now - timedelta(hours=1), end=now + timedelta(minutes=1), limit=100, cursor=None
    )
    return sum(1 for entry in page.items if entry.kind is LedgerKind.CHARGE and entry.method == "GET")


def _log(system: RunningSystem, name: str) -> str:
    path: Path = system.data_dir / "logs" / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def test_a_request_from_ap_northeast_1_is_charged_in_ap_northeast_1(regional_system: RunningSystem) -> None:
    system = regional_system
    account_id, _, api_key = system.new_account(100, name="regional")

    def leased() -> bool:
        return NEAR in _log(system, "regional-upkeep").rsplit('"renewed"', 1)[-1]

    wait_until(leased, timeout=60, what="the regions' leases")
    # The region holds none of this account's credit yet: the request is served through home (the
    # region answers 503 and notes the ask); cold workers may time out a first attempt.
    served = 0
    for _ in range(5):
        if _get(system, api_key).status_code == 200:
            served += 1
            break
        time.sleep(1)
    assert served == 1, "no request was served"

    def refilled() -> bool:
        split = system.cli_json("balance", account_id)
        return any(r["region"] == NEAR and r["balance"] > 0 for r in split["regions"])

    wait_until(refilled, timeout=60, what="home's refill of ap-northeast-1")
    before = _near_charges(system, account_id)
    assert _get(system, api_key).status_code == 200
    served += 1
    assert _near_charges(system, account_id) == before + 1
    # What this request waited on, as the local edge injected it: ap-northeast-1's own round trip.
    edge_region, credits_region, injected_ms = _INJECTED.findall(_log(system, "cdn"))[-1]
    assert (edge_region, credits_region) == (NEAR, NEAR)
    assert float(injected_ms) < 10.0  # the model's p50 there is 2.8 ms; to home it is ~150 ms
    # Across home and both regions, every served download cost one credit, and nothing is in flight.
    split = system.cli_json("balance", account_id)
    assert (split["balance"], split["in_flight"], split["complete"]) == (100 - served, 0, True)
