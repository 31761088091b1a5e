"""The account list's access pattern: buckets, sort-key ranges, the per-page merge, cursors."""

from __future__ import annotations

from collections import Counter

import pytest

from functions.credits.sellers.lifecycle import AccountStatus
from functions.credits.sellers.listing import (
    ACCOUNT_LIST_BUCKETS,
    InvalidListCursor,
    decode_list_cursor,
    encode_list_cursor,
    list_bucket,
    list_partition_of,
    list_sort_key,
    merge_partitions,
    partitions_to_read,
    sort_key_range,
)


def test_buckets_spread_accounts_evenly_and_stay_stable() -> None:
    ids = [f"acct_{number:020x}" for number in range(4000)]
    counts = Counter(list_bucket(account_id) for account_id in ids)
    assert set(counts) == set(range(ACCOUNT_LIST_BUCKETS))
    assert min(counts.values()) > 4000 / ACCOUNT_LIST_BUCKETS * 0.9
    assert list_bucket(ids[7]) == list_bucket(ids[7])


def test_status_is_part_of_the_partition() -> None:
    account_id = "acct_0123456789abcdef0123"
    active = list_partition_of(account_id, AccountStatus.ACTIVE)
    suspended = list_partition_of(account_id, AccountStatus.SUSPENDED)
    assert active.startswith("accounts#active#")
    assert suspended.startswith("accounts#suspended#")
    assert active.rsplit("#", 1)[1] == suspended.rsplit("#", 1)[1]


def test_partitions_to_read() -> None:
    assert len(partitions_to_read(AccountStatus.SUSPENDED)) == ACCOUNT_LIST_BUCKETS
    assert len(partitions_to_read(None)) == ACCOUNT_LIST_BUCKETS * len(AccountStatus)


def test_sort_key_is_case_insensitive_name_then_id() -> None:
    assert list_sort_key("ACME Corp", "acct_1") == "acme corp\x1facct_1"
    assert list_sort_key("acme", "acct_2") < list_sort_key("Acme Corp", "acct_1")


def test_name_prefix_range_holds_exactly_the_prefixed_names() -> None:
    window = sort_key_range("AC", None)
    assert window.low is not None
    assert window.high is not None
    inside = [list_sort_key(name, "acct_1") for name in ("ac", "Acme", "acz\u00e9", "ac\U0001f600")]
    outside = [list_sort_key(name, "acct_1") for name in ("ab", "ad", "a", "b")]
    assert all(window.low <= key <= window.high for key in inside)
    assert not any(window.low <= key <= window.high for key in outside)


def test_cursor_starts_strictly_after_the_last_key() -> None:
    last = list_sort_key("acme", "acct_1")
    window = sort_key_range(None, last)
    assert window.low is not None
    assert window.high is None
    assert not window.low <= last
    assert window.low <= list_sort_key("acme", "acct_2")
    assert window.low <= list_sort_key("acme corp", "acct_0")
    # With a prefix, the later of the two starts wins.
    assert sort_key_range("b", last).low == "b"
    assert sort_key_range("a", last).low == window.low


def test_merge_takes_the_smallest_across_partitions() -> None:
    page = merge_partitions([(["a", "d", "e"], True), (["b", "c"], False), ([], False)], str, 3)
    assert page.items == ["a", "b", "c"]
    assert page.more is True
    last = merge_partitions([(["a"], False), (["b"], False)], str, 3)
    assert last.items == ["a", "b"]
    assert last.more is False


def test_cursors_round_trip_and_foreign_ones_are_refused() -> None:
    key = list_sort_key("Zoë", "acct_0123456789abcdef0123")
    assert decode_list_cursor(encode_list_cursor(key)) == key
    assert decode_list_cursor(None) is None
    for bad in ("not-base64!", encode_list_cursor("no account here"), "_w"):
        with pytest.raises(InvalidListCursor):
            decode_list_cursor(bad)
