"""The objects catalog: S3 event notifications keep it current; authorize consults it (S3 origin only)."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3_notifications
from constructs import Construct

from functions.catalog.settings import CATALOG_ENV_VAR
from stacks.constructs.lambda_parts import (
    acknowledge_python_pin,
    failure_queue,
    function_logs_and_role,
    python_function,
)
from stacks.nag import acknowledge
from stacks.settings import EdgemeterSettings, log_retention

S3_EVENTS_HANDLER = "functions.catalog.s3_events.handler"
# Construct id of CDK's singleton BucketNotificationsHandler (aws-s3/lib/notifications-resource).
_BUCKET_NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"
# Every event kind functions/catalog/s3_events.py turns into a catalog state.
CATALOG_EVENT_TYPES = (
    s3.EventType.OBJECT_CREATED,
    s3.EventType.OBJECT_REMOVED,
    s3.EventType.OBJECT_RESTORE_POST,
    s3.EventType.OBJECT_RESTORE_COMPLETED,
    s3.EventType.OBJECT_RESTORE_DELETE,
    s3.EventType.LIFECYCLE_TRANSITION,
    s3.EventType.LIFECYCLE_EXPIRATION,
    s3.EventType.INTELLIGENT_TIERING,
)


class ObjectCatalogInfra(Construct):
    """Wires the catalog into the credits Lambda and adds the S3-event Lambda that maintains it.

    Named for the infrastructure it creates: ``functions.catalog.store.ObjectCatalog`` is the runtime store.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EdgemeterSettings,
        bucket: s3.IBucket,
        objects_table: dynamodb.ITable,
        credits_function: lambda_.Function,
        code: lambda_.Code,
        architecture: lambda_.Architecture,
    ) -> None:
        super().__init__(scope, construct_id)
        catalog = settings.catalog_settings(bucket="resolved-at-deploy", objects_table="resolved-at-deploy")
        # Bucket and table names are deploy-time tokens: render the validated model, then put them in.
        catalog_document = catalog.model_dump(mode="json") | {
            "bucket": bucket.bucket_name,
            "objects_table": objects_table.table_name,
        }
        catalog_json = Stack.of(self).to_json_string(catalog_document)
        _let_credits_consult_catalog(
            credits_function, catalog_json, bucket=bucket, objects_table=objects_table
        )
        role = self._build_event_function(
            settings, code=code, architecture=architecture, catalog_json=catalog_json
        )
        objects_table.grant_read_write_data(self.function)
        # New objects are HEADed for their storage class and size (events carry neither).
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects("*")])
        )
        for event_type in CATALOG_EVENT_TYPES:
            bucket.add_event_notification(event_type, s3_notifications.LambdaDestination(self.function))
        self._acknowledge_notifications_handler()
        acknowledge(
            self.failed_events,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter destination of the catalog event Lambda.",
        )
        acknowledge_python_pin(self.function)
        self._acknowledge_role_wildcards(role, credits_function, bucket=bucket, objects_table=objects_table)

    def _build_event_function(
        self,
        settings: EdgemeterSettings,
        *,
        code: lambda_.Code,
        architecture: lambda_.Architecture,
        catalog_json: str,
    ) -> iam.Role:
        """The S3-event Lambda (``self.function``) and its dead-letter queue; returns its role."""
        function_logs, role = function_logs_and_role(
            self, retention=log_retention(settings), role_description="edgemeter catalog events"
        )
        # Events that still fail after Lambda's asynchronous retries land here; `edgemeter catalog sync`
        # repairs whatever they missed.
        self.failed_events = failure_queue(self, "FailedEvents")
        self.function = python_function(
            self,
            "Function",
            logs_and_role=(function_logs, role),
            architecture=architecture,
            handler=S3_EVENTS_HANDLER,
            code=code,
            memory_size=512,
            timeout=Duration.seconds(30),
            tracing=lambda_.Tracing.ACTIVE,
            description="edgemeter objects catalog: applies S3 event notifications",
            environment={CATALOG_ENV_VAR: catalog_json},
            on_failure=destinations.SqsDestination(self.failed_events),
            retry_attempts=2,
        )
        return role

    def _acknowledge_role_wildcards(
        self,
        role: iam.Role,
        credits_function: lambda_.Function,
        *,
        bucket: s3.IBucket,
        objects_table: dynamodb.ITable,
    ) -> None:
        stack = Stack.of(self)
        bucket_finding = f"Resource::<{stack.get_logical_id(bucket.node.default_child)}.Arn>/*"  # type: ignore[arg-type]
        index_finding = f"Resource::<{stack.get_logical_id(objects_table.node.default_child)}.Arn>/index/*"  # type: ignore[arg-type]
        for grantee_role in (role, credits_function.role):
            assert grantee_role is not None
            acknowledge(
                grantee_role,
                f"AwsSolutions-IAM5[{bucket_finding}]",
                "Any object of the content bucket may be HEADed (and restored): the object keys are "
                "the users' data, not known to the stack.",
            )
            acknowledge(
                grantee_role,
                f"AwsSolutions-IAM5[{index_finding}]",
                "The catalog reads its listing index (the only index of the objects table).",
            )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray's PutTraceSegments and PutTelemetryRecords do not support resource-level permissions.",
        )

    def _acknowledge_notifications_handler(self) -> None:
        # CDK's own singleton Lambda that applies the bucket's notification configuration at deploy.
        handler = Stack.of(self).node.try_find_child(_BUCKET_NOTIFICATIONS_HANDLER_ID)
        if handler is None:
            raise LookupError("CDK's bucket notifications handler was not found; its construct id changed")
        acknowledge(
            handler,
            # AWS-managed policy ARNs always carry the partition as a Ref.
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "CDK's built-in bucket-notifications handler (deploy time only) comes with this role; it only "
            "writes its own logs with it.",
        )


def _let_credits_consult_catalog(
    credits_function: lambda_.Function,
    catalog_json: str,
    *,
    bucket: s3.IBucket,
    objects_table: dynamodb.ITable,
) -> None:
    """The credits Lambda's catalog settings and its reads of the catalog and the bucket."""
    credits_function.add_environment(CATALOG_ENV_VAR, catalog_json)
    objects_table.grant_read_write_data(credits_function)
    # authorize HEADs objects it does not know yet and starts restores of archived ones.
    credits_function.add_to_role_policy(
        iam.PolicyStatement(
            actions=["s3:GetObject", "s3:RestoreObject"], resources=[bucket.arn_for_objects("*")]
        )
    )
    # Without ListBucket S3 answers a HEAD of a missing key with 403, not 404: the catalog could
    # then never tell a missing object (tombstone) from an access problem after an origin 403.
    credits_function.add_to_role_policy(
        iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn])
    )
