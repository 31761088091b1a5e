"""Storage tiering of the content bucket: lifecycle transitions to cheaper classes, with exemptions.

S3 lifecycle filters select by prefix, object tags (all must match) and object size; they
cannot negate ("everything except prefix X" or "except objects tagged pinned" is not
expressible). So exemptions are designed the other way round, and checked at synth time:

* **explicit tierable prefixes**: every rule names the prefix it tiers (``""`` is the whole
  bucket). ``pinnedPrefixes`` are the prefixes that must never tier; a rule whose prefix
  contains a pinned prefix fails the synth, because S3 could not honour the exemption;
* **opt-in tag** (``tagMode: "opt_in"``): a rule then also requires the tag
  ``tagKey=tagValue`` (default ``edgemeter-tiering=auto``): untagged objects, or objects
  re-tagged to any other value (e.g. ``pinned``), are exempt.

Archived objects (GLACIER, DEEP_ARCHIVE, Intelligent-Tiering archive tiers) are restored on
demand by the catalog (functions/catalog/access.py); a GET meanwhile answers 503 + Retry-After.
"""

from __future__ import annotations

from typing import Literal, Self

from aws_cdk import Duration
from aws_cdk import aws_s3 as s3
from constructs import Construct
from pydantic import BaseModel, ConfigDict, Field, model_validator

TierStorageClass = Literal["STANDARD_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"]
_STORAGE_CLASSES: dict[str, s3.StorageClass] = {
    "STANDARD_IA": s3.StorageClass.INFREQUENT_ACCESS,
    "INTELLIGENT_TIERING": s3.StorageClass.INTELLIGENT_TIERING,
    "GLACIER_IR": s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
    "GLACIER": s3.StorageClass.GLACIER,
    "DEEP_ARCHIVE": s3.StorageClass.DEEP_ARCHIVE,
}
# S3 itself skips transitions of objects under 128 KiB by default; per-object transition fees
# make tiering small objects a loss, so rules say so explicitly.
DEFAULT_MIN_OBJECT_BYTES = 128 * 1024


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TierTransition(_Settings):
    storage_class: TierStorageClass = Field(alias="storageClass")
    after_days: int = Field(alias="afterDays", ge=0, le=36_500)


class TieringRule(_Settings):
    """Objects under ``prefix`` move through ``transitions`` as they age."""

    prefix: str = Field(default="", max_length=1024, description='"" tiers the whole bucket')
    transitions: tuple[TierTransition, ...] = Field(min_length=1)
    min_object_bytes: int = Field(default=DEFAULT_MIN_OBJECT_BYTES, ge=0, alias="minObjectBytes")

    @model_validator(mode="after")
    def _ages_increase(self) -> Self:
        ages = [transition.after_days for transition in self.transitions]
        if ages != sorted(ages) or len(set(ages)) != len(ages):
            raise ValueError("transitions must be listed by increasing afterDays")
        return self


class IntelligentTieringArchive(_Settings):
    """Intelligent-Tiering's opt-in archive tiers (objects not read for N days)."""

    archive_access_days: int | None = Field(default=None, ge=90, le=730, alias="archiveAccessDays")
    deep_archive_access_days: int | None = Field(default=None, ge=180, le=730, alias="deepArchiveAccessDays")

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        if self.archive_access_days is None and self.deep_archive_access_days is None:
            raise ValueError("name archiveAccessDays, deepArchiveAccessDays or both")
        if (
            self.archive_access_days is not None
            and self.deep_archive_access_days is not None
            and self.deep_archive_access_days <= self.archive_access_days
        ):
            raise ValueError("deepArchiveAccessDays must be more than archiveAccessDays")
        return self


class StorageTieringSettings(_Settings):
    """``edgemeter:tiering`` in cdk.json."""

    enabled: bool = False
    rules: tuple[TieringRule, ...] = ()
    pinned_prefixes: tuple[str, ...] = Field(default=(), alias="pinnedPrefixes")
    tag_mode: Literal["none", "opt_in"] = Field(default="none", alias="tagMode")
    tag_key: str = Field(default="edgemeter-tiering", alias="tagKey", min_length=1, max_length=128)
    tag_value: str = Field(default="auto", alias="tagValue", max_length=256)
    intelligent_tiering_archive: IntelligentTieringArchive | None = Field(
        default=None, alias="intelligentTieringArchive"
    )

    @model_validator(mode="after")
    def _exemptions_are_expressible(self) -> Self:
        if self.enabled and not self.rules and self.intelligent_tiering_archive is None:
            raise ValueError("tiering is enabled but names no rules and no intelligentTieringArchive")
        prefixes = [rule.prefix for rule in self.rules]
        if len(set(prefixes)) != len(prefixes):
            raise ValueError("each rule needs its own prefix")
        for rule in self.rules:
            for other in self.rules:
                if other is not rule and other.prefix.startswith(rule.prefix):
                    raise ValueError(
                        f"rule prefixes {rule.prefix!r} and {other.prefix!r} overlap: S3 would apply both"
                    )
            for pinned in self.pinned_prefixes:
                if pinned.startswith(rule.prefix):
                    raise ValueError(
                        f"pinned prefix {pinned!r} lies inside tierable prefix {rule.prefix!r}; S3 lifecycle "
                        "filters cannot exclude it: narrow the rule's prefix or use tagMode opt_in"
                    )
        if self.intelligent_tiering_archive is not None and not self.rules and self.pinned_prefixes:
            raise ValueError(
                "intelligentTieringArchive without rules covers the whole bucket, pinned prefixes included; "
                "add rules with tierable prefixes"
            )
        return self


class StorageTiering(Construct):
    """Adds the lifecycle rules (and Intelligent-Tiering archive configuration) to ``bucket``."""

    def __init__(
        self, scope: Construct, construct_id: str, *, bucket: s3.Bucket, settings: StorageTieringSettings
    ) -> None:
        super().__init__(scope, construct_id)
        tag_filters = {settings.tag_key: settings.tag_value} if settings.tag_mode == "opt_in" else None
        for number, rule in enumerate(settings.rules):
            bucket.add_lifecycle_rule(
                id=f"edgemeter-tiering-{number}",
                prefix=rule.prefix or None,
                tag_filters=tag_filters,
                object_size_greater_than=rule.min_object_bytes or None,
                transitions=[
                    s3.Transition(
                        storage_class=_STORAGE_CLASSES[transition.storage_class],
                        transition_after=Duration.days(transition.after_days),
                    )
                    for transition in rule.transitions
                ],
            )
        archive = settings.intelligent_tiering_archive
        if archive is not None:
            tierings = []
            if archive.archive_access_days is not None:
                tierings.append(
                    s3.CfnBucket.TieringProperty(
                        access_tier="ARCHIVE_ACCESS", days=archive.archive_access_days
                    )
                )
            if archive.deep_archive_access_days is not None:
                tierings.append(
                    s3.CfnBucket.TieringProperty(
                        access_tier="DEEP_ARCHIVE_ACCESS", days=archive.deep_archive_access_days
                    )
                )
            cfn_bucket = bucket.node.default_child
            assert isinstance(cfn_bucket, s3.CfnBucket)
            # The L2 bucket has no setter for this; one configuration per tierable prefix (or the bucket).
            cfn_bucket.intelligent_tiering_configurations = [
                s3.CfnBucket.IntelligentTieringConfigurationProperty(
                    id=f"edgemeter-archive-{number}",
                    status="Enabled",
                    prefix=prefix or None,
                    tag_filters=(
                        [s3.CfnBucket.TagFilterProperty(key=settings.tag_key, value=settings.tag_value)]
                        if tag_filters
                        else None
                    ),
                    tierings=tierings,
                )
                for number, prefix in enumerate([rule.prefix for rule in settings.rules] or [""])
            ]
