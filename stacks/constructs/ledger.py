"""The stream-derived ledger (issue 14 §3-4): the ledger table, the ledger writer and its queues.

The credits table's stream (NEW_AND_OLD_IMAGES) feeds the ledger writer
(functions/ledger_writer/handler.py), which turns each balance-shard write into a ledger entry
with a PutItem whose key and content the stream record fixes (a redelivered batch rewrites
identical items). Attempts whose charge record is not there yet are parked on a delay queue and
checked again a minute later. The IAM split is the append-only guarantee: the credits function
may only read the ledger table; the ledger writer may only PutItem into it
(docs/decisions.md, "Ledger and edge HTTP API as built").
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.credits.data.models import LedgerTableModel
from functions.shared.environment_variables import (
    EDGEMETER_LEDGER_RECHECK_QUEUE_URL,
    EDGEMETER_LEDGER_TABLE,
)
from stacks.bundling import LambdaCpu, PythonAssetSpec
from stacks.constructs.data_tables import ModelTable
from stacks.constructs.edge_functions import LAMBDA_PYTHON_VERSION
from stacks.constructs.lambda_parts import (
    acknowledge_python_pin,
    acknowledge_stream_consumer,
    failure_queue,
    function_logs_and_role,
    python_function,
    send_alarms_to,
    stream_event_source,
    sustained_alarm,
)
from stacks.lambda_packages import LEDGER_WRITER_PACKAGE_DIRS
from stacks.settings import EdgemeterSettings, log_retention

LEDGER_WRITER_HANDLER = "functions.ledger_writer.handler.handler"
LEDGER_WRITER_SERVICE_NAME = "edgemeter-ledger-writer"
# The deploy contract (CONTRIBUTING.md): stream batches of at most 100, one batch per shard at a
# time (entries of one shard are written in stream order), parked attempts rechecked after 60 s.
LEDGER_STREAM_BATCH_SIZE = 100
LEDGER_RECHECK_DELAY = Duration.seconds(60)
LEDGER_WRITER_TIMEOUT = Duration.seconds(60)
# A parked attempt that keeps failing is received this often before it goes to the dead letters.
RECHECK_MAX_RECEIVES = 5
# The writer's IteratorAge above which the ledger counts as late (milliseconds).
LEDGER_LAG_ALARM_MS = 5 * 60 * 1000
# What the credits function may do on the ledger table: read, never write (issue 14 §3).
LEDGER_READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem")
# What the ledger writer may do on it: put an entry, nothing else (no update, delete, batch write).
LEDGER_WRITE_ACTIONS = ("dynamodb:PutItem",)
# What the ledger writer may do on the credits table: read a charge record, void one, compensate.
CREDITS_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")


def ledger_writer_asset_spec(cpu: LambdaCpu) -> PythonAssetSpec:
    return PythonAssetSpec(
        package_dirs=LEDGER_WRITER_PACKAGE_DIRS,
        requirements_file="functions/credits/requirements.txt",
        python_version=LAMBDA_PYTHON_VERSION,
        cpu=cpu,
    )


class LedgerInfra(Construct):
    """The ledger table, the ledger writer reading the credits table's stream, and its queues.

    ``credits_function`` gets read access to the ledger and its name in ``EDGEMETER_LEDGER_TABLE``;
    ``function_environment`` is the credits function's table/region environment, which the writer
    shares.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EdgemeterSettings,
        code: lambda_.Code,
        architecture: lambda_.Architecture,
        credits_table: dynamodb.ITable,
        credits_function: lambda_.Function,
        function_environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        # Keyed as the model says; nothing ever expires from the ledger: no TTL (the model asks
        # for no stream and has no index).
        self.table = ModelTable(self, "Table", model=LedgerTableModel, time_to_live=False).table
        self.failed_batches = failure_queue(self, "FailedBatches")
        self.recheck_dead_letters = failure_queue(self, "RecheckDeadLetters")
        self.recheck_queue = self._build_recheck_queue()
        self.function = self._build_function(settings, code, architecture, function_environment)
        self._grant_writer(credits_table)
        self._consume(credits_table)
        self._grant_reader(credits_function)
        self.alarms = self._build_alarms()
        self._acknowledge_findings()

    def _build_recheck_queue(self) -> sqs.Queue:
        return sqs.Queue(
            self,
            "RecheckQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            delivery_delay=LEDGER_RECHECK_DELAY,
            # AWS's advice for a Lambda event source: six times the function's timeout.
            visibility_timeout=Duration.seconds(LEDGER_WRITER_TIMEOUT.to_seconds() * 6),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.recheck_dead_letters, max_receive_count=RECHECK_MAX_RECEIVES
            ),
        )

    def _build_function(
        self,
        settings: EdgemeterSettings,
        code: lambda_.Code,
        architecture: lambda_.Architecture,
        function_environment: Mapping[str, str],
    ) -> lambda_.Function:
        logs_and_role = function_logs_and_role(
            self,
            retention=log_retention(settings),
            role_description="edgemeter ledger writer: credits stream -> ledger table (PutItem only)",
        )
        return python_function(
            self,
            "Function",
            logs_and_role=logs_and_role,
            architecture=architecture,
            handler=LEDGER_WRITER_HANDLER,
            code=code,
            memory_size=512,
            timeout=LEDGER_WRITER_TIMEOUT,
            description="edgemeter ledger writer: ledger entries from the credits table's stream",
            environment={
                **function_environment,
                EDGEMETER_LEDGER_TABLE: self.table.table_name,
                EDGEMETER_LEDGER_RECHECK_QUEUE_URL: self.recheck_queue.queue_url,
                "POWERTOOLS_SERVICE_NAME": LEDGER_WRITER_SERVICE_NAME,
            },
        )

    def _grant_writer(self, credits_table: dynamodb.ITable) -> None:
        """Exactly the contract's actions: named actions on named resources, no grant_* helpers."""
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=list(LEDGER_WRITE_ACTIONS), resources=[self.table.table_arn])
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=list(CREDITS_TABLE_ACTIONS), resources=[credits_table.table_arn])
        )
        # SendMessage (+ GetQueueAttributes, GetQueueUrl) to park; the event source adds receiving.
        self.recheck_queue.grant_send_messages(self.function)

    def _consume(self, credits_table: dynamodb.ITable) -> None:
        """The credits table's stream and the recheck queue (each mapping grants its own reads)."""
        self.function.add_event_source(
            # No retry limit: a skipped record is a gap in the ledger, a stuck shard is only late
            # (the IteratorAge alarm says so); what expires from the stream (24 hours) is reported
            # on the failed-batches queue.
            stream_event_source(
                credits_table,
                batch_size=LEDGER_STREAM_BATCH_SIZE,
                failed_batches=self.failed_batches,
                parallelization_factor=1,
            )
        )
        self.function.add_event_source(
            event_sources.SqsEventSource(self.recheck_queue, batch_size=10, report_batch_item_failures=True)
        )

    def _grant_reader(self, credits_function: lambda_.Function) -> None:
        credits_function.add_to_role_policy(
            iam.PolicyStatement(actions=list(LEDGER_READ_ACTIONS), resources=[self.table.table_arn])
        )
        credits_function.add_environment(EDGEMETER_LEDGER_TABLE, self.table.table_name)

    def _build_alarms(self) -> list[cloudwatch.Alarm]:
        """The ledger late (iterator age), the writer failing, or records given up on."""
        return [
            sustained_alarm(
                self,
                "IteratorAgeAlarm",
                "The ledger is over 5 minutes behind the balances: the ledger writer is failing or slow "
                "(the audit shows the difference as in flight)",
                self.function.metric("IteratorAge", period=Duration.minutes(5), statistic="Maximum"),
                threshold=LEDGER_LAG_ALARM_MS,
            ),
            sustained_alarm(
                self,
                "ErrorsAlarm",
                "The ledger writer's invocations fail (its batches are retried; the ledger falls behind)",
                self.function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
                threshold=0,
            ),
            *(
                sustained_alarm(
                    self,
                    f"{queue.node.id}Alarm",
                    f"Ledger work was given up on and waits on {queue.node.id}: replay it",
                    queue.metric_approximate_number_of_messages_visible(
                        period=Duration.minutes(5), statistic="Maximum"
                    ),
                    threshold=0,
                )
                for queue in (self.failed_batches, self.recheck_dead_letters)
            ),
        ]

    def notify(self, topic: sns.ITopic) -> None:
        """Send this construct's alarms (and their recoveries) to ``topic``."""
        send_alarms_to(self.alarms, topic)

    def _acknowledge_findings(self) -> None:
        # (cdk-nag sees the recheck dead letters as the recheck queue's DLQ by itself.)
        acknowledge_stream_consumer(
            self.function,
            self.failed_batches,
            consumer="stream mapping",
            record_reads="record reads are limited to the credits table's stream ARN",
        )
        acknowledge_python_pin(self.function)
