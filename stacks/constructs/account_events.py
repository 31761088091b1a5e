"""Account events (issue 16): the EventBridge custom bus and the consumer of both tables' streams.

The users and credits tables stream NEW_AND_OLD_IMAGES (stacks/constructs/data_tables.py, from
the models' Meta). One Lambda (functions/account_events/handler.py) reads both streams through
event source mappings and puts ``balance.low`` / ``account.*`` / ``key.*`` events on the bus.
Nothing here touches the charge path: DynamoDB writes the stream records by itself.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.credits.data.models import ACCOUNT_PROFILE_SK, BALANCE_SK, KEY_SK_PREFIX
from functions.credits.store.low_balance_alerts import LOW_ALERT_ATTRIBUTES
from functions.shared.environment_variables import EDGEMETER_CREDITS_TABLE, EDGEMETER_EVENT_BUS_NAME
from stacks.bundling import LambdaCpu, PythonAssetSpec
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
from stacks.lambda_packages import ACCOUNT_EVENTS_PACKAGE_DIRS
from stacks.settings import EdgemeterSettings, log_retention

ACCOUNT_EVENTS_HANDLER = "functions.account_events.handler.lambda_handler"
ACCOUNT_EVENTS_SERVICE_NAME = "edgemeter-account-events"
# A record that keeps failing is retried this often (bisecting the batch each time) before it
# goes to the failed-records queue; the stream keeps records 24 hours.
STREAM_RETRY_ATTEMPTS = 5
STREAM_BATCH_SIZE = 100
# The consumer's IteratorAge above which events count as late (milliseconds).
STREAM_LAG_ALARM_MS = 5 * 60 * 1000

# Lambda event filtering: only the items events are made from reach the function, so ledger
# entries, charge/refund/grant records and rate-limit buckets (most of the writes) cost no
# invocation. The pure core decides the rest (functions/account_events/stream_records.py).
CREDITS_STREAM_FILTER: dict[str, Any] = {
    "eventName": ["MODIFY"],
    "dynamodb": {"Keys": {"sk": {"S": [BALANCE_SK]}}},
}
USERS_STREAM_FILTER: dict[str, Any] = {
    "eventName": ["INSERT", "MODIFY"],
    "dynamodb": {"Keys": {"sk": {"S": [ACCOUNT_PROFILE_SK, {"prefix": KEY_SK_PREFIX}]}}},
}


def account_events_asset_spec(cpu: LambdaCpu) -> PythonAssetSpec:
    return PythonAssetSpec(
        package_dirs=ACCOUNT_EVENTS_PACKAGE_DIRS,
        requirements_file="functions/credits/requirements.txt",
        python_version=LAMBDA_PYTHON_VERSION,
        cpu=cpu,
    )


class AccountEventsInfra(Construct):
    """The custom bus, the stream consumer Lambda with its two event source mappings, and its DLQ."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EdgemeterSettings,
        code: lambda_.Code,
        architecture: lambda_.Architecture,
        users_table: dynamodb.ITable,
        credits_table: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=f"{settings.deployment_name}-account-events")
        self.failed_records = self._build_failed_records_queue()
        self.function = self._build_function(settings, code=code, architecture=architecture)
        # events:PutEvents on this bus only.
        self.bus.grant_put_events_to(self.function)
        for table, stream_filter in (
            (users_table, USERS_STREAM_FILTER),
            (credits_table, CREDITS_STREAM_FILTER),
        ):
            self._consume_stream(table, stream_filter)
        self._judge_sharded_totals(credits_table)
        self.alarms = self._build_alarms()
        self._acknowledge_findings()
        CfnOutput(self, "EventBusName", value=self.bus.event_bus_name, description="account events bus")
        CfnOutput(self, "EventBusArn", value=self.bus.event_bus_arn)

    def _build_failed_records_queue(self) -> sqs.Queue:
        # Where a stream batch goes (as its shard and sequence range) once retries are used up:
        # the records are still in the stream for 24 hours to be replayed by hand.
        return failure_queue(self, "FailedRecords")

    def _build_function(
        self, settings: EdgemeterSettings, *, code: lambda_.Code, architecture: lambda_.Architecture
    ) -> lambda_.Function:
        logs_and_role = function_logs_and_role(
            self,
            retention=log_retention(settings),
            role_description="edgemeter account events: reads the tables' streams, puts events on its bus",
        )
        return python_function(
            self,
            "Function",
            logs_and_role=logs_and_role,
            architecture=architecture,
            handler=ACCOUNT_EVENTS_HANDLER,
            code=code,
            memory_size=256,
            timeout=Duration.seconds(60),
            description="edgemeter account events: DynamoDB streams -> EventBridge",
            environment={
                EDGEMETER_EVENT_BUS_NAME: self.bus.event_bus_name,
                "POWERTOOLS_SERVICE_NAME": ACCOUNT_EVENTS_SERVICE_NAME,
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
        )

    def _judge_sharded_totals(self, credits_table: dynamodb.ITable) -> None:
        """issue 14: a sharded account's balance.low is judged on its total
        (functions/account_events/sharded_balance.py): the consumer reads balance shards and
        writes the alert item's own attributes only, reading none back."""
        self.function.add_environment(EDGEMETER_CREDITS_TABLE, credits_table.table_name)
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:BatchGetItem"], resources=[credits_table.table_arn]
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:UpdateItem"],
                resources=[credits_table.table_arn],
                conditions={
                    "ForAllValues:StringEquals": {"dynamodb:Attributes": list(LOW_ALERT_ATTRIBUTES)},
                    "StringEqualsIfExists": {"dynamodb:ReturnValues": "NONE"},
                },
            )
        )

    def _build_alarms(self) -> list[cloudwatch.Alarm]:
        """Events lost (a batch gave up on) or late (the consumer is falling behind the streams)."""
        given_up = cloudwatch.Alarm(
            self,
            "FailedRecordsAlarm",
            alarm_description="Account events were not published: a stream batch is on the failed-records "
            "queue (its records stay in the stream for 24 hours; replay them)",
            metric=self.failed_records.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        behind = sustained_alarm(
            self,
            "IteratorAgeAlarm",
            "Account events are over 5 minutes late: the stream consumer is falling behind or failing",
            self.function.metric("IteratorAge", period=Duration.minutes(5), statistic="Maximum"),
            threshold=STREAM_LAG_ALARM_MS,
        )
        return [given_up, behind]

    def notify(self, topic: sns.ITopic) -> None:
        """Send this construct's alarms (and their recoveries) to ``topic``."""
        send_alarms_to(self.alarms, topic)

    def _consume_stream(self, table: dynamodb.ITable, stream_filter: dict[str, Any]) -> None:
        """An event source mapping on ``table``'s stream (which also grants reading that stream)."""
        self.function.add_event_source(
            stream_event_source(
                table,
                batch_size=STREAM_BATCH_SIZE,
                failed_batches=self.failed_records,
                retry_attempts=STREAM_RETRY_ATTEMPTS,
                filters=[lambda_.FilterCriteria.filter(stream_filter)],
            )
        )

    def _acknowledge_findings(self) -> None:
        acknowledge_stream_consumer(
            self.function,
            self.failed_records,
            consumer="stream consumer",
            record_reads="reading records is limited to the two tables' stream ARNs",
        )
        acknowledge_python_pin(self.function)
