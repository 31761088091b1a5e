"""Table schemas: the pynamodb models are the single source of truth.

The CDK tables (stacks/) are derived from these classes by
``functions.tables.schema.table_key_schema``; both tables have a TTL attribute named
``TTL_ATTRIBUTE`` (functions/tables/schema.py, shared with the objects table).

Both tables use a generic ``pk``/``sk`` key so one table serves several item
kinds (see docs/decisions.md, "Data model"):

users table
    pk=``account#<account_id>``  sk=``profile``          AccountItem
    pk=``account#<account_id>``  sk=``key#<key_id>``     KeyByIdItem (listing, revoke by id)
    pk=``keydigest#<sha256 hex>`` sk=``key``             KeyByDigestItem (authorize lookup)
    pk=``ratelimit#<key_id>``    sk=``gcra``             RateLimitItem (only keys with a limit; TTL)
    pk=``linkdigest#<sha256 hex>`` sk=``link``           LinkItem (signed download links; TTL)
    index ``account-list``: list_pk=``accounts#<status>#<bucket>`` list_sk=<name>\x1f<id> (accounts)

credits table
    pk=``account#<account_id>``  sk=``balance``          BalanceItem
    pk=``account#<account_id>``  sk=``ledger#<created_at>#<entry_id>``  LedgerEntryItem
    pk=``balanceshard#<account_id>#<i>`` sk=``balance`` / ``ledger#...``  balance shard i > 0 and
        (issue 14; shard 0 is ``account#<id>``)
    pk=``ledgershard#<account_id>#<i>`` sk=``ledger#...``  ledger entries of shard i of an account
        that was ever split (issue 14)
    pk=``request#<request_id>``  sk=``charge``           ChargeRecordItem (idempotency of charges; TTL)
    pk=``request#<request_id>``  sk=``refund``           RefundRecordItem (a charge is refunded once; TTL)
    pk=``grant#<account_id>#<idempotency_key>`` sk=``grant``  GrantRecordItem
    pk=``keyspend#<key_id>``     sk=``spent``            KeySpendItem (only keys with a spend limit)
    pk=``request#<request_id>``  sk=``compensation#<attempt>``  CompensationItem (issue 14)

ledger table (issue 14 §3: the entries the ledger writer derives from the credits table's stream)
    pk=``ledger#<account_id>#s<shard>`` sk=``ledger#<created_at>#<entry_id>``  LedgerTableModel
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from functions.credits.data.binding import BindableModel
from functions.credits.sellers.listing import ACCOUNT_LIST_INDEX
from functions.tables.schema import TTL_ATTRIBUTE

USERS_TABLE_DEFAULT_NAME = "edgemeter-users"
CREDITS_TABLE_DEFAULT_NAME = "edgemeter-credits"
# Both tables stream every change with its old and new image (issue 16's events judge each
# update from the two; pynamodb's create_table and the CDK tables both read it from Meta).
STREAM_VIEW_TYPE: Final = "NEW_AND_OLD_IMAGES"

# Timestamps inside sort keys: fixed width, UTC, so that string order is time order.
_SORTABLE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def sortable_time(moment: datetime) -> str:
    """``moment`` (timezone-aware) as a fixed-width UTC string that sorts like the time itself."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime(_SORTABLE_TIME_FORMAT)


# --- key builders: the only place where the key layout is spelled out -------------------------


def account_pk(account_id: str) -> str:
    return f"account#{account_id}"


ACCOUNT_PROFILE_SK = "profile"
BALANCE_SK = "balance"
KEY_BY_DIGEST_SK = "key"
RATE_LIMIT_SK = "gcra"
CHARGE_SK = "charge"
REFUND_SK = "refund"
GRANT_SK = "grant"
KEY_SK_PREFIX = "key#"
LEDGER_SK_PREFIX = "ledger#"


def key_sk(key_id: str) -> str:
    return f"{KEY_SK_PREFIX}{key_id}"


def key_digest_pk(key_digest: str) -> str:
    return f"keydigest#{key_digest}"


def rate_limit_pk(key_id: str) -> str:
    return f"ratelimit#{key_id}"


def ledger_sk(created_at: datetime, entry_id: str) -> str:
    return f"{LEDGER_SK_PREFIX}{sortable_time(created_at)}#{entry_id}"


def ledger_sk_bound(moment: datetime) -> str:
    """A sort-key bound for time filters: sorts before every entry created at or after ``moment``."""
    return f"{LEDGER_SK_PREFIX}{sortable_time(moment)}"


def balance_shard_pk(account_id: str, shard: int) -> str:
    """Where balance shard ``shard`` of an account lives (issue 14): shard 0 is today's
    ``account#<id>`` partition, so an unsharded account is stored exactly as before; shard i > 0
    has a partition of its own (not under ``account#``: the account events ignore it)."""
    return account_pk(account_id) if shard == 0 else f"balanceshard#{account_id}#{shard}"


def ledger_shard_pk(account_id: str, shard: int) -> str:
    """Where the ledger entries of a split account's shard ``shard`` go (issue 14): a partition of
    its own, so a shard's balance item and its ledger each take half of its writes. An account
    never split keeps its ledger under ``account#<id>``."""
    return f"ledgershard#{account_id}#{shard}"


def request_pk(request_id: str) -> str:
    return f"request#{request_id}"


def grant_pk(account_id: str, idempotency_key: str) -> str:
    return f"grant#{account_id}#{idempotency_key}"


# --- models ---------------------------------------------------------------------------------


class UsersTableModel(BindableModel):
    """Key schema shared by every item kind of the users table.

    Bindable (functions/credits/data/binding.py): a store that holds a ``TableBinding`` reaches
    its own table and region through it, so one process can hold several regions' stores.
    """

    class Meta:
        table_name = USERS_TABLE_DEFAULT_NAME
        # Account events (functions/account_events) read this table's stream, never the charge path.
        stream_view_type = STREAM_VIEW_TYPE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class CreditsTableModel(BindableModel):
    """Key schema shared by every item kind of the credits table (bindable, like the users table)."""

    class Meta:
        table_name = CREDITS_TABLE_DEFAULT_NAME
        stream_view_type = STREAM_VIEW_TYPE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


# --- sellers (issue 16): the account-list index ---------------------------------------------


class AccountListIndex(GlobalSecondaryIndex["AccountItem"]):  # type: ignore[no-untyped-call]
    """Accounts by status and bucket, in casefolded name order (functions/credits/sellers/listing.py).

    Sparse: only account items carry its keys; written when an account is created or changes
    status, never by a charge.
    """

    class Meta:
        index_name = ACCOUNT_LIST_INDEX
        projection = AllProjection()

    list_pk = UnicodeAttribute(hash_key=True)
    list_sk = UnicodeAttribute(range_key=True)


class AccountItem(UsersTableModel):
    account_id = UnicodeAttribute()
    name = UnicodeAttribute()
    status = UnicodeAttribute()  # "active" | "suspended" | "closed"
    created_at = UTCDateTimeAttribute()
    # sellers (issue 16): the last status change (read by the account events too) ...
    status_reason = UnicodeAttribute(null=True)
    status_changed_by = UnicodeAttribute(null=True)
    status_changed_at = UTCDateTimeAttribute(null=True)
    # ... and the account-list index's keys.
    list_pk = UnicodeAttribute(null=True)
    list_sk = UnicodeAttribute(null=True)
    account_list = AccountListIndex()


class KeyByIdItem(UsersTableModel):
    account_id = UnicodeAttribute()
    key_id = UnicodeAttribute()
    key_digest = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # "active" | "revoked"
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute(null=True)
    revoked_at = UTCDateTimeAttribute(null=True)
    rate_limit_per_second = NumberAttribute(null=True)
    rate_limit_burst = NumberAttribute(null=True)
    # sellers (issue 16): the key's scope and lifetime spend limit, fixed at issue time.
    # (pynamodb types a list by its element *attribute* class; the values are the str/float below.)
    scope_methods: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[arg-type]
    scope_prefixes: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[arg-type]
    spend_limit = NumberAttribute(null=True)


class KeyByDigestItem(KeyByIdItem):
    """Same attributes as KeyByIdItem, keyed by the digest for one-GetItem authorize lookups."""


class RateLimitItem(UsersTableModel):
    """GCRA state of one rate-limited key: the theoretical arrival time, in microseconds."""

    tat_us = NumberAttribute()
    ttl = TTLAttribute(attr_name=TTL_ATTRIBUTE)


class BalanceItem(CreditsTableModel):
    account_id = UnicodeAttribute()
    balance = NumberAttribute()
    # How many of the account's keys have ever been revoked. A charge made on key facts cached
    # in a container is conditioned on the count the container saw, so a revocation committed
    # anywhere stops every container's next charge (docs/decisions.md, "Key standing cache").
    # Absent on accounts created before it existed: read as 0.
    key_revocations = NumberAttribute(null=True)
    # sellers (issue 16): the account's status as every charge checks it (absent = active), and
    # the low-balance alert thresholds the account events read from the stream.
    account_status = UnicodeAttribute(null=True)
    alert_thresholds: ListAttribute[float] = ListAttribute(of=NumberAttribute, null=True)  # type: ignore[arg-type]
    # sharding (issue 14), on shard 0 only: how many shards charges spread over (absent = 1) and
    # how many were ever created (absent = 1; a shard is never deleted, so balance reads cover
    # every shard up to it). Every shard carries its own copies of ``key_revocations`` and
    # ``account_status``, all bumped in one transaction (functions/credits/store/shards.py).
    shard_count = NumberAttribute(null=True)
    shard_peak = NumberAttribute(null=True)
    # The stream-derived ledger (issue 14 §3-4): on a shard charged by the two-write path, ``seq``
    # counts the shard's balance changes that the ledger writer turns into ledger-table entries
    # (absent = 0) and ``op`` is the last of them (JSON, functions/credits/store/stream_ledger.py).
    seq = NumberAttribute(null=True)
    op = UnicodeAttribute(null=True)


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
    key_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()


class ChargeRecordItem(CreditsTableModel):
    """The outcome of a charge, keyed by the CloudFront request id: idempotency and refunds."""

    account_id = UnicodeAttribute()
    key_id = UnicodeAttribute()
    entry_id = UnicodeAttribute()
    amount = NumberAttribute()  # credits taken (positive)
    method = UnicodeAttribute()
    path = UnicodeAttribute()
    # An upload's Content-Length or a download's bytes served; absent when a download's size
    # was unknown (no catalog entry).
    bytes = NumberAttribute(null=True)
    # A GET's raw Range header: a retry of the request id must ask for the same bytes.
    range_header = UnicodeAttribute(null=True, attr_name="range")
    created_at = UTCDateTimeAttribute()
    ttl = TTLAttribute(attr_name=TTL_ATTRIBUTE)
    # sellers (issue 16): the charge counted on its key's spend counter (a refund gives it back).
    spend_counted = BooleanAttribute(null=True)
    # sharding (issue 14): the balance shard the charge was taken from (absent = 0); its refund
    # goes back there.
    shard = NumberAttribute(null=True)
    # The two-write charge path (issue 14 §4): the debit attempt this record decides for (its
    # shard's ``op`` names the same attempt), and ``voided``: the ledger writer found no record for
    # an attempt after the recheck delay and put this one to void the request id (no charge).
    attempt = UnicodeAttribute(null=True)
    voided = BooleanAttribute(null=True)


class RefundRecordItem(CreditsTableModel):
    """The outcome of the one refund a charge may have."""

    account_id = UnicodeAttribute()
    entry_id = UnicodeAttribute()
    amount = NumberAttribute()  # credits given back (positive)
    reason = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    ttl = TTLAttribute(attr_name=TTL_ATTRIBUTE)


class GrantRecordItem(CreditsTableModel):
    """The outcome of a grant, keyed by its idempotency key."""

    account_id = UnicodeAttribute()
    idempotency_key = UnicodeAttribute()
    entry_id = UnicodeAttribute()
    amount = NumberAttribute()
    reason = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


# --- sellers (issue 16): links and key spend counters -----------------------------------------

LINK_SK = "link"
KEY_SPEND_SK = "spent"


def link_digest_pk(link_digest: str) -> str:
    return f"linkdigest#{link_digest}"


def key_spend_pk(key_id: str) -> str:
    return f"keyspend#{key_id}"


class LinkItem(UsersTableModel):
    """A signed download link, keyed by its token's digest (the token itself is never stored)."""

    link_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    key_id = UnicodeAttribute()
    key_digest = UnicodeAttribute()
    path = UnicodeAttribute(null=True)
    prefix = UnicodeAttribute(null=True)
    expires_at = UTCDateTimeAttribute()
    max_uses = NumberAttribute(null=True)
    uses = NumberAttribute()
    created_at = UTCDateTimeAttribute()
    ttl = TTLAttribute(attr_name=TTL_ATTRIBUTE)


class KeySpendItem(CreditsTableModel):
    """Credits charged to one spend-limited key over its life (net of refunds)."""

    spent = NumberAttribute()


# --- the stream-derived ledger (issue 14 §3-4) --------------------------------------------------

LEDGER_TABLE_DEFAULT_SUFFIX = "-ledger"
COMPENSATION_SK_PREFIX = "compensation#"


def ledger_table_pk(account_id: str, shard: int) -> str:
    """The ledger table's partition of one balance shard's stream-derived entries."""
    return f"ledger#{account_id}#s{shard}"


def compensation_sk(attempt: str) -> str:
    return f"{COMPENSATION_SK_PREFIX}{attempt}"


class CompensationItem(CreditsTableModel):
    """pk=``request#<request_id>`` sk=``compensation#<attempt>``: the debit of ``attempt`` was
    credited back (put IF absent in the compensation's transaction: exactly once)."""

    account_id = UnicodeAttribute()
    shard = NumberAttribute()
    amount = NumberAttribute()  # credits given back (positive)
    created_at = UTCDateTimeAttribute()
    # No TTL: ledger reads hide a compensated debit and its compensation by this marker, forever.


class LedgerTableModel(BindableModel):
    """The ledger table: the entries the ledger writer derives from the credits table's stream.

    pk=``ledger#<account_id>#s<shard>`` sk=``ledger#<created_at>#<entry_id>`` (the credits
    table's ledger sort key, so both merge by time). Append-only: the writer's role may only
    PutItem, and a key and content fixed by the stream record make a replay an identical
    overwrite. No index, no stream, no TTL.
    """

    class Meta:
        table_name = CREDITS_TABLE_DEFAULT_NAME + LEDGER_TABLE_DEFAULT_SUFFIX

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    account_id = UnicodeAttribute()
    entry_id = UnicodeAttribute()
    request_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # "charge" | "refund"
    amount = NumberAttribute()  # signed: charges negative
    method = UnicodeAttribute(null=True)
    path = UnicodeAttribute(null=True)
    bytes = NumberAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    key_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    # Where it comes from: the shard, the shard's ``seq`` after the write (gap-free per shard), the
    # debit attempt, and for a compensation the attempt it gives back.
    shard = NumberAttribute()
    seq = NumberAttribute()
    attempt = UnicodeAttribute(null=True)
    compensates = UnicodeAttribute(null=True)


USERS_MODELS: tuple[type[UsersTableModel], ...] = (
    UsersTableModel,
    AccountItem,
    KeyByIdItem,
    KeyByDigestItem,
    RateLimitItem,
    LinkItem,
)
CREDITS_MODELS: tuple[type[CreditsTableModel], ...] = (
    CreditsTableModel,
    BalanceItem,
    LedgerEntryItem,
    ChargeRecordItem,
    RefundRecordItem,
    GrantRecordItem,
    KeySpendItem,
    CompensationItem,
)
