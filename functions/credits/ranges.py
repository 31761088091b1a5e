"""How many bytes a GET's ``Range`` header makes the origin serve (RFC 9110, sections 14.1-14.2).

Pure functions, no I/O: ``bytes_served(range_header, size)`` is what a download is priced by
and what its ledger entry records.

* No header, another unit than ``bytes``, or a header that does not parse: HTTP says the
  server ignores it and serves the whole object (``size`` bytes).
* ``bytes=a-b`` (b clamped to the last byte), ``bytes=a-``, ``bytes=-n`` (the last n bytes,
  clamped to the size): the bytes in the range.
* Several ranges: the bytes of their union (overlapping or adjacent ranges merged), never
  more than the object.
* No range satisfiable (every first byte at or past the end, or only ``-0``): ``Unsatisfiable``
  (416; nothing is served, nothing is charged).
* Size unknown (``None``): the whole object, whose size is unknown too (``None``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The longest Range header the credits API accepts (the edge sends it verbatim).
MAX_RANGE_HEADER_LENGTH = 1024

# RFC 9110: the unit is case-insensitive; no whitespace around "=" (an origin would ignore such a header).
_UNIT = re.compile(r"^bytes=(?P<specs>.*)$", re.IGNORECASE | re.DOTALL)
_SPEC = re.compile(r"^(?:(?P<first>\d+)-(?P<last>\d*)|-(?P<suffix>\d+))$")


@dataclass(frozen=True, slots=True)
class RangeSpec:
    """One range-spec: ``first-last``, ``first-`` (last None) or ``-suffix`` (first None)."""

    first: int | None
    last: int | None

    @classmethod
    def suffix(cls, length: int) -> RangeSpec:
        return cls(first=None, last=length)


@dataclass(frozen=True, slots=True)
class Unsatisfiable:
    """No range of the header overlaps the object: the origin answers 416."""


def parse_range_header(header: str) -> tuple[RangeSpec, ...] | None:
    """The range-specs of a ``bytes`` Range header; None when it is not one (then ignored)."""
    unit = _UNIT.match(header)
    if unit is None:
        return None
    specs: list[RangeSpec] = []
    for part in unit.group("specs").split(","):
        text = part.strip(" \t")
        if not text:
            continue  # RFC 9110's list syntax allows empty elements
        match = _SPEC.match(text)
        if match is None:
            return None
        if match.group("suffix") is not None:
            specs.append(RangeSpec.suffix(int(match.group("suffix"))))
            continue
        first = int(match.group("first"))
        last = int(match.group("last")) if match.group("last") else None
        if last is not None and last < first:
            return None  # an invalid int-range makes the whole header invalid
        specs.append(RangeSpec(first, last))
    return tuple(specs) or None


def _satisfiable_span(spec: RangeSpec, size: int) -> tuple[int, int] | None:
    """The [start, end) byte span ``spec`` selects from an object of ``size`` bytes, if any."""
    if spec.first is None:
        length = spec.last or 0
        return (max(0, size - length), size) if length > 0 else None
    if spec.first >= size:
        return None
    end = size if spec.last is None else min(spec.last + 1, size)
    return spec.first, end


def bytes_served(range_header: str | None, size: int | None) -> int | Unsatisfiable | None:
    """The bytes a GET with ``range_header`` is served from an object of ``size`` bytes."""
    if size is None:
        return None
    specs = None if range_header is None else parse_range_header(range_header)
    if specs is None:
        return size
    spans = sorted(span for spec in specs if (span := _satisfiable_span(spec, size)) is not None)
    if not spans:
        return Unsatisfiable()
    total = 0
    current_start, current_end = spans[0]
    for start, end in spans[1:]:
        if start > current_end:
            total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    return total + current_end - current_start
