"""Key schemas read off pynamodb models, and the TTL attribute every edgemeter table uses."""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.models import Model

# The attribute DynamoDB's time-to-live deletes expired items by (epoch seconds).
TTL_ATTRIBUTE = "ttl"


@dataclass(frozen=True)
class TableKeySchema:
    """What infrastructure needs to know about a table: derived, never restated."""

    hash_key: str
    range_key: str | None
    ttl_attribute: str = TTL_ATTRIBUTE


def table_key_schema(model: type[Model]) -> TableKeySchema:
    """Read the key schema off a pynamodb model (used by stacks/ to build the tables)."""
    hash_key: str | None = None
    range_key: str | None = None
    for name, attribute in model.get_attributes().items():
        if attribute.is_hash_key:
            hash_key = attribute.attr_name or name
        if attribute.is_range_key:
            range_key = attribute.attr_name or name
    if hash_key is None:
        raise ValueError(f"{model.__name__} has no hash key")
    return TableKeySchema(hash_key=hash_key, range_key=range_key)
