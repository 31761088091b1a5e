"""Credits service throughput: the real Lambda handler next to its own DynamoDB transaction, raw.

One Lambda container serves one invocation at a time, so the service's rate is measured the way
a container delivers it: one caller, sequential, against one DynamoDB Local, and so is the raw
side. The two run in interleaved rounds (handler block, raw block, repeated) so that a change in
the machine's load touches both alike; the ratio is total over total.

- *handler*: ``functions.credits.handler.lambda_handler`` answering ``POST /v1/authorize`` proxy
  events, everything included (Powertools logger, metrics and resolver, validation, the key
  cache, the charge, logging);
- *raw*: the charge transaction the handler sent, captured from its botocore parameters and
  replayed with boto3 with fresh request and entry ids: the floor the service builds on.

DynamoDB requests and units per authorization are counted by ``bench.dynamodb_counting`` in
phases of their own (a key's first use in a container, then warm ones); counting is paused while
calls are timed, so its hooks' work is in neither rate.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3

from bench.dynamodb_counting import DynamoDBCounter, count_dynamodb
from bench.inprocess import InProcessCredits
from bench.stats import percentile
from functions.credits.data.tables import create_tables
from functions.credits.settings import Settings
from functions.shared.api_keys import hash_api_key
from functions.shared.environment_variables import (
    EDGEMETER_CREDITS_TABLE,
    EDGEMETER_DYNAMODB_ENDPOINT,
    EDGEMETER_USERS_TABLE,
)
from local.dynamodb_local import LOCAL_CREDENTIALS, LOCAL_REGION

TARGET_RATIO_OF_RAW = 0.70


@dataclass(frozen=True, slots=True)
class CreditsFigures:
    rounds: int
    authorizations: int  # timed, through the handler (and as many raw transactions)
    handler_per_second: float
    raw_transactions_per_second: float
    ratio_of_raw_per_round: list[float]
    handler_p50_ms: float
    handler_p99_ms: float
    raw_p50_ms: float
    # Counted on warm authorizations: the key is in the container's cache (the steady state).
    counted_authorizations: int
    dynamodb_requests_per_authorization: float
    dynamodb_operations: dict[str, int]
    billed_write_units_per_authorization: float
    billed_read_units_per_authorization: float
    reported_write_units_per_authorization: float
    reported_read_units_per_authorization: float
    raw_billed_write_units_per_transaction: float
    # Counted on a key's first authorization in a container (fills the cache).
    first_use_dynamodb_operations: dict[str, int]
    first_use_billed_read_units: float
    denials: int
    dynamodb_requests_per_denial: float
    billed_read_units_per_denial: float
    denial_p50_ms: float

    @property
    def ratio_of_raw(self) -> float:
        return self.handler_per_second / self.raw_transactions_per_second

    @property
    def meets_target(self) -> bool:
        return self.ratio_of_raw >= TARGET_RATIO_OF_RAW


def handler_environment(settings: Settings) -> dict[str, str]:
    """What the CDK stack gives the credits Lambda, pointed at DynamoDB Local."""
    return {
        EDGEMETER_USERS_TABLE: settings.users_table,
        EDGEMETER_CREDITS_TABLE: settings.credits_table,
        "AWS_REGION": settings.region,
        "AWS_DEFAULT_REGION": settings.region,
        EDGEMETER_DYNAMODB_ENDPOINT: str(settings.dynamodb_endpoint),
        "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"],
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "edgemeter-credits",
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        "POWERTOOLS_METRICS_NAMESPACE": "edgemeter-bench",
        "AWS_LAMBDA_FUNCTION_NAME": "edgemeter-credits-bench",
    }


@contextlib.contextmanager
def stdout_discarded() -> Iterator[None]:
    """Powertools writes a log line and an EMF metrics document per invocation to stdout: the
    work stays in the measurement, the text goes to /dev/null (at the descriptor level, because
    its handlers hold the original stream)."""
    saved = os.dup(1)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def _per(total: float, count: int) -> float:
    return total / count if count else 0.0


def _timed_ms(call: Callable[[], object]) -> float:
    began = time.perf_counter()
    call()
    return (time.perf_counter() - began) * 1000


def run_credits_bench(dynamodb_endpoint: str, *, authorizations: int, round_size: int = 50) -> CreditsFigures:
    """``authorizations`` timed through the handler and as many raw transactions, alternating in
    rounds of ``round_size``: short rounds, so that the noise of a shared machine (a JVM pause in
    DynamoDB Local, a neighbour's burst) falls on both sides alike."""
    suffix = secrets.token_hex(4)
    settings = Settings(
        users_table=f"bench-users-{suffix}",
        credits_table=f"bench-credits-{suffix}",
        region=LOCAL_REGION,
        dynamodb_endpoint=dynamodb_endpoint,
    )
    os.environ.update(handler_environment(settings))
    per_round = max(1, min(round_size, authorizations))
    rounds = max(1, authorizations // per_round)
    counted = 50
    with count_dynamodb() as counter, stdout_discarded():
        create_tables(settings)
        # Imported here: the handler builds its API from the environment on first use (cold start).
        from functions.credits.handler import lambda_handler  # noqa: PLC0415

        credits = InProcessCredits(lambda_handler)
        _, api_key = credits.funded_key("bench", 2 * (per_round * rounds + counted) + 100)
        digest = hash_api_key(api_key)

        def authorize() -> None:
            request_id = f"bench-{secrets.token_hex(16)}"
            status, document = credits.call(
                "POST",
                "/v1/authorize",
                {"key_digest": digest, "request_id": request_id, "method": "GET", "path": "/o"},
            )
            if status != 200 or document["decision"] != "allow":
                raise RuntimeError(f"authorization was not allowed: {status} {document}")

        counter.reset()
        authorize()  # the key's first use in this container
        first_use = counter.snapshot()
        counter.reset()
        for _ in range(counted):
            authorize()
        warm = counter.snapshot()

        template = _capture_charge_templates(counter, credits, [digest])[0]
        raw_client = boto3.client(
            "dynamodb",
            endpoint_url=dynamodb_endpoint,
            region_name=settings.region,
            aws_access_key_id=LOCAL_CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=LOCAL_CREDENTIALS["aws_secret_access_key"],
        )
        counter.reset()
        _replay(raw_client, template)
        raw_counts = counter.snapshot()

        handler_ms: list[float] = []
        raw_ms: list[float] = []
        ratios: list[float] = []
        with counter.paused():
            for _ in range(20):  # warm both sides: connection pools, code paths
                authorize()
                _replay(raw_client, template)
            for _ in range(rounds):
                handler_round = [_timed_ms(authorize) for _ in range(per_round)]
                raw_round = [_timed_ms(lambda: _replay(raw_client, template)) for _ in range(per_round)]
                ratios.append(sum(raw_round) / sum(handler_round))
                handler_ms += handler_round
                raw_ms += raw_round

        # Unknown keys: what a refusal costs the credits service (no edge cache in front).
        denials = 50
        counter.reset()
        denial_latencies_ms = []
        for _ in range(denials):
            began = time.perf_counter()
            status, document = credits.call(
                "POST",
                "/v1/authorize",
                {
                    "key_digest": secrets.token_hex(32),
                    "request_id": f"deny-{secrets.token_hex(16)}",
                    "method": "GET",
                    "path": "/o",
                },
            )
            denial_latencies_ms.append((time.perf_counter() - began) * 1000)
            if status != 200 or document["reason"] != "invalid_api_key":
                raise RuntimeError(f"an unknown key was not denied: {status} {document}")
        denial_counts = counter.snapshot()

    timed = len(handler_ms)
    return CreditsFigures(
        rounds=rounds,
        authorizations=timed,
        handler_per_second=timed / (sum(handler_ms) / 1000),
        raw_transactions_per_second=len(raw_ms) / (sum(raw_ms) / 1000),
        ratio_of_raw_per_round=ratios,
        handler_p50_ms=percentile(handler_ms, 0.50),
        handler_p99_ms=percentile(handler_ms, 0.99),
        raw_p50_ms=percentile(raw_ms, 0.50),
        counted_authorizations=counted,
        dynamodb_requests_per_authorization=_per(warm.http_attempts, counted),
        dynamodb_operations=warm.operations,
        billed_write_units_per_authorization=_per(warm.billed_write_units, counted),
        billed_read_units_per_authorization=_per(warm.billed_read_units, counted),
        reported_write_units_per_authorization=_per(warm.reported_write_units, counted),
        reported_read_units_per_authorization=_per(warm.reported_read_units, counted),
        raw_billed_write_units_per_transaction=raw_counts.billed_write_units,
        first_use_dynamodb_operations=first_use.operations,
        first_use_billed_read_units=first_use.billed_read_units,
        denials=denials,
        dynamodb_requests_per_denial=_per(denial_counts.http_attempts, denials),
        billed_read_units_per_denial=_per(denial_counts.billed_read_units, denials),
        denial_p50_ms=percentile(denial_latencies_ms, 0.50),
    )


@dataclass(frozen=True, slots=True)
class _ChargeTemplate:
    """A TransactWriteItems the handler sent, with the ids to replace on each replay."""

    parameters_json: str
    request_id: str
    entry_id: str


def _capture_charge_templates(
    counter: DynamoDBCounter, credits: InProcessCredits, digests: list[str]
) -> list[_ChargeTemplate]:
    captured: list[dict[str, Any]] = []

    def keep_transactions(operation: str, parameters: dict[str, Any]) -> None:
        if operation == "TransactWriteItems":
            captured.append(parameters)

    counter.request_observers.append(keep_transactions)
    templates: list[_ChargeTemplate] = []
    try:
        for digest in digests:
            captured.clear()
            request_id = f"capture-{secrets.token_hex(16)}"
            _, document = credits.call(
                "POST",
                "/v1/authorize",
                {"key_digest": digest, "request_id": request_id, "method": "GET", "path": "/o"},
            )
            if len(captured) != 1:
                raise RuntimeError(f"expected one charge transaction, the handler sent {len(captured)}")
            captured[0].pop("ReturnConsumedCapacity", None)
            templates.append(_ChargeTemplate(json.dumps(captured[0]), request_id, str(document["entry_id"])))
    finally:
        counter.request_observers.remove(keep_transactions)
    return templates


def _replay(client: Any, template: _ChargeTemplate) -> None:
    fresh = template.parameters_json.replace(template.request_id, f"raw-{secrets.token_hex(16)}").replace(
        template.entry_id, f"le_{secrets.token_hex(12)}"
    )
    client.transact_write_items(**json.loads(fresh))
