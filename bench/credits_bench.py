"""Credits service throughput: the real Lambda handler next to its own DynamoDB transaction, raw.

Both sides run in this process against one DynamoDB Local, with the same number of threads and
one account per thread (so neither side waits on transaction conflicts of a shared balance):

- *handler*: ``functions.credits.handler.lambda_handler`` answering ``POST /v1/authorize`` proxy
  events, everything included (Powertools resolver, validation, key lookup, the charge, the
  balance read, logging and metrics);
- *raw*: the charge transaction the handler sent, captured from its botocore parameters and
  replayed with boto3 with fresh request and entry ids: the floor the service builds on.

DynamoDB requests and units per authorization are counted by ``bench.dynamodb_counting``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3

from bench.dynamodb_counting import DynamoDBCounter, count_dynamodb
from bench.inprocess import InProcessCredits
from bench.stats import percentile
from functions.credits.config import Settings
from functions.credits.data.tables import create_tables
from functions.shared.api_keys import hash_api_key
from local.dynamodb_local import LOCAL_CREDENTIALS, LOCAL_REGION

TARGET_RATIO_OF_RAW = 0.70


@dataclass(frozen=True, slots=True)
class CreditsFigures:
    threads: int
    authorizations: int
    handler_per_second: float
    raw_transactions_per_second: float
    handler_p50_ms: float
    handler_p99_ms: float
    dynamodb_requests_per_authorization: float
    dynamodb_operations: dict[str, int]
    billed_write_units_per_authorization: float
    billed_read_units_per_authorization: float
    reported_write_units_per_authorization: float
    reported_read_units_per_authorization: float
    raw_billed_write_units_per_transaction: float
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
        "EDGEMETER_USERS_TABLE": settings.users_table,
        "EDGEMETER_CREDITS_TABLE": settings.credits_table,
        "AWS_REGION": settings.region,
        "AWS_DEFAULT_REGION": settings.region,
        "EDGEMETER_DYNAMODB_ENDPOINT": str(settings.dynamodb_endpoint),
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


def _run_threads(threads: int, work: Callable[[int], None]) -> float:
    """Run ``work(thread_index)`` on ``threads`` threads at once; the wall time they took."""
    start_line = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def runner(index: int) -> None:
        start_line.wait()
        try:
            work(index)
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(error)

    workers = [threading.Thread(target=runner, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    start_line.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


def _per(total: float, count: int) -> float:
    return total / count if count else 0.0


def run_credits_bench(dynamodb_endpoint: str, *, authorizations: int, threads: int) -> CreditsFigures:
    suffix = secrets.token_hex(4)
    settings = Settings(
        users_table=f"bench-users-{suffix}",
        credits_table=f"bench-credits-{suffix}",
        region=LOCAL_REGION,
        dynamodb_endpoint=dynamodb_endpoint,
    )
    os.environ.update(handler_environment(settings))
    per_thread = max(1, authorizations // threads)
    with count_dynamodb() as counter, stdout_discarded():
        create_tables(settings)
        # Imported here: the handler builds its API from the environment at import (cold start).
        from functions.credits.handler import lambda_handler  # noqa: PLC0415

        credits = InProcessCredits(lambda_handler)
        funded = [credits.funded_key(f"bench-{index}", per_thread * 4 + 10) for index in range(threads)]
        digests = [hash_api_key(api_key) for _, api_key in funded]
        latencies_ms: list[list[float]] = [[] for _ in range(threads)]

        def authorize(index: int) -> None:
            for _ in range(per_thread):
                request_id = f"bench-{secrets.token_hex(16)}"
                began = time.perf_counter()
                status, document = credits.call(
                    "POST",
                    "/v1/authorize",
                    {"key_digest": digests[index], "request_id": request_id, "method": "GET", "path": "/o"},
                )
                latencies_ms[index].append((time.perf_counter() - began) * 1000)
                if status != 200 or document["decision"] != "allow":
                    raise RuntimeError(f"authorization was not allowed: {status} {document}")

        authorize(0)  # warm: connection pools, first-call imports
        counter.reset()
        handler_seconds = _run_threads(threads, authorize)
        handler_counts = counter.snapshot()
        handled = per_thread * threads

        templates = _capture_charge_templates(counter, credits, digests)
        raw_client = boto3.client(
            "dynamodb",
            endpoint_url=dynamodb_endpoint,
            region_name=settings.region,
            aws_access_key_id=LOCAL_CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=LOCAL_CREDENTIALS["aws_secret_access_key"],
        )
        _replay(raw_client, templates[0])  # warm the raw client too
        counter.reset()

        def replay_charges(index: int) -> None:
            for _ in range(per_thread):
                _replay(raw_client, templates[index])

        raw_seconds = _run_threads(threads, replay_charges)
        raw_counts = counter.snapshot()

        # Unknown keys: what a refusal costs the credits service (no edge cache in front).
        denials = max(20, per_thread // 4)
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

    all_latencies = [sample for samples in latencies_ms for sample in samples]
    return CreditsFigures(
        threads=threads,
        authorizations=handled,
        handler_per_second=handled / handler_seconds,
        raw_transactions_per_second=handled / raw_seconds,
        handler_p50_ms=percentile(all_latencies, 0.50),
        handler_p99_ms=percentile(all_latencies, 0.99),
        dynamodb_requests_per_authorization=_per(handler_counts.http_attempts, handled),
        dynamodb_operations=handler_counts.operations,
        billed_write_units_per_authorization=_per(handler_counts.billed_write_units, handled),
        billed_read_units_per_authorization=_per(handler_counts.billed_read_units, handled),
        reported_write_units_per_authorization=_per(handler_counts.reported_write_units, handled),
        reported_read_units_per_authorization=_per(handler_counts.reported_read_units, handled),
        raw_billed_write_units_per_transaction=_per(raw_counts.billed_write_units, handled),
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
