"""The objects table: the pynamodb model is the single source of truth for its schema.

The CDK table (stacks/) is derived from ``ObjectItem`` with
``functions.tables.schema.table_key_schema`` and from ``LISTING_INDEX`` with
``index_key_schema``, exactly like the users and credits tables.

objects table
    pk=``object#<key>``  sk=``object``   ObjectItem (one per object key; tombstones carry a TTL)

listing index (global, sparse: tombstones leave its attributes out)
    listing_shard=``shard#<nn>``  object_key=<key>
    The shard is derived from a hash of the key, so writes spread over ``LISTING_SHARDS``
    partition keys while each shard is still read back in key order; ``catalog sync`` merges the
    shards (and the bucket listing, which S3 returns in the same UTF-8 binary order) as streams.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from functions.tables.schema import TTL_ATTRIBUTE

OBJECTS_TABLE_DEFAULT_NAME = "edgemeter-objects"
OBJECT_SK = "object"
LISTING_INDEX_NAME = "listing"
# Fixed for the life of a table: changing it would need the index rebuilt.
LISTING_SHARDS = 16


def object_pk(key: str) -> str:
    return f"object#{key}"


def listing_shard(key: str) -> str:
    """The listing-index partition of ``key``: stable, evenly spread."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return f"shard#{digest[0] % LISTING_SHARDS:02d}"


def all_listing_shards() -> tuple[str, ...]:
    return tuple(f"shard#{number:02d}" for number in range(LISTING_SHARDS))


class ListingIndex(GlobalSecondaryIndex["ObjectItem"]):  # type: ignore[no-untyped-call]
    """Every non-tombstone object, per shard, in key order."""

    class Meta:
        index_name = LISTING_INDEX_NAME
        projection = AllProjection()

    listing_shard = UnicodeAttribute(hash_key=True)
    object_key = UnicodeAttribute(range_key=True)


class ObjectItem(Model):
    """One object key and its state (see functions/catalog/entries.py for the states)."""

    class Meta:
        table_name = OBJECTS_TABLE_DEFAULT_NAME

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    object_key = UnicodeAttribute()
    state = UnicodeAttribute()
    updated_at = UTCDateTimeAttribute()
    # Only on listed (non-tombstone) items, which makes the listing index sparse.
    listing_shard = UnicodeAttribute(null=True)
    size = NumberAttribute(null=True)
    etag = UnicodeAttribute(null=True)
    content_type = UnicodeAttribute(null=True)
    storage_class = UnicodeAttribute(null=True)
    last_modified = UTCDateTimeAttribute(null=True)
    restore_started_at = UTCDateTimeAttribute(null=True)
    restore_expected_at = UTCDateTimeAttribute(null=True)
    restore_tier = UnicodeAttribute(null=True)
    restored_until = UTCDateTimeAttribute(null=True)
    tombstone_expires_at = UTCDateTimeAttribute(null=True)
    sequencer = UnicodeAttribute(null=True)
    # A fresh token on every write; conditional transitions compare it.
    revision = UnicodeAttribute()
    # Tombstones only: DynamoDB deletes them some time after this (readers do not wait for it).
    ttl = TTLAttribute(attr_name=TTL_ATTRIBUTE, null=True)

    listing = ListingIndex()


@dataclass(frozen=True)
class IndexKeySchema:
    """What infrastructure needs to know about a global secondary index."""

    index_name: str
    hash_key: str
    range_key: str | None
    projection: str


def index_key_schema(index: type[GlobalSecondaryIndex[Any]]) -> IndexKeySchema:
    """Read a global index's keys off its pynamodb class (used by stacks/ to build the index)."""
    hash_key: str | None = None
    range_key: str | None = None
    for name, attribute in index.Meta.attributes.items():
        if attribute.is_hash_key:
            hash_key = attribute.attr_name or name
        if attribute.is_range_key:
            range_key = attribute.attr_name or name
    if hash_key is None:
        raise ValueError(f"{index.__name__} has no hash key")
    projection = index.Meta.projection.projection_type
    return IndexKeySchema(
        index_name=index.Meta.index_name, hash_key=hash_key, range_key=range_key, projection=projection
    )
