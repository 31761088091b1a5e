"""Item sizes as DynamoDB computes them for capacity units.

An item's size is the sum of its attribute names' UTF-8 lengths and its values' sizes: a string
is its UTF-8 length, a number about one byte per two significant digits plus one, a binary its
length, a boolean or null one byte, a set the sum of its elements, a map or list 3 bytes plus its
elements (a map's element names count, a list's elements take one byte each more). Source: the
DynamoDB Developer Guide, "Item sizes and formats" (CapacityUnitCalculations.html).
"""

from __future__ import annotations

import math
from typing import Any

KIB = 1024
WRITE_UNIT_BYTES = KIB
READ_UNIT_BYTES = 4 * KIB


def attribute_value_size(value: dict[str, Any]) -> int:
    """Bytes of one DynamoDB attribute value (wire format, e.g. ``{"S": "abc"}``)."""
    (kind, payload), *_ = value.items()
    if kind == "S":
        return len(str(payload).encode())
    if kind == "N":
        digits = str(payload).lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(payload)
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind in {"SS", "NS", "BS"}:
        return sum(attribute_value_size({kind[0]: element}) for element in payload)
    if kind == "M":
        return 3 + sum(len(name.encode()) + attribute_value_size(inner) for name, inner in payload.items())
    if kind == "L":
        return 3 + sum(1 + attribute_value_size(inner) for inner in payload)
    return 0


def item_size(item: dict[str, Any]) -> int:
    """Bytes of a whole item: every attribute's name plus its value."""
    return sum(len(name.encode()) + attribute_value_size(value) for name, value in item.items())


def write_units(size_bytes: int) -> int:
    """Write units of one item write: one per started KiB, at least one."""
    return max(1, math.ceil(size_bytes / WRITE_UNIT_BYTES))


def read_units(size_bytes: int, *, consistent: bool) -> float:
    """Read units of reading ``size_bytes``: one per started 4 KiB (at least one), half if eventually
    consistent."""
    units = max(1, math.ceil(size_bytes / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2
