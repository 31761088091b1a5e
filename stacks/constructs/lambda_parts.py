"""The parts every edgemeter Python Lambda construct builds the same way.

One home for what the credits function, the ledger writer, the account-events consumer and the
catalog's event Lambda share: a retained log group and a role that writes only to it, the Python
function on that pair, the failure queues, the stream event source of the stream consumers, the
"sustained breach" alarm and sending alarms to a topic. Each caller still names its own construct
ids, so the logical ids (and the deployed resources) stay what they were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.edge_functions import LAMBDA_PYTHON_RUNTIME
from stacks.nag import acknowledge

# Dead letters wait 14 days for an operator (a stream batch stays replayable 24 hours).
FAILURE_QUEUE_RETENTION = Duration.days(14)
PYTHON_PIN_REASON = "Pinned to Python 3.12 like every edgemeter Lambda: the bundled wheels are built for it."


def function_logs_and_role(
    scope: Construct,
    *,
    retention: logs.RetentionDays,
    role_description: str,
    logs_id: str = "Logs",
    role_id: str = "Role",
) -> tuple[logs.LogGroup, iam.Role]:
    """A log group kept after the stack goes, and a Lambda role allowed to write to it alone."""
    function_logs = logs.LogGroup(scope, logs_id, retention=retention, removal_policy=RemovalPolicy.RETAIN)
    role = iam.Role(
        scope,
        role_id,
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=role_description,
    )
    function_logs.grant_write(role)
    return function_logs, role


def python_function(
    scope: Construct,
    function_id: str,
    *,
    logs_and_role: tuple[logs.ILogGroup, iam.IRole],
    architecture: lambda_.Architecture,
    handler: str,
    code: lambda_.Code,
    memory_size: int,
    timeout: Duration,
    description: str,
    environment: dict[str, str],
    tracing: lambda_.Tracing | None = None,
    on_failure: lambda_.IDestination | None = None,
    retry_attempts: int | None = None,
) -> lambda_.Function:
    """An edgemeter Python Lambda: the pinned runtime, JSON logs into its own log group, its role."""
    function_logs, role = logs_and_role
    return lambda_.Function(
        scope,
        function_id,
        runtime=LAMBDA_PYTHON_RUNTIME,
        architecture=architecture,
        handler=handler,
        code=code,
        role=role,
        memory_size=memory_size,
        timeout=timeout,
        tracing=tracing,
        log_group=function_logs,
        logging_format=lambda_.LoggingFormat.JSON,
        description=description,
        environment=environment,
        on_failure=on_failure,
        retry_attempts=retry_attempts,
    )


def failure_queue(scope: Construct, queue_id: str) -> sqs.Queue:
    """Where work given up on waits for an operator: encrypted, TLS only, kept 14 days."""
    return sqs.Queue(
        scope,
        queue_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=FAILURE_QUEUE_RETENTION,
    )


def stream_event_source(
    table: dynamodb.ITable,
    *,
    batch_size: int,
    failed_batches: sqs.IQueue,
    retry_attempts: int | None = None,
    parallelization_factor: int | None = None,
    filters: Sequence[Mapping[str, Any]] | None = None,
) -> event_sources.DynamoEventSource:
    """A table stream read from its oldest record, failing records bisected out and reported one by
    one, a batch given up on sent to ``failed_batches`` (the mapping also grants reading the stream)."""
    return event_sources.DynamoEventSource(
        table,
        starting_position=lambda_.StartingPosition.TRIM_HORIZON,
        batch_size=batch_size,
        bisect_batch_on_error=True,
        report_batch_item_failures=True,
        retry_attempts=retry_attempts,
        parallelization_factor=parallelization_factor,
        on_failure=event_sources.SqsDlq(failed_batches),
        filters=filters,
    )


def sustained_alarm(
    scope: Construct, alarm_id: str, description: str, metric: cloudwatch.IMetric, *, threshold: float
) -> cloudwatch.Alarm:
    """Above ``threshold`` in 2 of 3 five-minute periods; no data (no traffic) is not a breach."""
    return cloudwatch.Alarm(
        scope,
        alarm_id,
        alarm_description=description,
        metric=metric,
        threshold=threshold,
        evaluation_periods=3,
        datapoints_to_alarm=2,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def send_alarms_to(alarms: Iterable[cloudwatch.Alarm], topic: sns.ITopic) -> None:
    """Each alarm (and its recovery) goes to ``topic``."""
    for alarm in alarms:
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
        alarm.add_ok_action(cloudwatch_actions.SnsAction(topic))


def acknowledge_stream_consumer(
    function: lambda_.Function, failed_batches: sqs.IQueue, *, consumer: str, record_reads: str
) -> None:
    """cdk-nag's findings on a stream consumer: its failure queue has no DLQ of its own (SQS3),
    and the dynamodb:ListStreams CDK grants with a stream event source names no resource (IAM5).

    ``consumer`` names what the queue takes failures from; ``record_reads`` says which stream
    ARNs the record reads are limited to.
    """
    acknowledge(
        failed_batches,
        "AwsSolutions-SQS3",
        f"This queue is itself the on-failure destination of the {consumer}.",
    )
    role = function.role
    assert role is not None
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        "dynamodb:ListStreams, granted with every stream event source by CDK, supports no resource-level "
        f"permission; {record_reads}.",
    )


def acknowledge_python_pin(function: lambda_.Function) -> None:
    """cdk-nag's "not the latest runtime" (L1): the pin is deliberate."""
    acknowledge(function, "AwsSolutions-L1", PYTHON_PIN_REASON)
