"""Alarms on the CDN's error rates, which CloudFront publishes in us-east-1 only.

A CloudWatch alarm must live in its metric's region and notify a topic of that
region, while the distribution id is only known once the main stack deploys (after
the us-east-1 stack). So the topic is created in the us-east-1 stack (``CdnAlarmTopic``)
and the alarms are put there by an ``AwsCustomResource`` of the main stack
(PutMetricAlarm / DeleteAlarms on exactly these alarm names).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Stack, custom_resources
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.constructs.monitoring import encrypted_alarm_topic
from stacks.nag import acknowledge
from stacks.settings import EDGE_REGION

_PERIOD_SECONDS = 300
# Construct id of CDK's singleton AwsCustomResource provider (custom-resources/lib/aws-custom-resource).
_AWS_CUSTOM_RESOURCE_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"


@dataclass(frozen=True)
class CdnAlarmSpec:
    """One alarm on a CloudFront rate metric (percent of viewer requests)."""

    name_suffix: str
    metric_name: str
    threshold_percent: float
    description: str


CDN_ALARMS = (
    CdnAlarmSpec(
        "cdn-5xx-rate",
        "5xxErrorRate",
        5.0,
        "Over 5% of CDN responses are 5xx: edge function failures, the credits API unreachable (503) "
        "or origin 5xx. Lambda@Edge logs: /aws/lambda/us-east-1.<function> in the viewers' regions.",
    ),
)


class CdnAlarmTopic(Construct):
    """The us-east-1 SNS topic CloudFront alarms notify (KMS-encrypted, TLS only)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, topic_name: str, alarm_email: str | None
    ) -> None:
        super().__init__(scope, construct_id)
        # An explicit name: the main stack names this topic in the alarms it puts (cross-region, by name).
        self.topic = encrypted_alarm_topic(
            self,
            key_id="Key",
            topic_id="Topic",
            key_description="edgemeter CDN alarm topic encryption",
            display_name="edgemeter CDN alarms",
            alarm_email=alarm_email,
            topic_name=topic_name,
        )


class CdnAlarms(Construct):
    """Puts ``CDN_ALARMS`` on the distribution in us-east-1 at deploy time; deletes them with the stack."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alarm_name_prefix: str,
        distribution_id: str,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.alarm_names: list[str] = []
        for spec in CDN_ALARMS:
            alarm_name = f"{alarm_name_prefix}-{spec.name_suffix}"
            self.alarm_names.append(alarm_name)
            self._add_alarm_resource(spec, alarm_name, distribution_id=distribution_id, topic=topic)
        provider = stack.node.try_find_child(_AWS_CUSTOM_RESOURCE_PROVIDER_ID)
        if provider is None:
            raise LookupError("CDK's AwsCustomResource provider was not found; its construct id changed")
        acknowledge(
            provider,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "CDK's AwsCustomResource provider (deploy time only) comes with this role; it only writes its "
            "own logs with it; what it may call is limited to these alarms by the statement above.",
        )

    def _add_alarm_resource(
        self, spec: CdnAlarmSpec, alarm_name: str, *, distribution_id: str, topic: sns.ITopic
    ) -> None:
        """One alarm: put on create and update, deleted with the stack, this alarm's ARN only."""
        alarm_arn = Stack.of(self).format_arn(
            service="cloudwatch",
            region=EDGE_REGION,
            resource="alarm",
            resource_name=alarm_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        put_alarm = custom_resources.AwsSdkCall(
            service="CloudWatch",
            action="putMetricAlarm",
            region=EDGE_REGION,
            parameters=_put_metric_alarm_parameters(spec, alarm_name, distribution_id, topic.topic_arn),
            physical_resource_id=custom_resources.PhysicalResourceId.of(alarm_name),
        )
        custom_resources.AwsCustomResource(
            self,
            spec.name_suffix,
            resource_type="Custom::EdgemeterCdnAlarm",
            on_create=put_alarm,
            on_update=put_alarm,
            on_delete=custom_resources.AwsSdkCall(
                service="CloudWatch",
                action="deleteAlarms",
                region=EDGE_REGION,
                parameters={"AlarmNames": [alarm_name]},
            ),
            policy=custom_resources.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"],
                        resources=[alarm_arn],
                    )
                ]
            ),
            # The SDK bundled with the Lambda runtime has both calls; no download at deploy time.
            install_latest_aws_sdk=False,
        )


def _put_metric_alarm_parameters(
    spec: CdnAlarmSpec, alarm_name: str, distribution_id: str, topic_arn: str
) -> dict[str, object]:
    return {
        "AlarmName": alarm_name,
        "AlarmDescription": spec.description,
        "Namespace": "AWS/CloudFront",
        "MetricName": spec.metric_name,
        "Dimensions": [
            {"Name": "DistributionId", "Value": distribution_id},
            {"Name": "Region", "Value": "Global"},
        ],
        "Statistic": "Average",
        "Period": _PERIOD_SECONDS,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 2,
        "Threshold": spec.threshold_percent,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [topic_arn],
        "OKActions": [topic_arn],
    }
