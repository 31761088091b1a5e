"""The origin bucket as the catalog needs it: HEAD, RestoreObject and a paged listing.

A thin layer over boto3's S3 client that answers in domain terms: S3's status codes and
error codes (RestoreObject: 202 started, 200 already restored, 409 RestoreAlreadyInProgress)
become ``RestoreRequestOutcome`` values or domain exceptions; nothing botocore leaks out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from functions.catalog.entries import INTELLIGENT_TIERING, STANDARD, ListedObject
from functions.catalog.settings import CatalogSettings, RestoreTier

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import RestoreRequestTypeDef


class OriginUnavailable(Exception):
    """The origin could not answer (timeout, 5xx, throttling, credentials)."""


class ObjectMissingAtOrigin(Exception):
    """The origin has no such key."""


class ObjectNotArchived(Exception):
    """RestoreObject was refused because the object is not in an archive class: it is readable."""


class RestoreRequestOutcome(StrEnum):
    STARTED = "started"  # 202
    ALREADY_RESTORED = "already_restored"  # 200: a restored copy exists
    ALREADY_IN_PROGRESS = "already_in_progress"  # 409 RestoreAlreadyInProgress


@dataclass(frozen=True)
class RestoreStatus:
    """What ``x-amz-restore`` says: ``ongoing-request="true"`` or ``"false", expiry-date="..."``."""

    ongoing: bool
    expires_at: datetime | None


_ONGOING = re.compile(r'ongoing-request\s*=\s*"(?P<ongoing>true|false)"', re.IGNORECASE)
_EXPIRY = re.compile(r'expiry-date\s*=\s*"(?P<date>[^"]+)"', re.IGNORECASE)


def parse_restore_header(value: str | None) -> RestoreStatus | None:
    """Parse S3's ``x-amz-restore`` header value; None when absent or unreadable."""
    if not value:
        return None
    ongoing = _ONGOING.search(value)
    if ongoing is None:
        return None
    expiry = _EXPIRY.search(value)
    expires_at: datetime | None = None
    if expiry is not None:
        try:
            expires_at = parsedate_to_datetime(expiry["date"])
        except (TypeError, ValueError):
            expires_at = None
    return RestoreStatus(ongoing=ongoing["ongoing"].lower() == "true", expires_at=expires_at)


@dataclass(frozen=True)
class ObjectHead:
    """A HEAD of one object, reduced to what the catalog stores."""

    listed: ListedObject
    restore: RestoreStatus | None


class ArchiveOrigin(Protocol):
    def head(self, key: str) -> ObjectHead | None:
        """HEAD ``key``; None when the origin has no such key."""

    def request_restore(self, key: str, *, tier: RestoreTier, days: int | None) -> RestoreRequestOutcome:
        """Issue one RestoreObject (``days`` None for Intelligent-Tiering archive tiers)."""

    def list_objects(self, prefix: str = "") -> Iterator[ListedObject]:
        """Every object under ``prefix`` in the store's key order, one page at a time."""


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _status_code(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _strip_etag(etag: str | None) -> str:
    return (etag or "").strip('"')


class S3ArchiveOrigin:
    """``ArchiveOrigin`` on S3 (or an S3-compatible endpoint, path-style)."""

    def __init__(self, settings: CatalogSettings, client: S3Client | None = None) -> None:
        self._bucket = settings.bucket
        self._settings = settings
        self._s3: S3Client | None = client

    @property
    def _client(self) -> S3Client:
        # Built on first use, not at cold start: most authorizations never reach the origin, and an
        # S3 client costs tens of milliseconds to build.
        if self._s3 is None:
            settings = self._settings
            self._s3 = boto3.client(
                "s3",
                region_name=settings.region,
                endpoint_url=settings.s3_endpoint,
                config=Config(
                    connect_timeout=settings.s3_timeout_seconds,
                    read_timeout=settings.s3_timeout_seconds,
                    retries={"mode": "standard", "max_attempts": 2},
                    s3={"addressing_style": "path"} if settings.s3_endpoint else {},
                ),
            )
        return self._s3

    def head(self, key: str) -> ObjectHead | None:
        try:
            reply: Any = self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if _status_code(error) == 404 or _error_code(error) in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise OriginUnavailable(f"HEAD failed: {_error_code(error)}") from error
        except BotoCoreError as error:
            raise OriginUnavailable(f"HEAD failed: {error}") from error
        restore = parse_restore_header(reply.get("Restore"))
        listed = ListedObject(
            key=key,
            size=int(reply.get("ContentLength", 0)),
            etag=_strip_etag(reply.get("ETag")),
            storage_class=reply.get("StorageClass") or STANDARD,
            last_modified=reply.get("LastModified"),
            content_type=reply.get("ContentType"),
            archive_status=reply.get("ArchiveStatus"),
            restore_in_progress=bool(restore and restore.ongoing),
            restored_until=restore.expires_at if restore and not restore.ongoing else None,
        )
        return ObjectHead(listed=listed, restore=restore)

    def _restore_object(self, key: str, tier: RestoreTier, days: int | None) -> int:
        request: RestoreRequestTypeDef = {"GlacierJobParameters": {"Tier": tier}}
        if days is not None:
            request["Days"] = days
        reply: Any = self._client.restore_object(Bucket=self._bucket, Key=key, RestoreRequest=request)
        return int(reply["ResponseMetadata"]["HTTPStatusCode"])

    def request_restore(self, key: str, *, tier: RestoreTier, days: int | None) -> RestoreRequestOutcome:
        try:
            try:
                status = self._restore_object(key, tier, days)
            except ClientError as error:
                # Expedited capacity is not guaranteed; S3 says so with this code: fall back to Standard.
                if _error_code(error) != "GlacierExpeditedRetrievalNotAvailable" or tier == "Standard":
                    raise
                status = self._restore_object(key, "Standard", days)
        except ClientError as error:
            code = _error_code(error)
            if code == "RestoreAlreadyInProgress":
                return RestoreRequestOutcome.ALREADY_IN_PROGRESS
            if code in {"NoSuchKey", "404"}:
                raise ObjectMissingAtOrigin(key) from error
            if code == "InvalidObjectState":
                raise ObjectNotArchived(key) from error
            raise OriginUnavailable(f"RestoreObject failed: {code or _status_code(error)}") from error
        except BotoCoreError as error:
            raise OriginUnavailable(f"RestoreObject failed: {error}") from error
        return RestoreRequestOutcome.ALREADY_RESTORED if status == 200 else RestoreRequestOutcome.STARTED

    def list_objects(self, prefix: str = "") -> Iterator[ListedObject]:
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self._bucket,
            Prefix=prefix,
            # Restore state in the listing itself, where the store supports it (S3 does).
            OptionalObjectAttributes=["RestoreStatus"],
        )
        try:
            for page in pages:
                for listed in page.get("Contents", []):
                    restore_status: Any = listed.get("RestoreStatus") or {}
                    yield ListedObject(
                        key=listed["Key"],
                        size=int(listed.get("Size", 0)),
                        etag=_strip_etag(listed.get("ETag")),
                        storage_class=str(listed.get("StorageClass") or STANDARD),
                        last_modified=listed.get("LastModified"),
                        restore_in_progress=bool(restore_status.get("IsRestoreInProgress", False)),
                        restored_until=restore_status.get("RestoreExpiryDate"),
                    )
        except ClientError as error:
            raise OriginUnavailable(f"ListObjectsV2 failed: {_error_code(error)}") from error
        except BotoCoreError as error:
            raise OriginUnavailable(f"ListObjectsV2 failed: {error}") from error


def restore_days_for(storage_class: str | None, days: int) -> int | None:
    """Intelligent-Tiering archive tiers refuse a Days element: the restored copy lasts 3 days there."""
    return None if storage_class == INTELLIGENT_TIERING else days
