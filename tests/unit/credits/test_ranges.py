"""Range headers to bytes served (RFC 9110 §14): examples, then properties over any header."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.credits.ranges import RangeSpec, Unsatisfiable, bytes_served, parse_range_header

MIB = 1024 * 1024
SIZE = 5 * MIB


@pytest.mark.parametrize(
    ("header", "served"),
    [
        ("bytes=0-1023", 1024),
        ("bytes=100-100", 1),
        (f"bytes=0-{SIZE * 2}", SIZE),  # the last byte is clamped to the object
        (f"bytes={SIZE - 10}-", 10),  # open-ended
        ("bytes=-500", 500),  # suffix
        (f"bytes=-{SIZE * 3}", SIZE),  # suffix longer than the object: the whole object
        ("bytes=0-99,200-299", 200),  # multi-range: the total
        ("bytes=0-99,50-149", 150),  # overlapping ranges are merged
        ("bytes=0-99,100-199", 200),  # adjacent ranges too
        ("bytes=0-99, -100", 200),  # whitespace after commas
        (f"bytes=0-9,{SIZE}-", 10),  # an unsatisfiable part of a multi-range is dropped
        ("Bytes=0-9", 10),  # the unit is case-insensitive
        ("bytes = 0-9", SIZE),  # no whitespace around "=": not a Range header, ignored
        (None, SIZE),  # no header: the whole object
        ("bytes=9-0", SIZE),  # an invalid range: the header is ignored
        ("bytes=abc", SIZE),
        ("items=0-9", SIZE),  # another unit: ignored
        ("bytes=", SIZE),
        ("bytes=0-1,x", SIZE),
    ],
)
def test_examples(header: str | None, served: int) -> None:
    assert bytes_served(header, SIZE) == served


@pytest.mark.parametrize(
    "header", [f"bytes={SIZE}-", f"bytes={SIZE}-{SIZE + 9}", "bytes=-0", f"bytes=-0,{SIZE + 1}-"]
)
def test_unsatisfiable_ranges(header: str) -> None:
    assert isinstance(bytes_served(header, SIZE), Unsatisfiable)


def test_an_empty_object_satisfies_only_a_suffix_range() -> None:
    assert bytes_served("bytes=-5", 0) == 0
    assert isinstance(bytes_served("bytes=0-0", 0), Unsatisfiable)


def test_an_unknown_size_is_the_whole_object_of_unknown_size() -> None:
    assert bytes_served("bytes=0-1023", None) is None
    assert bytes_served(None, None) is None


def test_parsing() -> None:
    assert parse_range_header("bytes=0-9,20-,-5") == (
        RangeSpec(0, 9),
        RangeSpec(20, None),
        RangeSpec.suffix(5),
    )
    assert parse_range_header("bytes=5-4") is None
    assert parse_range_header("bytes=,,") is None


sizes = st.integers(min_value=0, max_value=10**12)
positions = st.integers(min_value=0, max_value=2 * 10**12)
specs = st.one_of(
    st.tuples(positions, positions).map(lambda pair: f"{min(pair)}-{max(pair)}"),
    positions.map(lambda first: f"{first}-"),
    positions.map(lambda length: f"-{length}"),
)


@given(sizes, st.lists(specs, min_size=1, max_size=8))
def test_never_more_than_the_object_nor_less_than_the_largest_range(size: int, parts: list[str]) -> None:
    served = bytes_served("bytes=" + ",".join(parts), size)
    singles = [bytes_served(f"bytes={part}", size) for part in parts]
    satisfiable = [single for single in singles if isinstance(single, int)]
    if not satisfiable:
        assert isinstance(served, Unsatisfiable)
        return
    assert isinstance(served, int)
    assert max(satisfiable) <= served <= min(size, sum(satisfiable))


@given(sizes, positions, positions)
def test_a_single_range_serves_exactly_its_clamped_length(size: int, first: int, last: int) -> None:
    first, last = min(first, last), max(first, last)
    served = bytes_served(f"bytes={first}-{last}", size)
    if first >= size:
        assert isinstance(served, Unsatisfiable)
    else:
        assert served == min(last, size - 1) - first + 1


@given(sizes, st.text(max_size=60))
def test_any_header_gives_an_answer_within_the_object(size: int, header: str) -> None:
    served = bytes_served(header, size)
    assert isinstance(served, Unsatisfiable) or (isinstance(served, int) and 0 <= served <= size)


small_positions = st.integers(min_value=0, max_value=300)
small_specs = st.one_of(
    st.tuples(small_positions, small_positions).map(lambda pair: f"{min(pair)}-{max(pair)}"),
    small_positions.map(lambda first: f"{first}-"),
    small_positions.map(lambda length: f"-{length}"),
)


def served_byte_positions(spec: str, size: int) -> set[int]:
    """What an origin sends for one range-spec, byte by byte (the oracle, written the slow way)."""
    first_text, _, last_text = spec.partition("-")
    if not first_text:
        return set(range(max(0, size - int(last_text)), size)) if int(last_text) > 0 else set()
    last = size - 1 if not last_text else min(int(last_text), size - 1)
    return set(range(int(first_text), last + 1))


@given(st.integers(min_value=0, max_value=250), st.lists(small_specs, min_size=1, max_size=6))
def test_the_total_is_exactly_the_union_of_the_bytes_served(size: int, parts: list[str]) -> None:
    union: set[int] = set()
    satisfiable = False
    for part in parts:
        union |= served_byte_positions(part, size)
        first = part.partition("-")[0]
        satisfiable = satisfiable or (int(first) < size if first else int(part[1:]) > 0)
    served = bytes_served("bytes=" + ",".join(parts), size)
    if satisfiable:
        assert served == len(union)
    else:
        assert isinstance(served, Unsatisfiable)
