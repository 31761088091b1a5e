"""Catalog settings validation, x-amz-restore parsing, and the S3 origin's error mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from functions.catalog.entries import object_key_from_path
from functions.catalog.origin import (
    ObjectMissingAtOrigin,
    ObjectNotArchived,
    OriginUnavailable,
    RestoreRequestOutcome,
    S3ArchiveOrigin,
    parse_restore_header,
    restore_days_for,
)
from functions.catalog.settings import (
    CATALOG_ENV_VAR,
    CatalogConfigurationError,
    CatalogSettings,
    catalog_settings_from_env,
)


def test_absent_or_disabled_catalog_is_off():
    assert catalog_settings_from_env({}) is None
    assert (
        catalog_settings_from_env({CATALOG_ENV_VAR: json.dumps({"bucket": "abc", "enabled": False})}) is None
    )


def test_settings_are_validated_with_the_variable_named():
    with pytest.raises(CatalogConfigurationError, match=CATALOG_ENV_VAR):
        catalog_settings_from_env({CATALOG_ENV_VAR: json.dumps({"bucket": "abc", "mode": "sometimes"})})
    with pytest.raises(CatalogConfigurationError, match=r"restore\.days"):
        catalog_settings_from_env({CATALOG_ENV_VAR: json.dumps({"bucket": "abc", "restore": {"days": 0}})})


def test_expected_restore_seconds_fall_back_to_glacier():
    settings = CatalogSettings(bucket="abc")
    assert settings.restore.expected_restore_seconds("GLACIER", "Bulk") == 5 * 3600
    assert settings.restore.expected_restore_seconds("SOMETHING_NEW", "Standard") == 3 * 3600
    assert settings.restore.tier_for("DEEP_ARCHIVE") == "Standard"


def test_restore_header_parsing():
    ongoing = parse_restore_header('ongoing-request="true"')
    assert ongoing is not None
    assert ongoing.ongoing is True
    done = parse_restore_header('ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"')
    assert done is not None
    assert (done.ongoing, done.expires_at) == (False, datetime(2012, 12, 21, tzinfo=UTC))
    assert parse_restore_header(None) is None
    assert parse_restore_header("garbage") is None


def test_paths_map_to_keys():
    assert object_key_from_path("/a/b%20c.txt") == "a/b c.txt"
    assert restore_days_for("INTELLIGENT_TIERING", 3) is None
    assert restore_days_for("GLACIER", 3) == 3


def stubbed_origin() -> tuple[S3ArchiveOrigin, Stubber]:
    client = boto3.client("s3", region_name="us-east-1")
    return S3ArchiveOrigin(CatalogSettings(bucket="media-bucket"), client=client), Stubber(client)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(202, RestoreRequestOutcome.STARTED), (200, RestoreRequestOutcome.ALREADY_RESTORED)],
)
def test_restore_status_codes(status: int, outcome: RestoreRequestOutcome):
    origin, stubber = stubbed_origin()
    expected: dict[str, Any] = {
        "Bucket": "media-bucket",
        "Key": "k",
        "RestoreRequest": {"GlacierJobParameters": {"Tier": "Bulk"}, "Days": 2},
    }
    stubber.add_response("restore_object", {"ResponseMetadata": {"HTTPStatusCode": status}}, expected)
    with stubber:
        assert origin.request_restore("k", tier="Bulk", days=2) is outcome


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("RestoreAlreadyInProgress", 409, RestoreRequestOutcome.ALREADY_IN_PROGRESS),
        ("NoSuchKey", 404, ObjectMissingAtOrigin),
        ("InvalidObjectState", 403, ObjectNotArchived),
        ("SlowDown", 503, OriginUnavailable),
    ],
)
def test_restore_errors_become_domain_answers(code: str, status: int, expected: object):
    origin, stubber = stubbed_origin()
    stubber.add_client_error("restore_object", service_error_code=code, http_status_code=status)
    with stubber:
        if isinstance(expected, RestoreRequestOutcome):
            assert origin.request_restore("k", tier="Standard", days=1) is expected
        else:
            with pytest.raises(expected):  # type: ignore[call-overload]
                origin.request_restore("k", tier="Standard", days=1)


def test_expedited_capacity_shortage_falls_back_to_standard():
    origin, stubber = stubbed_origin()
    stubber.add_client_error(
        "restore_object", service_error_code="GlacierExpeditedRetrievalNotAvailable", http_status_code=503
    )
    stubber.add_response(
        "restore_object",
        {"ResponseMetadata": {"HTTPStatusCode": 202}},
        {
            "Bucket": "media-bucket",
            "Key": "k",
            "RestoreRequest": {"GlacierJobParameters": {"Tier": "Standard"}, "Days": 1},
        },
    )
    with stubber:
        assert origin.request_restore("k", tier="Expedited", days=1) is RestoreRequestOutcome.STARTED


def test_head_reports_restore_state():
    origin, stubber = stubbed_origin()
    stubber.add_response(
        "head_object",
        {"ContentLength": 5, "ETag": '"abc"', "StorageClass": "GLACIER", "Restore": 'ongoing-request="true"'},
    )
    stubber.add_client_error("head_object", service_error_code="404", http_status_code=404)
    with stubber:
        head = origin.head("k")
        assert head is not None
        assert (head.listed.etag, head.listed.restore_in_progress) == ("abc", True)
        assert origin.head("missing") is None
