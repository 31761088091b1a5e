"""The account list's access pattern: a bucketed GSI on the account item, merged per page.

The account item carries ``list_pk = accounts#<status>#<bucket>`` and ``list_sk = <casefolded
name>\x1f<account id>`` (the unit separator sorts before every character a name may hold, so
"acme" lists before "acme corp"). A page is one Query per (status, bucket), each after the cursor and
limited to the page size; the results are merged by ``list_sk`` (docs/decisions.md,
"Sellers' features"). Pure functions here; the Queries are the store's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from functions.credits.sellers.lifecycle import AccountStatus

ACCOUNT_LIST_INDEX = "account-list"
ACCOUNT_LIST_BUCKETS = 4
LIST_PK_ATTRIBUTE = "list_pk"
LIST_SK_ATTRIBUTE = "list_sk"
# Between name and id in the sort key: below every character a name may hold.
_NAME_END = "\x1f"
# Sorts after every character a name may hold: the upper bound of a name prefix's range.
_PREFIX_RANGE_END = "\U0010ffff"
# Sorts before every character a stored sort key holds (names have no control characters):
# appended to the cursor, it makes an inclusive BETWEEN start strictly after the cursor.
_AFTER = "\x01"

T = TypeVar("T")


class InvalidListCursor(ValueError):
    """A cursor this API did not hand out."""


def list_bucket(account_id: str) -> int:
    """The account's bucket: stable, spread evenly by a hash of its id."""
    return int(hashlib.sha256(account_id.encode()).hexdigest()[:8], 16) % ACCOUNT_LIST_BUCKETS


def list_partition(status: AccountStatus, bucket: int) -> str:
    return f"accounts#{status.value}#{bucket}"


def list_partition_of(account_id: str, status: AccountStatus) -> str:
    return list_partition(status, list_bucket(account_id))


def list_sort_key(name: str, account_id: str) -> str:
    return f"{name.casefold()}{_NAME_END}{account_id}"


def partitions_to_read(status: AccountStatus | None) -> list[str]:
    statuses = list(AccountStatus) if status is None else [status]
    return [list_partition(one, bucket) for one in statuses for bucket in range(ACCOUNT_LIST_BUCKETS)]


@dataclass(frozen=True, slots=True)
class SortKeyRange:
    """An inclusive range of ``list_sk`` values; ``None`` bounds are open."""

    low: str | None
    high: str | None


def sort_key_range(name_prefix: str | None, after: str | None) -> SortKeyRange:
    """The sort keys a page may hold: under the name prefix, strictly after the cursor."""
    low = None if name_prefix is None else name_prefix.casefold()
    high = None if name_prefix is None else name_prefix.casefold() + _PREFIX_RANGE_END
    if after is not None:
        start = after + _AFTER
        low = start if low is None or start > low else low
    return SortKeyRange(low, high)


@dataclass(frozen=True, slots=True)
class MergedPage(Generic[T]):
    items: list[T]
    # True when the partitions hold more beyond the page.
    more: bool


def merge_partitions(
    partitions: Iterable[tuple[Sequence[T], bool]], sort_key: Callable[[T], str], limit: int
) -> MergedPage[T]:
    """Merge per-partition pages (each sorted, each with "more beyond it") into one of ``limit``.

    Each partition was read up to ``limit`` items, so the ``limit`` smallest of their union
    are the next ``limit`` of the whole list.
    """
    pages = list(partitions)
    merged = list(heapq.merge(*(items for items, _ in pages), key=sort_key))
    more = len(merged) > limit or any(partition_more for _, partition_more in pages)
    return MergedPage(merged[:limit], more)


def encode_list_cursor(last_sort_key: str) -> str:
    return base64.urlsafe_b64encode(last_sort_key.encode()).decode().rstrip("=")


def decode_list_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise InvalidListCursor("the cursor is not one this API handed out") from error
    if f"{_NAME_END}acct_" not in decoded:
        raise InvalidListCursor("the cursor is not one this API handed out")
    return decoded
