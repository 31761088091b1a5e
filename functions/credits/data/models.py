"""Table schemas: the pynamodb models are the single source of truth.

The CDK tables (stacks/) are derived from these classes by
``table_key_schema``; a test checks the synthesized templates match.

Both tables use a generic ``pk``/``sk`` key so one table serves several item
kinds (see docs/decisions.md, "Data model"):

users table
    pk=``account#<account_id>``  sk=``profile``          AccountItem
    pk=``account#<account_id>``  sk=``key#<key_id>``     KeyByIdItem (listing, revoke by id)
    pk=``keydigest#<sha256 hex>`` sk=``key``             KeyByDigestItem (authorize lookup)
    pk=``ratelimit#<key_id>``    sk=``bucket``           RateLimitBucketItem (only keys with a limit)

credits table
    pk=``account#<account_id>``  sk=``balance``          BalanceItem
    pk=``account#<account_id>``  sk=``ledger#<created_at>#<entry_id>``  LedgerEntryItem
    pk=``request#<request_id>``  sk=``charge``           ChargeRecordItem (idempotency of charges)
    pk=``request#<request_id>``  sk=``refund``           RefundRecordItem (a charge is refunded once)
    pk=``grant#<account_id>#<idempotency_key>`` sk=``grant``  GrantRecordItem
"""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

USERS_TABLE_DEFAULT_NAME = "edgemeter-users"
CREDITS_TABLE_DEFAULT_NAME = "edgemeter-credits"


class UsersTableModel(Model):
    """Key schema shared by every item kind of the users table."""

    class Meta:
        table_name = USERS_TABLE_DEFAULT_NAME

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class CreditsTableModel(Model):
    """Key schema shared by every item kind of the credits table."""

    class Meta:
        table_name = CREDITS_TABLE_DEFAULT_NAME

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class AccountItem(UsersTableModel):
    account_id = UnicodeAttribute()
    name = UnicodeAttribute()
    status = UnicodeAttribute()  # "active" | "suspended"
    created_at = UTCDateTimeAttribute()


class KeyByIdItem(UsersTableModel):
    account_id = UnicodeAttribute()
    key_id = UnicodeAttribute()
    key_digest = UnicodeAttribute()
    status = UnicodeAttribute()  # "active" | "revoked"
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute(null=True)
    revoked_at = UTCDateTimeAttribute(null=True)
    rate_limit_per_second = NumberAttribute(null=True)
    rate_limit_burst = NumberAttribute(null=True)


class KeyByDigestItem(KeyByIdItem):
    """Same attributes as KeyByIdItem, keyed by the digest for O(1) authorize lookups."""


class RateLimitBucketItem(UsersTableModel):
    tokens = NumberAttribute()
    updated_at_ms = NumberAttribute()


class BalanceItem(CreditsTableModel):
    account_id = UnicodeAttribute()
    balance = NumberAttribute()
    updated_at = UTCDateTimeAttribute()


class LedgerEntryItem(CreditsTableModel):
    account_id = UnicodeAttribute()
    entry_id = UnicodeAttribute()
    request_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # "charge" | "refund" | "grant"
    amount = NumberAttribute()  # signed: charges negative
    method = UnicodeAttribute(null=True)
    path = UnicodeAttribute(null=True)
    bytes = NumberAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    balance_after = NumberAttribute()
    created_at = UTCDateTimeAttribute()


@dataclass(frozen=True)
class TableKeySchema:
    """What infrastructure needs to know about a table: derived, never restated."""

    hash_key: str
    range_key: str | None


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
