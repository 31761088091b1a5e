"""The scale section's counted parts on the session's DynamoDB Local: assertions on units and bytes,
never on time (the rate searches and the waits are measured by ``make bench`` only)."""

from __future__ import annotations

import pytest

from bench.operating_costs import measure_operating_bytes
from bench.scale import RegionalTransport, measure_hottest_partitions
from bench.scale_must_show import count_write_units_per_download
from functions.edge_auth.credits_client import TransportResponse
from local.dynamodb_local import DynamoDBLocal
from local.regions import RegionLatency

pytestmark = pytest.mark.dynamodb


def test_one_accounts_charges_put_four_write_units_on_its_partition_per_charge(
    dynamodb_local: DynamoDBLocal,
) -> None:
    download, upload = measure_hottest_partitions(dynamodb_local.endpoint_url, charges=5)
    # The balance update and the ledger entry, each twice (a transaction), on account#<id>.
    assert (download.write_partition, download.write_units_per_thousand_charges_per_second) == (
        "account#",
        4000,
    )
    assert upload.write_partition == "account#"
    # A warm container reads neither the catalogued object (its entry is cached per container for
    # 5 s, issue 14 §5) nor the key (its standing is cached): no read on the hot path at all.
    assert (download.read_partition, download.read_units_per_thousand_charges_per_second) == ("none", 0)
    assert download.write_units_per_charge == 6.0
    # An upload also writes the catalog (its object item and its listing-index entry).
    assert upload.write_units_per_charge > download.write_units_per_charge


def test_a_charge_leaves_log_lines_and_two_stored_items(
    dynamodb_local: DynamoDBLocal, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():  # the credits handler's stdout is counted at file descriptor 1
        measured = measure_operating_bytes(dynamodb_local.endpoint_url, requests=3)
    assert set(measured.stored_items) == {"charge", "ledger#"}
    assert all(size > 100 for size in measured.stored_items.values())
    assert measured.credits_stdout_bytes_per_invocation > 0  # the EMF metrics document at least
    assert measured.edge_log_lines_bytes_per_request > 0  # the edge logs every decision at INFO


class _Answered:
    def send(
        self, method: str, path: str, headers: object, body: bytes, deadline: float
    ) -> TransportResponse:
        return TransportResponse(status=200, body=b"{}")


def test_the_regional_transport_waits_one_round_trip_per_credits_call() -> None:
    slept: list[float] = []
    transport = RegionalTransport(_Answered(), RegionLatency(sleep=slept.append))  # type: ignore[arg-type]
    transport.send("POST", "/v1/authorize", {}, b"", 0.0)
    assert slept == []  # no edge region: the baseline, no network
    transport.edge_region = "ap-southeast-2"
    transport.send("POST", "/v1/authorize", {}, b"", 0.0)
    assert len(slept) == 1
    assert 0.1 < slept[0] < 0.6


def test_issue14_counts_three_write_units_per_allowed_download_with_the_ledger_writer(
    dynamodb_local: DynamoDBLocal,
) -> None:
    counted, writer_ms_per_record = count_write_units_per_download(
        dynamodb_local.endpoint_url, downloads=10, shards=4
    )
    # The debit, the charge record and the ledger writer's entry: one unit each.
    assert counted.per_download == 3.0
    # The writer reads each charge record once (a consistent GetItem).
    assert counted.read_units / counted.downloads == 1.0
    assert writer_ms_per_record > 0
