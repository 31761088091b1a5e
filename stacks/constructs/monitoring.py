"""CloudWatch dashboard and alarms for edgemeter.

Business metrics come from the credits service's Powertools Metrics (namespace and
service dimension from functions/observability/names.py); CloudFront publishes its
metrics in us-east-1 only, which a dashboard in the main region can still show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigatewayv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from functions.observability.names import CREDITS_SERVICE_NAME
from functions.observability.names import METRICS_NAMESPACE as CREDITS_METRICS_NAMESPACE
from functions.shared.errors import DenialReason
from stacks.constructs.lambda_parts import send_alarms_to
from stacks.settings import EDGE_REGION

_PERIOD = Duration.minutes(5)


def _credits_metric(name: str, label: str, **extra_dimensions: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=CREDITS_METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": CREDITS_SERVICE_NAME, **extra_dimensions},
        statistic="Sum",
        period=_PERIOD,
        label=label,
    )


def _cloudfront_metric(distribution_id: str, name: str, statistic: str, label: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/CloudFront",
        metric_name=name,
        dimensions_map={"DistributionId": distribution_id, "Region": "Global"},
        statistic=statistic,
        period=_PERIOD,
        region=EDGE_REGION,
        label=label,
    )


def encrypted_alarm_topic(
    scope: Construct,
    *,
    key_id: str,
    topic_id: str,
    key_description: str,
    display_name: str,
    alarm_email: str | None,
    topic_name: str | None = None,
) -> sns.Topic:
    """An SNS topic CloudWatch alarms can notify: KMS-encrypted, TLS only, optionally mailed."""
    # CloudWatch alarms can only publish to an encrypted topic whose key lets CloudWatch use it,
    # which rules out the AWS-managed SNS key.
    key = kms.Key(
        scope,
        key_id,
        enable_key_rotation=True,
        description=key_description,
        # Encrypts alarm notifications in flight only: nothing to keep once the stack is gone.
        removal_policy=RemovalPolicy.DESTROY,
    )
    key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
    topic = sns.Topic(
        scope,
        topic_id,
        topic_name=topic_name,
        display_name=display_name,
        master_key=key,
        enforce_ssl=True,
    )
    if alarm_email is not None:
        topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
    return topic


@dataclass(frozen=True)
class CreditsApiMetrics:
    """The credits API's and Lambda's metrics that both the alarms and the dashboard show."""

    requests: cloudwatch.IMetric
    server_error_rate: cloudwatch.IMetric
    client_error_rate: cloudwatch.IMetric
    latency_p99: cloudwatch.IMetric
    latency_p50: cloudwatch.IMetric
    function_errors: cloudwatch.IMetric
    function_throttles: cloudwatch.IMetric
    function_error_rate: cloudwatch.IMetric
    function_duration_p99: cloudwatch.IMetric


def credits_api_metrics(
    rest_api: apigateway.RestApi, credits_function: lambda_.IFunction
) -> CreditsApiMetrics:
    function_errors = credits_function.metric_errors(period=_PERIOD, statistic="Sum", label="errors")
    function_invocations = credits_function.metric_invocations(period=_PERIOD, statistic="Sum")
    return CreditsApiMetrics(
        requests=rest_api.metric_count(period=_PERIOD, statistic="Sum", label="requests"),
        server_error_rate=rest_api.metric_server_error(period=_PERIOD, statistic="Average", label="5xx rate"),
        client_error_rate=rest_api.metric_client_error(period=_PERIOD, statistic="Average", label="4xx rate"),
        latency_p99=rest_api.metric_latency(period=_PERIOD, statistic="p99", label="latency p99"),
        latency_p50=rest_api.metric_latency(period=_PERIOD, statistic="p50", label="latency p50"),
        function_errors=function_errors,
        function_throttles=credits_function.metric_throttles(
            period=_PERIOD, statistic="Sum", label="throttles"
        ),
        function_error_rate=cloudwatch.MathExpression(
            expression="IF(invocations > 0, errors / invocations, 0)",
            using_metrics={"errors": function_errors, "invocations": function_invocations},
            period=_PERIOD,
            label="credits Lambda error rate",
        ),
        function_duration_p99=credits_function.metric_duration(
            period=_PERIOD, statistic="p99", label="duration p99"
        ),
    )


@dataclass(frozen=True)
class EdgeApiMetrics:
    """The edge's HTTP API (issue 14 §6): where nearly every credits request now arrives."""

    requests: cloudwatch.IMetric
    server_error_rate: cloudwatch.IMetric
    latency_p99: cloudwatch.IMetric
    latency_p50: cloudwatch.IMetric


def edge_api_metrics(edge_api: apigatewayv2.HttpApi) -> EdgeApiMetrics:
    requests = edge_api.metric_count(period=_PERIOD, statistic="Sum", label="edge requests")
    server_errors = edge_api.metric_server_error(period=_PERIOD, statistic="Sum")
    return EdgeApiMetrics(
        requests=requests,
        # A ratio of sums: it reads the same whatever the metric's per-request statistics are.
        server_error_rate=cloudwatch.MathExpression(
            expression="IF(requests > 0, errors / requests, 0)",
            using_metrics={"errors": server_errors, "requests": requests},
            period=_PERIOD,
            label="edge API 5xx rate",
        ),
        latency_p99=edge_api.metric_latency(period=_PERIOD, statistic="p99", label="edge latency p99"),
        latency_p50=edge_api.metric_latency(period=_PERIOD, statistic="p50", label="edge latency p50"),
    )


class Monitoring(Construct):
    """One dashboard for the whole system, and alarms (to an SNS topic) on the credits API's error rates."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        rest_api: apigateway.RestApi,
        edge_api: apigatewayv2.HttpApi,
        credits_function: lambda_.IFunction,
        ledger_writer: lambda_.IFunction,
        tables: Mapping[str, dynamodb.ITable],
        distribution_id: str,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarm_topic = encrypted_alarm_topic(
            self,
            key_id="AlarmTopicKey",
            topic_id="AlarmTopic",
            key_description="edgemeter alarm topic encryption",
            display_name="edgemeter alarms",
            alarm_email=alarm_email,
        )
        metrics = credits_api_metrics(rest_api, credits_function)
        edge_metrics = edge_api_metrics(edge_api)
        self.alarms = self._build_alarms(metrics) + self._build_edge_api_alarms(edge_metrics)
        send_alarms_to(self.alarms, self.alarm_topic)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=dashboard_name)
        self.dashboard.add_widgets(*_business_widgets())
        self.dashboard.add_widgets(*_credits_api_widgets(metrics))
        self.dashboard.add_widgets(*_edge_api_widgets(edge_metrics), _ledger_writer_widget(ledger_writer))
        self.dashboard.add_widgets(*_cdn_and_table_widgets(distribution_id, tables))

    def _build_alarms(self, metrics: CreditsApiMetrics) -> list[cloudwatch.Alarm]:
        return [
            self._threshold_alarm(
                "ApiServerErrorRate",
                "Over 1% of credits API replies are 5xx: the edge turns them into 503s",
                metrics.server_error_rate,
                threshold=0.01,
                evaluation_periods=3,
                datapoints_to_alarm=2,
            ),
            self._threshold_alarm(
                "CreditsFunctionErrorRate",
                "More than 1% of credits Lambda invocations fail",
                metrics.function_error_rate,
                threshold=0.01,
                evaluation_periods=3,
                datapoints_to_alarm=2,
            ),
            self._threshold_alarm(
                "CreditsFunctionThrottles",
                "The credits Lambda is throttled: authorizations fail, the CDN answers 503",
                metrics.function_throttles,
                threshold=0,
                evaluation_periods=1,
            ),
            self._threshold_alarm(
                "ApiLatencyP99",
                "Credits API p99 latency above 1 s eats the edge's authorization budget",
                metrics.latency_p99,
                threshold=1_000,
                evaluation_periods=3,
                datapoints_to_alarm=3,
            ),
        ]

    def _build_edge_api_alarms(self, metrics: EdgeApiMetrics) -> list[cloudwatch.Alarm]:
        return [
            self._threshold_alarm(
                "EdgeApiServerErrorRate",
                "Over 1% of the edge API's replies (authorize, refunds) are 5xx: the CDN answers 503",
                metrics.server_error_rate,
                threshold=0.01,
                evaluation_periods=3,
                datapoints_to_alarm=2,
            ),
            self._threshold_alarm(
                "EdgeApiLatencyP99",
                "Edge API p99 latency above 1 s eats the edge's authorization budget",
                metrics.latency_p99,
                threshold=1_000,
                evaluation_periods=3,
                datapoints_to_alarm=3,
            ),
        ]

    def _threshold_alarm(
        self,
        alarm_id: str,
        description: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        evaluation_periods: int,
        datapoints_to_alarm: int | None = None,
    ) -> cloudwatch.Alarm:
        """An alarm when ``metric`` goes above ``threshold``; no data (no traffic) is not a breach."""
        return cloudwatch.Alarm(
            self,
            alarm_id,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )


def _business_widgets() -> list[cloudwatch.IWidget]:
    denials_by_reason = [
        _credits_metric("DenialsByReason", reason.value, reason=reason.value) for reason in DenialReason
    ]
    return [
        cloudwatch.GraphWidget(
            title="Authorizations",
            left=[_credits_metric("Charges", "allowed (charged)"), _credits_metric("Denials", "denied")],
            width=8,
        ),
        cloudwatch.GraphWidget(title="Denials by reason", left=denials_by_reason, stacked=True, width=8),
        cloudwatch.GraphWidget(
            title="Credits",
            left=[
                _credits_metric("CreditsSpent", "spent"),
                _credits_metric("CreditsRefunded", "refunded"),
                _credits_metric("CreditsGranted", "granted"),
            ],
            width=8,
        ),
    ]


def _credits_api_widgets(metrics: CreditsApiMetrics) -> list[cloudwatch.IWidget]:
    return [
        cloudwatch.GraphWidget(
            title="Credits API latency (ms)", left=[metrics.latency_p50, metrics.latency_p99], width=8
        ),
        cloudwatch.GraphWidget(
            title="Credits API errors",
            left=[metrics.client_error_rate, metrics.server_error_rate],
            right=[metrics.requests],
            width=8,
        ),
        cloudwatch.GraphWidget(
            title="Credits Lambda",
            left=[metrics.function_errors, metrics.function_throttles],
            right=[metrics.function_duration_p99],
            width=8,
        ),
    ]


def _edge_api_widgets(metrics: EdgeApiMetrics) -> list[cloudwatch.IWidget]:
    return [
        cloudwatch.GraphWidget(
            title="Edge API latency (ms): authorize, refunds",
            left=[metrics.latency_p50, metrics.latency_p99],
            width=8,
        ),
        cloudwatch.GraphWidget(
            title="Edge API requests and 5xx rate",
            left=[metrics.server_error_rate],
            right=[metrics.requests],
            width=8,
        ),
    ]


def _ledger_writer_widget(ledger_writer: lambda_.IFunction) -> cloudwatch.IWidget:
    """How far the ledger is behind the balances (the writer's IteratorAge), and its failures."""
    return cloudwatch.GraphWidget(
        title="Ledger writer: lag behind the balances (ms) and errors",
        left=[ledger_writer.metric("IteratorAge", period=_PERIOD, statistic="Maximum", label="lag (max)")],
        right=[ledger_writer.metric_errors(period=_PERIOD, statistic="Sum", label="errors")],
        width=8,
    )


def _cdn_and_table_widgets(
    distribution_id: str, tables: Mapping[str, dynamodb.ITable]
) -> list[cloudwatch.IWidget]:
    table_throttles = [
        table.metric(event, period=_PERIOD, statistic="Sum", label=f"{label}: {event}")
        for label, table in tables.items()
        for event in ("ReadThrottleEvents", "WriteThrottleEvents")
    ]
    return [
        cloudwatch.GraphWidget(
            title="CDN requests",
            left=[_cloudfront_metric(distribution_id, "Requests", "Sum", "requests")],
            width=8,
        ),
        cloudwatch.GraphWidget(
            title="CDN error rates (%): edge denials are 4xx; edge failures and origin 5xx are 5xx",
            left=[
                _cloudfront_metric(distribution_id, "4xxErrorRate", "Average", "4xx"),
                _cloudfront_metric(
                    distribution_id, "5xxErrorRate", "Average", "5xx (edge errors, origin 5xx)"
                ),
            ],
            width=8,
        ),
        cloudwatch.GraphWidget(
            title="Origin failures refunded, and DynamoDB throttling",
            left=[_credits_metric("Refunds", "refunds (origin 5xx/404)")],
            right=table_throttles,
            width=8,
        ),
    ]
