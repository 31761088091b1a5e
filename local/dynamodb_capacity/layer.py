"""The partition-faithful layer: DynamoDB Local metered and throttled per partition, through botocore.

``partition_capacity(limits)`` hooks every DynamoDB client created inside its block (the one hook
on client creation, ``client_hook.hook_new_dynamodb_clients``) with two botocore handlers:

- ``before-send`` (every HTTP attempt, retries included): meters the request's units per partition
  (``metering``) and asks the partition buckets (``limits``) for them. Refused, the attempt never
  reaches DynamoDB Local and gets DynamoDB's own answer: HTTP 400
  ``ProvisionedThroughputExceededException`` for single-item and batch calls, HTTP 400
  ``TransactionCanceledException`` with a ``ThrottlingError`` cancellation reason on each item whose
  partition is over (``None`` on the others) for transactions. The reply goes through botocore's
  normal parsing, so its retry handler sees what it would see from AWS: in standard mode it retries
  ``ProvisionedThroughputExceededException`` (a throttling error) with backoff and never retries
  ``TransactionCanceledException`` (the caller's code does, as ours does for ``ThrottlingError``).
  Each retry is a new attempt through the buckets; a refused attempt consumes nothing, as in AWS.
- ``response-received`` (every attempt's reply): settles a read's estimate against the items it
  returned and records what was consumed.

With ``limits=None`` the layer only meters (nothing is refused). ``make run`` and any process can
switch it on from the environment (``install_from_environment``).
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.client import BaseClient
from botocore.compat import HTTPHeaders

from functions.shared.environment_variables import (
    EDGEMETER_DYNAMODB_CAPACITY_BURST_SECONDS,
    EDGEMETER_DYNAMODB_CAPACITY_SCALE,
)
from local.dynamodb_capacity.client_hook import create_unhooked_client, hook_new_dynamodb_clients
from local.dynamodb_capacity.limits import PartitionBuckets, PartitionLimits
from local.dynamodb_capacity.metering import (
    READ_OPERATIONS,
    WRITE_OPERATIONS,
    KnownItems,
    MeteringContext,
    Partition,
    TableSchema,
    UnitCharge,
    meter_read,
    meter_write,
)

# The environment switch (``make run`` passes it to its children): a scale such as "1/100".
SCALE_VARIABLE = EDGEMETER_DYNAMODB_CAPACITY_SCALE
BURST_VARIABLE = EDGEMETER_DYNAMODB_CAPACITY_BURST_SECONDS

# What DynamoDB says when one partition of an on-demand table is over its limit.
THROTTLE_MESSAGE = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically "
    "scaling your table or index so please try again shortly. If exceptions persist, check if you "
    "have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"
)
_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
THROTTLED_SINGLE = "ProvisionedThroughputExceededException"
THROTTLED_TRANSACTION = "TransactionCanceledException"


@dataclass
class PartitionUsage:
    read_units: float = 0.0
    write_units: float = 0.0
    throttled_attempts: int = 0


@dataclass(frozen=True, slots=True)
class CapacitySnapshot:
    usage: dict[tuple[str, Partition], PartitionUsage]
    attempts: dict[str, int]
    throttled: dict[str, int]

    @property
    def throttled_attempts(self) -> int:
        return sum(self.throttled.values())

    def hottest(self, kind: str) -> tuple[tuple[str, Partition] | None, float]:
        """The partition that consumed the most ``"read"`` or ``"write"`` units, and how many."""
        if not self.usage:
            return None, 0.0
        units = {
            key: (usage.read_units if kind == "read" else usage.write_units)
            for key, usage in self.usage.items()
        }
        key = max(units, key=lambda candidate: units[candidate])
        return key, units[key]

    def total(self, kind: str) -> float:
        return sum(usage.read_units if kind == "read" else usage.write_units for usage in self.usage.values())


class _Body:
    """The raw-stream interface AWSResponse reads a body through."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def throttle_response(url: str, operation: str, refused_positions: set[int], item_count: int) -> AWSResponse:
    """DynamoDB's 400 for a throttled request: a cancelled transaction names its throttled items."""
    document: dict[str, Any]
    if operation in {"TransactWriteItems", "TransactGetItems"}:
        reasons = [
            {"Code": "ThrottlingError", "Message": THROTTLE_MESSAGE}
            if at in refused_positions
            else {"Code": "None"}
            for at in range(item_count)
        ]
        codes = ", ".join(reason["Code"] for reason in reasons)
        document = {
            "__type": _ERROR_PREFIX + THROTTLED_TRANSACTION,
            "CancellationReasons": reasons,
            "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
            f"[{codes}]",
        }
    else:
        document = {"__type": _ERROR_PREFIX + THROTTLED_SINGLE, "message": THROTTLE_MESSAGE}
    headers = HTTPHeaders.from_dict(
        {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "edgemeter-capacity-layer"}
    )
    return AWSResponse(url, 400, headers, _Body(json.dumps(document).encode()))


@dataclass
class _SchemaCache:
    """DescribeTable per table, through a client of the same endpoint, region and credentials that no
    hook sees (its calls are neither metered nor throttled); failures are not remembered."""

    client_options: dict[str, Any]
    _client: Any = None
    _schemas: dict[str, TableSchema] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, table: str) -> TableSchema | None:
        schema = self._schemas.get(table)
        if schema is not None:
            return schema
        with self._lock:
            if self._client is None:
                self._client = create_unhooked_client(**self.client_options)
        try:
            description = self._client.describe_table(TableName=table)["Table"]
        except Exception:  # noqa: BLE001 - a table being created or deleted: meter it next time
            return None
        schema = self._schemas[table] = TableSchema.from_description(description)
        return schema


@dataclass
class CapacityLayer:
    limits: PartitionLimits | None = None
    # Per region: each region's DynamoDB Local database holds its own items under the same names.
    _known: dict[str, KnownItems] = field(default_factory=dict)
    _buckets: PartitionBuckets | None = None
    _usage: dict[tuple[str, Partition], PartitionUsage] = field(default_factory=dict)
    _attempts: Counter[str] = field(default_factory=Counter)
    _throttled: Counter[str] = field(default_factory=Counter)
    _schema_caches: dict[tuple[str, str, str], _SchemaCache] = field(default_factory=dict)
    _pending: threading.local = field(default_factory=threading.local)
    _enforcing: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.limits is not None:
            self._buckets = PartitionBuckets(self.limits)

    @contextmanager
    def limits_paused(self) -> Iterator[None]:
        """Meter but refuse nothing inside the block, and take nothing from the buckets: a benchmark's
        or a test's set-up (accounts, grants) is not the load under study."""
        self._enforcing = False
        try:
            yield
        finally:
            self._enforcing = True

    # --- reading the meters -------------------------------------------------------------------------

    def snapshot(self) -> CapacitySnapshot:
        with self._lock:
            return CapacitySnapshot(
                usage={key: PartitionUsage(**vars(usage)) for key, usage in self._usage.items()},
                attempts=dict(self._attempts),
                throttled=dict(self._throttled),
            )

    def reset(self) -> None:
        with self._lock:
            self._usage.clear()
            self._attempts.clear()
            self._throttled.clear()

    # --- botocore handlers ----------------------------------------------------------------------------

    def attach(self, client: BaseClient) -> None:
        region = client.meta.region_name or "us-east-1"
        with self._lock:
            known = self._known.setdefault(region, KnownItems())
        context = MeteringContext(schemas=self._schema_cache(client, region), known=known)

        def before_send(request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse | None:
            return self._admit(region, context, event_name.rsplit(".", 1)[-1], request)

        def response_received(parsed_response: Mapping[str, Any] | None, **_: Any) -> None:
            self._settle(region, context, parsed_response)

        answer_some_attempts: Any = before_send  # botocore types handlers as returning None
        client.meta.events.register("before-send.dynamodb", answer_some_attempts)
        client.meta.events.register("response-received.dynamodb", response_received)

    def _schema_cache(self, client: BaseClient, region: str) -> _SchemaCache:
        # The caller's own credentials: DynamoDB Local without -sharedDb picks a database by them.
        signer: Any = getattr(client, "_request_signer", None)
        credentials = getattr(signer, "_credentials", None)
        frozen = credentials.get_frozen_credentials() if credentials else None
        access_key = frozen.access_key if frozen else ""
        key = (str(client.meta.endpoint_url), region, access_key)
        with self._lock:
            cache = self._schema_caches.get(key)
            if cache is None:
                options: dict[str, Any] = {
                    "service_name": "dynamodb",
                    "region_name": region,
                    "endpoint_url": client.meta.endpoint_url,
                }
                if frozen:
                    options |= {
                        "aws_access_key_id": frozen.access_key,
                        "aws_secret_access_key": frozen.secret_key,
                    }
                cache = self._schema_caches[key] = _SchemaCache(options)
            return cache

    def _admit(
        self, region: str, context: MeteringContext, operation: str, request: AWSPreparedRequest
    ) -> AWSResponse | None:
        self._pending.call = None
        if operation not in READ_OPERATIONS and operation not in WRITE_OPERATIONS:
            return None
        params = _request_params(request)
        if operation in WRITE_OPERATIONS:
            charges = meter_write(operation, params, context)
        else:
            charges = meter_read(operation, params, None, context)
        refused = (
            self._buckets.admit(region, charges) if self._buckets is not None and self._enforcing else []
        )
        with self._lock:
            self._attempts[operation] += 1
            if refused:
                self._throttled[operation] += 1
                for charge in refused:
                    self._usage_of(region, charge.partition).throttled_attempts += 1
            else:
                self._record(region, charges)
        if refused:
            positions = {charge.item_position for charge in refused if charge.item_position is not None}
            return throttle_response(request.url, operation, positions, len(params.get("TransactItems", [])))
        if operation in READ_OPERATIONS:
            self._pending.call = (operation, params, charges)
        return None

    def _settle(self, region: str, context: MeteringContext, parsed: Mapping[str, Any] | None) -> None:
        pending = getattr(self._pending, "call", None)
        self._pending.call = None
        if pending is None or parsed is None or "Error" in parsed:
            return
        operation, params, estimate = pending
        actual = meter_read(operation, params, parsed, context)
        corrections = [UnitCharge(charge.partition, read_units=charge.read_units) for charge in actual]
        corrections += [UnitCharge(charge.partition, read_units=-charge.read_units) for charge in estimate]
        if self._buckets is not None and self._enforcing:
            self._buckets.settle(region, corrections)
        with self._lock:
            self._record(region, corrections)

    def _record(self, region: str, charges: list[UnitCharge]) -> None:
        for charge in charges:
            usage = self._usage_of(region, charge.partition)
            usage.read_units += charge.read_units
            usage.write_units += charge.write_units

    def _usage_of(self, region: str, partition: Partition) -> PartitionUsage:
        usage = self._usage.get((region, partition))
        if usage is None:
            usage = self._usage[(region, partition)] = PartitionUsage()
        return usage


def _request_params(request: AWSPreparedRequest) -> dict[str, Any]:
    body = request.body
    if body is None:
        return {}
    raw = body if isinstance(body, bytes | bytearray | str) else body.read()
    loaded = json.loads(raw or b"{}")
    return loaded if isinstance(loaded, dict) else {}


@contextmanager
def partition_capacity(limits: PartitionLimits | None = None) -> Iterator[CapacityLayer]:
    """Meter (and, with ``limits``, throttle) every DynamoDB client created inside the block."""
    layer = CapacityLayer(limits)
    with hook_new_dynamodb_clients(layer.attach):
        yield layer


_installed: list[Any] = []


def install_from_environment(environ: Mapping[str, str] | None = None) -> CapacityLayer | None:
    """Switch the layer on for the rest of this process when ``EDGEMETER_DYNAMODB_CAPACITY_SCALE`` is
    set (``make run`` children); off (None) otherwise. Clients created earlier are not seen."""
    environment = os.environ if environ is None else environ
    scale = environment.get(SCALE_VARIABLE, "").strip()
    if not scale or scale.lower() in {"off", "0", "none"}:
        return None
    limits = PartitionLimits.parse(scale, float(environment.get(BURST_VARIABLE, "1.0")))
    block = partition_capacity(limits)
    layer = block.__enter__()
    _installed.append(block)  # entered for the life of the process, never left
    return layer
