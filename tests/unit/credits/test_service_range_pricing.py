"""Issue 11, credits side: a download is priced by the bytes it serves, and records them.

Downloads here cost 1 credit + 1 per started MiB served (``PER_MIB_PRICING``); the catalog
knows the object's size (5 MiB).
"""

from __future__ import annotations

from datetime import timedelta

from functions.catalog.authorize_guard import CatalogVerdict
from functions.credits.schemas import Decision
from tests.unit.credits.service_fakes import MIB, PER_MIB_PRICING, FakeCatalog, Harness, authorize_request

VIDEO = "/objects/video.mp4"
SIZE = 5 * MIB


def priced(
    range_header: str | None, *, method: str = "GET", catalog: bool = True
) -> tuple[Decision, int | None]:
    """Authorize one download; its decision and the bytes its charge and ledger entry recorded."""
    known = FakeCatalog(verdicts={VIDEO: CatalogVerdict(object_size=SIZE)}) if catalog else None
    harness = Harness(catalog=known, pricing=PER_MIB_PRICING)
    service = harness.service()
    account_id, digest = harness.funded_key(service, 100)
    decision = service.authorize(
        authorize_request(digest, "dl", method=method, path=VIDEO, range=range_header)
    )
    charge = harness.store.get_charge("dl")
    if charge is None:
        return decision, None
    entries = service.ledger(account_id, start=None, end=None, limit=1, cursor=None).entries
    assert entries[0].bytes == charge.bytes  # the ledger entry records what the charge record does
    return decision, charge.bytes


def test_a_range_is_charged_by_its_bytes_not_the_whole_object() -> None:
    decision, recorded = priced("bytes=0-1023")
    assert (decision.decision, decision.charged) == ("allow", 2)  # not 6: 1 + one started MiB
    assert recorded == 1024


def test_a_suffix_range_is_charged_by_its_bytes() -> None:
    decision, recorded = priced(f"bytes=-{MIB + 1}")
    assert decision.charged == 3
    assert recorded == MIB + 1


def test_an_open_ended_range_is_charged_from_its_start() -> None:
    decision, recorded = priced(f"bytes={SIZE - 100}-")
    assert (decision.charged, recorded) == (2, 100)


def test_a_multi_range_is_charged_by_its_merged_total() -> None:
    decision, recorded = priced(f"bytes=0-{MIB - 1},{MIB // 2}-{2 * MIB - 1}")
    assert (decision.charged, recorded) == (3, 2 * MIB)


def test_a_whole_object_download_records_its_size() -> None:
    decision, recorded = priced(None)
    assert (decision.charged, recorded) == (6, SIZE)


def test_a_malformed_range_is_ignored_and_the_whole_object_charged() -> None:
    decision, recorded = priced("bytes=10-2")
    assert (decision.charged, recorded) == (6, SIZE)


def test_an_unsatisfiable_range_is_denied_and_not_charged() -> None:
    decision, recorded = priced(f"bytes={SIZE}-")
    assert decision.decision == "deny"
    assert decision.reason == "range_not_satisfiable"
    assert (decision.charged, recorded, decision.object_size) == (0, None, SIZE)


def test_head_serves_no_bytes() -> None:
    decision, recorded = priced("bytes=0-1023", method="HEAD")
    assert (decision.charged, recorded) == (1, 0)


def test_without_a_known_size_the_download_is_priced_as_the_whole_object_and_records_no_bytes() -> None:
    decision, recorded = priced("bytes=0-1023", catalog=False)
    assert (decision.decision, decision.charged, recorded) == ("allow", 1, None)


def test_usage_counts_the_bytes_served_by_downloads() -> None:
    harness = Harness(
        catalog=FakeCatalog(verdicts={VIDEO: CatalogVerdict(object_size=SIZE)}), pricing=PER_MIB_PRICING
    )
    service = harness.service()
    account_id, digest = harness.funded_key(service, 100)
    service.authorize(authorize_request(digest, "part", path=VIDEO, range="bytes=0-999"))
    service.authorize(authorize_request(digest, "whole", path=VIDEO))
    service.authorize(authorize_request(digest, "head", method="HEAD", path=VIDEO))
    harness.clock.advance(timedelta(seconds=1))  # usage ends (exclusively) now
    usage = service.usage(account_id, start=None, end=None)
    assert (usage.downloads, usage.bytes) == (3, 1000 + SIZE)


def test_a_retry_of_a_range_request_replays_its_first_charge() -> None:
    harness = Harness(
        catalog=FakeCatalog(verdicts={VIDEO: CatalogVerdict(object_size=SIZE)}), pricing=PER_MIB_PRICING
    )
    service = harness.service()
    account_id, digest = harness.funded_key(service, 100)
    first = service.authorize(authorize_request(digest, "seek", path=VIDEO, range="bytes=0-1023"))
    again = service.authorize(authorize_request(digest, "seek", path=VIDEO, range="bytes=0-1023"))
    assert (again.replayed, again.charged, again.entry_id) == (True, first.charged, first.entry_id)
    assert service.get_account(account_id).balance == 98
