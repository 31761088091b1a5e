"""The deploy-time custom resource that bakes settings into Lambda@Edge packages (no AWS: a fake client)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any, ClassVar

import pytest

from stacks.edge_settings_writer import handler as writer

SETTINGS_FILE = "functions/edge_auth/config.json"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:edge-viewer-request"


def _package(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _files(package: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


class AccessDenied(Exception):
    """What botocore raises while a just-attached IAM policy has not propagated yet."""

    response: ClassVar[dict[str, Any]] = {"Error": {"Code": "AccessDeniedException"}}


class FakeLambda:
    """Records the calls the writer makes; the update goes through one InProgress poll."""

    def __init__(self, package: bytes) -> None:
        self.package = package
        self.uploaded: bytes | None = None
        self.published_with: dict[str, Any] | None = None
        self._statuses = ["Successful", "Successful", "InProgress", "Successful"]
        self.access_denials = 0

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        if self.access_denials:
            self.access_denials -= 1
            raise AccessDenied
        return {"LastUpdateStatus": self._statuses.pop(0) if self._statuses else "Successful"}

    def get_function(self, FunctionName: str) -> dict[str, Any]:
        assert FunctionName == FUNCTION_ARN
        return {"Code": {"Location": "https://code.example/presigned"}}

    def update_function_code(self, FunctionName: str, ZipFile: bytes, Publish: bool) -> dict[str, Any]:
        assert not Publish
        self.uploaded = ZipFile
        return {"CodeSha256": "sha-of-upload"}

    def publish_version(self, **arguments: Any) -> dict[str, Any]:
        self.published_with = arguments
        return {"FunctionArn": f"{FUNCTION_ARN}:7"}


def test_settings_file_is_added_and_other_entries_kept() -> None:
    original = _package({"functions/edge_auth/viewer_request.py": "print('hi')", "functions/__init__.py": ""})
    rewritten = _files(writer.with_settings_file(original, SETTINGS_FILE, '{"a": 1}'))
    assert rewritten == {
        "functions/edge_auth/viewer_request.py": "print('hi')",
        "functions/__init__.py": "",
        SETTINGS_FILE: '{"a": 1}',
    }


def test_settings_file_is_replaced_not_duplicated() -> None:
    original = _package({SETTINGS_FILE: '{"old": true}', "x.py": ""})
    rewritten = writer.with_settings_file(original, SETTINGS_FILE, '{"new": true}')
    with zipfile.ZipFile(io.BytesIO(rewritten)) as archive:
        assert [info.filename for info in archive.infolist()].count(SETTINGS_FILE) == 1
    assert json.loads(_files(rewritten)[SETTINGS_FILE]) == {"new": True}


def test_same_settings_give_the_same_package_bytes() -> None:
    original = _package({"x.py": "pass"})
    assert writer.with_settings_file(original, SETTINGS_FILE, "{}") == writer.with_settings_file(
        original, SETTINGS_FILE, "{}"
    )


def test_settings_that_are_not_json_are_refused() -> None:
    with pytest.raises(json.JSONDecodeError):
        writer.with_settings_file(_package({"x.py": ""}), SETTINGS_FILE, "{not json")


def test_publish_uploads_the_baked_package_and_pins_the_version_to_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("time.sleep", lambda _seconds: None)
    fake = FakeLambda(_package({"functions/edge_auth/viewer_request.py": "pass"}))
    fake.access_denials = 2  # the role's new policy is not visible yet
    monkeypatch.setattr(writer, "_download", lambda url: fake.package)
    version_arn = writer.publish_with_settings(fake, FUNCTION_ARN, SETTINGS_FILE, '{"k": "v"}')
    assert version_arn == f"{FUNCTION_ARN}:7"
    assert fake.uploaded is not None
    assert _files(fake.uploaded)[SETTINGS_FILE] == '{"k": "v"}'
    assert fake.published_with is not None
    assert fake.published_with["CodeSha256"] == "sha-of-upload"
    assert fake.published_with["FunctionName"] == FUNCTION_ARN


def test_failed_code_update_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeLambda(_package({"x.py": ""}))
    fake._statuses = ["Successful", "Successful", "Failed"]
    monkeypatch.setattr(writer, "_download", lambda url: fake.package)
    with pytest.raises(writer.EdgePackageError, match="code update failed"):
        writer.publish_with_settings(fake, FUNCTION_ARN, SETTINGS_FILE, "{}")
    assert fake.published_with is None


def test_version_arn_becomes_the_function_arn() -> None:
    assert writer.unqualified_function_arn(f"{FUNCTION_ARN}:12") == FUNCTION_ARN
    assert writer.unqualified_function_arn(FUNCTION_ARN) == FUNCTION_ARN
    with pytest.raises(writer.EdgePackageError):
        writer.unqualified_function_arn("arn:aws:s3:::bucket")


def test_every_outcome_is_reported_to_cloudformation(monkeypatch: pytest.MonkeyPatch) -> None:
    responses: list[tuple[str, str, dict[str, str]]] = []

    def record(
        event: dict[str, Any], status: str, physical_id: str, data: dict[str, str], reason: str
    ) -> None:
        responses.append((status, physical_id, data))

    monkeypatch.setattr(writer, "_respond", record)
    event: dict[str, Any] = {
        "RequestType": "Create",
        "ResourceProperties": {
            "FunctionArn": "not-an-arn",
            "SettingsFileName": SETTINGS_FILE,
            "SettingsJson": "{}",
        },
    }
    writer.handler(event, None)
    writer.handler({"RequestType": "Delete", "PhysicalResourceId": f"{FUNCTION_ARN}:3"}, None)
    assert responses == [("FAILED", "edge-settings-not-created", {}), ("SUCCESS", f"{FUNCTION_ARN}:3", {})]


def test_access_denied_that_persists_is_not_retried_forever(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(0, 10_000, 30))
    monkeypatch.setattr("time.monotonic", lambda: float(next(clock)))
    monkeypatch.setattr("time.sleep", lambda _seconds: None)
    fake = FakeLambda(_package({"x.py": ""}))
    fake.access_denials = 1_000
    with pytest.raises(AccessDenied):
        writer.publish_with_settings(fake, FUNCTION_ARN, SETTINGS_FILE, "{}")
    assert fake.uploaded is None
