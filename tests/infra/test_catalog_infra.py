"""Infrastructure of the objects catalog: event notifications, the objects table, lifecycle tiering,
the origin group. Constructs are tested in small stacks of their own; the composed app in
tests that use the session-synthesized templates."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from pydantic import ValidationError

from functions.catalog.models import LISTING_INDEX_NAME
from stacks.constructs.origin_failover import OriginFailover, SecondaryOriginSettings
from stacks.constructs.storage_tiering import StorageTiering, StorageTieringSettings
from tests.infra.conftest import SynthesizedApp


def tiering_template(settings: dict[str, Any]) -> Template:
    stack = Stack(App(), "Tiering")
    bucket = s3.Bucket(stack, "Content")
    StorageTiering(stack, "Tiering", bucket=bucket, settings=StorageTieringSettings.model_validate(settings))
    return Template.from_stack(stack)


def test_lifecycle_rules_follow_the_tierable_prefixes():
    template = tiering_template(
        {
            "enabled": True,
            "rules": [
                {
                    "prefix": "media/",
                    "transitions": [
                        {"storageClass": "INTELLIGENT_TIERING", "afterDays": 30},
                        {"storageClass": "GLACIER", "afterDays": 180},
                    ],
                },
                {"prefix": "logs/", "transitions": [{"storageClass": "DEEP_ARCHIVE", "afterDays": 90}]},
            ],
            "pinnedPrefixes": ["thumbnails/"],
        }
    )
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "Id": "edgemeter-tiering-0",
                        "Prefix": "media/",
                        "Status": "Enabled",
                        "ObjectSizeGreaterThan": 131072,
                        "Transitions": [
                            {"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": 30},
                            {"StorageClass": "GLACIER", "TransitionInDays": 180},
                        ],
                    },
                    Match.object_like(
                        {
                            "Prefix": "logs/",
                            "Transitions": [{"StorageClass": "DEEP_ARCHIVE", "TransitionInDays": 90}],
                        }
                    ),
                ]
            }
        },
    )


def test_opt_in_tag_mode_filters_rules_and_archive_tiers_by_tag():
    template = tiering_template(
        {
            "enabled": True,
            "tagMode": "opt_in",
            "rules": [
                {"prefix": "", "transitions": [{"storageClass": "INTELLIGENT_TIERING", "afterDays": 0}]}
            ],
            "intelligentTieringArchive": {"archiveAccessDays": 90, "deepArchiveAccessDays": 180},
        }
    )
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": [
                    Match.object_like(
                        {
                            "TagFilters": [{"Key": "edgemeter-tiering", "Value": "auto"}],
                            "Prefix": Match.absent(),
                        }
                    )
                ]
            },
            "IntelligentTieringConfigurations": [
                {
                    "Id": "edgemeter-archive-0",
                    "Status": "Enabled",
                    "TagFilters": [{"Key": "edgemeter-tiering", "Value": "auto"}],
                    "Tierings": [
                        {"AccessTier": "ARCHIVE_ACCESS", "Days": 90},
                        {"AccessTier": "DEEP_ARCHIVE_ACCESS", "Days": 180},
                    ],
                }
            ],
        },
    )


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            {
                "rules": [
                    {"prefix": "media/", "transitions": [{"storageClass": "GLACIER", "afterDays": 30}]}
                ],
                "pinnedPrefixes": ["media/keep/"],
            },
            "cannot exclude",
        ),
        (
            {
                "rules": [
                    {"prefix": "a/", "transitions": [{"storageClass": "GLACIER", "afterDays": 30}]},
                    {"prefix": "a/b/", "transitions": [{"storageClass": "GLACIER", "afterDays": 30}]},
                ]
            },
            "overlap",
        ),
        (
            {
                "rules": [
                    {
                        "transitions": [
                            {"storageClass": "GLACIER", "afterDays": 90},
                            {"storageClass": "INTELLIGENT_TIERING", "afterDays": 30},
                        ]
                    }
                ]
            },
            "increasing",
        ),
        ({"enabled": True}, "names no rules"),
    ],
)
def test_tiering_settings_refuse_what_s3_cannot_do(settings: dict[str, Any], problem: str):
    with pytest.raises(ValidationError, match=problem):
        StorageTieringSettings.model_validate(settings)


def failover_template(settings: dict[str, Any]) -> Template:
    stack = Stack(App(), "Failover")
    primary_bucket = s3.Bucket(stack, "Primary")
    primary = origins.S3BucketOrigin.with_origin_access_control(primary_bucket)
    failover = OriginFailover(
        stack, "Failover", primary=primary, settings=SecondaryOriginSettings.model_validate(settings)
    )
    distribution = cloudfront.Distribution(
        stack,
        "Cdn",
        default_behavior=cloudfront.BehaviorOptions(
            origin=failover.origin_group, allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS
        ),
    )
    for pattern in failover.upload_path_patterns:
        distribution.add_behavior(
            pattern, failover.upload_origin, allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL
        )
    return Template.from_stack(stack)


def test_origin_group_fails_over_on_5xx_and_404_to_an_https_store():
    template = failover_template(
        {"kind": "http", "endpoint": "https://objects.example.net", "pathBucket": "mirror"}
    )
    template.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {
                    "OriginGroups": {
                        "Quantity": 1,
                        "Items": [
                            Match.object_like(
                                {
                                    "FailoverCriteria": {
                                        "StatusCodes": {"Items": [500, 502, 503, 504, 404], "Quantity": 5}
                                    },
                                    "Members": {"Quantity": 2, "Items": Match.any_value()},
                                }
                            )
                        ],
                    },
                    "Origins": Match.array_with(
                        [Match.object_like({"DomainName": "objects.example.net", "OriginPath": "/mirror"})]
                    ),
                    "DefaultCacheBehavior": Match.object_like({"AllowedMethods": ["GET", "HEAD", "OPTIONS"]}),
                    "CacheBehaviors": [
                        Match.object_like(
                            {
                                "PathPattern": "uploads/*",
                                "AllowedMethods": Match.array_with(["PUT", "POST", "DELETE"]),
                            }
                        )
                    ],
                }
            )
        },
    )


def test_secondary_bucket_origin_uses_origin_access_control():
    template = failover_template(
        {"kind": "bucket", "bucketName": "old-media-bucket", "fallbackStatusCodes": [503, 403]}
    )
    template.resource_count_is("AWS::CloudFront::OriginAccessControl", 2)
    template.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {
                    "OriginGroups": Match.object_like(
                        {
                            "Items": [
                                Match.object_like(
                                    {
                                        "FailoverCriteria": {
                                            "StatusCodes": {"Items": [503, 403], "Quantity": 2}
                                        }
                                    }
                                )
                            ]
                        }
                    )
                }
            )
        },
    )


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"kind": "bucket"}, "bucketName"),
        ({"kind": "http", "endpoint": "http://plain.example.net", "pathBucket": "b"}, "https"),
        (
            {
                "kind": "http",
                "endpoint": "https://x.example.net",
                "pathBucket": "b",
                "fallbackStatusCodes": [301],
            },
            "fail over",
        ),
        ({"kind": "bucket", "bucketName": "abc", "uploadPathPatterns": ["*"]}, "upload path pattern"),
    ],
)
def test_secondary_origin_settings_are_validated(settings: dict[str, Any], problem: str):
    with pytest.raises(ValidationError, match=problem):
        SecondaryOriginSettings.model_validate(settings)


def test_bucket_events_reach_the_catalog_function(s3_app: SynthesizedApp):
    template = s3_app.main
    notifications = template.find_resources("Custom::S3BucketNotifications")
    assert len(notifications) == 1
    configuration = next(iter(notifications.values()))["Properties"]["NotificationConfiguration"]
    events = {
        event for entry in configuration["LambdaFunctionConfigurations"] for event in [entry["Events"][0]]
    }
    assert {
        "s3:ObjectCreated:*",
        "s3:ObjectRemoved:*",
        "s3:ObjectRestore:Post",
        "s3:ObjectRestore:Completed",
        "s3:ObjectRestore:Delete",
        "s3:LifecycleTransition",
    } <= events
    targets = {str(entry["LambdaFunctionArn"]) for entry in configuration["LambdaFunctionConfigurations"]}
    assert len(targets) == 1  # one function, the catalog's
    template.has_resource_properties(
        "AWS::Lambda::Function", {"Handler": "functions.catalog.s3_events.handler"}
    )


def test_objects_table_has_the_listing_index_and_ttl(s3_app: SynthesizedApp):
    s3_app.main.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "GlobalSecondaryIndexes": [
                Match.object_like(
                    {
                        "IndexName": LISTING_INDEX_NAME,
                        "KeySchema": [
                            {"AttributeName": "listing_shard", "KeyType": "HASH"},
                            {"AttributeName": "object_key", "KeyType": "RANGE"},
                        ],
                    }
                )
            ],
            "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
        },
    )


def test_credits_role_may_list_the_bucket_so_missing_keys_are_404s(s3_app: SynthesizedApp):
    policies = s3_app.main.find_resources("AWS::IAM::Policy")
    statements = [
        statement
        for policy in policies.values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert any(statement["Action"] == "s3:ListBucket" for statement in statements)
    assert any(
        isinstance(statement["Action"], list)
        and {"s3:GetObject", "s3:RestoreObject"} <= set(statement["Action"])
        for statement in statements
    )


def test_an_authoritative_catalog_cannot_hide_a_secondary_origin():
    from stacks.settings import EdgemeterSettingsError, settings_from_context

    with pytest.raises(EdgemeterSettingsError, match="authoritative"):
        settings_from_context(
            {
                "region": "eu-west-1",
                "originKind": "s3",
                "catalog": {"mode": "authoritative"},
                "secondaryOrigin": {"kind": "bucket", "bucketName": "old-media-bucket"},
            }
        )
