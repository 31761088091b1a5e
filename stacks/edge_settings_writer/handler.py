"""Custom resource: write a settings file into a Lambda@Edge function's package and publish a version.

Lambda@Edge has no environment variables, and the values the edge needs (the
credits API URL above all) exist only once the main stack deploys. So the edge
function is first created with its plain code (stacks/, us-east-1), then this
handler, at deploy time:

1. downloads the function's current code (GetFunction's pre-signed ``Code.Location``),
2. replaces ``SettingsFileName`` in the zip with ``SettingsJson``,
3. uploads it (UpdateFunctionCode), waits for the update to finish,
4. publishes a numbered version and returns its ARN as ``VersionArn``; the
   CloudFront distribution is associated with that version.

Standard library plus boto3 (both in the Lambda runtime). Deleting the resource
leaves published versions alone: CloudFront replicas may still run them, and
they go with the function when the edge stack is deleted.
"""

from __future__ import annotations

import io
import json
import time
import urllib.request
import zipfile
from typing import Any

import boto3

# Lambda states an update passes through before PublishVersion may be called.
_UPDATE_POLL_SECONDS = 2.0
_UPDATE_TIMEOUT_SECONDS = 180.0
_DOWNLOAD_TIMEOUT_SECONDS = 60.0
_PERMISSION_PROPAGATION_SECONDS = 60.0
# Fixed timestamp for the written entry: the same settings give the same zip bytes.
_ZIP_ENTRY_DATE_TIME = (1980, 1, 1, 0, 0, 0)


class EdgePackageError(RuntimeError):
    """The edge package could not be updated; the message goes to CloudFormation."""


def unqualified_function_arn(function_or_version_arn: str) -> str:
    """``arn:aws:lambda:us-east-1:123:function:name[:version]`` without the version."""
    parts = function_or_version_arn.split(":")
    if len(parts) < 7 or parts[2] != "lambda" or parts[5] != "function":
        raise EdgePackageError(f"not a Lambda function ARN: {function_or_version_arn!r}")
    return ":".join(parts[:7])


def with_settings_file(package_zip: bytes, settings_file_name: str, settings_json: str) -> bytes:
    """The package with ``settings_file_name`` (re)written; every other entry copied unchanged."""
    json.loads(settings_json)  # refuse to ship a settings file the function could not parse
    source = zipfile.ZipFile(io.BytesIO(package_zip))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            if entry.filename != settings_file_name:
                target.writestr(entry, source.read(entry.filename))
        settings_entry = zipfile.ZipInfo(settings_file_name, date_time=_ZIP_ENTRY_DATE_TIME)
        settings_entry.external_attr = 0o644 << 16  # readable by the runtime user
        settings_entry.compress_type = zipfile.ZIP_DEFLATED
        target.writestr(settings_entry, settings_json)
    return output.getvalue()


def _download(url: str) -> bytes:
    if not url.startswith("https://"):
        raise EdgePackageError("GetFunction returned a non-https code location")
    with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_SECONDS) as response:  # noqa: S310 (https checked above)
        body: bytes = response.read()
        return body


def _wait_for_update(lambda_client: Any, function_arn: str) -> None:
    deadline = time.monotonic() + _UPDATE_TIMEOUT_SECONDS
    while True:
        configuration = lambda_client.get_function_configuration(FunctionName=function_arn)
        status = configuration.get("LastUpdateStatus", "Successful")
        if status == "Successful":
            return
        if status == "Failed":
            raise EdgePackageError(f"code update failed: {configuration.get('LastUpdateStatusReason')}")
        if time.monotonic() > deadline:
            raise EdgePackageError(f"code update still {status} after {_UPDATE_TIMEOUT_SECONDS:.0f}s")
        time.sleep(_UPDATE_POLL_SECONDS)


def _wait_for_permissions(lambda_client: Any, function_arn: str) -> None:
    """Ride out IAM propagation: this role's policy was attached moments before the first call."""
    deadline = time.monotonic() + _PERMISSION_PROPAGATION_SECONDS
    while True:
        try:
            lambda_client.get_function_configuration(FunctionName=function_arn)
            return
        except Exception as error:
            code = getattr(error, "response", {}).get("Error", {}).get("Code")
            if code != "AccessDeniedException" or time.monotonic() > deadline:
                raise
            time.sleep(_UPDATE_POLL_SECONDS)


def publish_with_settings(
    lambda_client: Any, function_arn: str, settings_file_name: str, settings_json: str
) -> str:
    """Steps 1-4 of the module docstring; returns the published version's ARN."""
    _wait_for_permissions(lambda_client, function_arn)
    _wait_for_update(lambda_client, function_arn)  # a stack update may still be applying new code
    current = lambda_client.get_function(FunctionName=function_arn)
    package = with_settings_file(_download(current["Code"]["Location"]), settings_file_name, settings_json)
    updated = lambda_client.update_function_code(FunctionName=function_arn, ZipFile=package, Publish=False)
    _wait_for_update(lambda_client, function_arn)
    # CodeSha256 pins the version to exactly the package uploaded above.
    version = lambda_client.publish_version(
        FunctionName=function_arn,
        CodeSha256=updated["CodeSha256"],
        Description="edgemeter settings baked at deploy time",
    )
    version_arn: str = version["FunctionArn"]
    return version_arn


def _respond(event: dict[str, Any], status: str, physical_id: str, data: dict[str, str], reason: str) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:3000],
            "PhysicalResourceId": physical_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": data,
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 (CloudFormation's pre-signed https URL)
        event["ResponseURL"], data=body, method="PUT", headers={"content-type": ""}
    )
    with urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT_SECONDS):  # noqa: S310
        pass


def handler(event: dict[str, Any], context: Any) -> None:
    """CloudFormation custom resource entry point (responds through the pre-signed ResponseURL)."""
    physical_id = event.get("PhysicalResourceId", "edge-settings-not-created")
    request_type = event["RequestType"]
    try:
        if request_type == "Delete":
            _respond(event, "SUCCESS", physical_id, {}, "published versions are kept for CloudFront replicas")
            return
        properties = event["ResourceProperties"]
        function_arn = unqualified_function_arn(properties["FunctionArn"])
        lambda_client = boto3.client("lambda", region_name=function_arn.split(":")[3])
        version_arn = publish_with_settings(
            lambda_client, function_arn, properties["SettingsFileName"], properties["SettingsJson"]
        )
        _respond(event, "SUCCESS", version_arn, {"VersionArn": version_arn}, "settings baked")
    except Exception as error:  # noqa: BLE001 (any failure must reach CloudFormation, or the stack hangs)
        print(json.dumps({"level": "ERROR", "message": "edge settings update failed", "error": repr(error)}))
        _respond(event, "FAILED", physical_id, {}, f"{type(error).__name__}: {error}")
