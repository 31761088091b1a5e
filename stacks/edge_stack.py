"""The us-east-1 stack: the Lambda@Edge functions (only created there) and the CDN alarm topic."""

from __future__ import annotations

from aws_cdk import CfnOutput, Environment, Stack
from constructs import Construct

from stacks.constructs.cdn_alarms import CdnAlarmTopic
from stacks.settings import EDGE_REGION, EdgemeterSettings


def cdn_alarm_topic_name(settings: EdgemeterSettings) -> str:
    return f"{settings.deployment_name}-cdn-alarms"


class EdgemeterEdgeStack(Stack):
    """Filled by ``EdgeFunction``s of the main stack (their ``stack_id`` names this stack).

    Deployed before the main stack, which reads the functions' version ARNs across regions.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: EdgemeterSettings, account: str | None
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            stack_name=f"{settings.stack_name_prefix}-edge",
            env=Environment(account=account, region=EDGE_REGION),
            description="edgemeter Lambda@Edge functions and CDN alarm topic (us-east-1)",
        )
        # CloudFront's metrics, hence its alarms and their topic, exist in us-east-1 only.
        self.cdn_alarm_topic = CdnAlarmTopic(
            self, "CdnAlarms", topic_name=cdn_alarm_topic_name(settings), alarm_email=settings.alarm_email
        ).topic
        CfnOutput(self, "CdnAlarmTopicArn", value=self.cdn_alarm_topic.topic_arn, description="CDN alarms")
