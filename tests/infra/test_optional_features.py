"""Optional features of the S3 deployment: storage tiering and a secondary (failover) origin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stacks.settings import EdgemeterSettingsError, settings_from_context
from tests.infra.conftest import CUSTOM_ORIGIN_CONTEXT, SynthesizedApp, synthesize

TIERING = {
    "enabled": True,
    "rules": [{"prefix": "archive/", "transitions": [{"storageClass": "GLACIER", "afterDays": 30}]}],
    "pinnedPrefixes": ["hot/"],
}
SECONDARY_ORIGIN = {"kind": "bucket", "bucketName": "edgemeter-old-objects", "bucketRegion": "eu-west-1"}


@pytest.fixture(scope="module")
def featured_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    return synthesize(
        {"edgemeter:tiering": TIERING, "edgemeter:secondaryOrigin": SECONDARY_ORIGIN},
        Path(tmp_path_factory.mktemp("cdk-featured")),
    )


def _distribution_config(app: SynthesizedApp) -> dict[str, Any]:
    (distribution,) = app.main.find_resources("AWS::CloudFront::Distribution").values()
    config: dict[str, Any] = distribution["Properties"]["DistributionConfig"]
    return config


def test_tiering_adds_lifecycle_transitions_to_the_content_bucket(featured_app: SynthesizedApp) -> None:
    buckets = featured_app.main.find_resources("AWS::S3::Bucket")
    (content,) = [bucket for logical_id, bucket in buckets.items() if logical_id.startswith("ContentBucket")]
    rules = content["Properties"]["LifecycleConfiguration"]["Rules"]
    (tiering_rule,) = [rule for rule in rules if rule.get("Id", "").startswith("edgemeter-tiering")]
    assert tiering_rule["Prefix"] == "archive/"
    assert tiering_rule["Transitions"] == [{"StorageClass": "GLACIER", "TransitionInDays": 30}]


def test_reads_fail_over_and_uploads_go_to_the_primary(featured_app: SynthesizedApp) -> None:
    config = _distribution_config(featured_app)
    (group,) = config["OriginGroups"]["Items"]
    codes = group["FailoverCriteria"]["StatusCodes"]["Items"]
    assert sorted(codes) == [404, 500, 502, 503, 504]
    default = config["DefaultCacheBehavior"]
    assert sorted(default["AllowedMethods"]) == ["GET", "HEAD", "OPTIONS"]
    (uploads,) = config["CacheBehaviors"]
    assert uploads["PathPattern"] == "uploads/*"
    assert "PUT" in uploads["AllowedMethods"]
    # Uploads are authorized and charged like every other request.
    assert {association["EventType"] for association in uploads["LambdaFunctionAssociations"]} == {
        "viewer-request",
        "origin-response",
    }
    assert uploads["ViewerProtocolPolicy"] == "https-only"


def test_tiering_is_refused_for_a_custom_origin() -> None:
    context = {
        "region": "eu-west-1",
        "originKind": "custom",
        "customOrigin": CUSTOM_ORIGIN_CONTEXT["edgemeter:customOrigin"],
        "tiering": TIERING,
    }
    with pytest.raises(EdgemeterSettingsError, match="edgemeter:tiering sets lifecycle rules"):
        settings_from_context(context)


def test_pinned_prefix_inside_a_tierable_prefix_is_refused() -> None:
    tiering = TIERING | {"pinnedPrefixes": ["archive/keep/"]}
    with pytest.raises(EdgemeterSettingsError, match="cannot exclude it") as raised:
        settings_from_context({"region": "eu-west-1", "originKind": "s3", "tiering": tiering})
    assert "edgemeter:tiering" in str(raised.value)
