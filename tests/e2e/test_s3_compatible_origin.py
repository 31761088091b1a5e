"""The S3-compatible origin path against a real, independent S3 server (SeaweedFS), and big objects.

SeaweedFS verifies SigV4 against its own identity, so a successful fetch proves the
CDN signs origin requests correctly (as CloudFront's origin access control does).
The 256 MiB transfers check that the CDN streams: its peak RSS (VmHWM of the CDN
process) must grow far less than the object's size.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from local.seaweedfs import SeaweedFS
from tests.e2e.conftest import RunningSystem, peak_rss_bytes

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
BIG_OBJECT_BYTES = 256 * MIB
# Generous headroom for buffers, the cache's bookkeeping and allocator slack; the object is 256 MiB.
MAX_RSS_GROWTH_BYTES = 48 * MIB
_PATTERN = bytes(range(256)) * 4096  # 1 MiB


def _big_body() -> Iterator[bytes]:
    for index in range(BIG_OBJECT_BYTES // MIB):
        # Vary every MiB so a mixed-up chunk order would change the digest.
        yield index.to_bytes(4, "big") + _PATTERN[4:]


def _big_digest() -> str:
    digest = hashlib.sha256()
    for chunk in _big_body():
        digest.update(chunk)
    return digest.hexdigest()


def _origin_client(seaweedfs: SeaweedFS) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=seaweedfs.endpoint_url,
        aws_access_key_id=seaweedfs.access_key_id,
        aws_secret_access_key=seaweedfs.secret_access_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required"),
    )


def test_upload_and_download_through_the_cdn_against_seaweedfs(
    seaweedfs_system: RunningSystem, seaweedfs: SeaweedFS
) -> None:
    account_id, _, api_key = seaweedfs_system.new_account(credits=10)
    body = b"stored in SeaweedFS through the edge\n"
    with httpx.Client(base_url=seaweedfs_system.cdn_url, timeout=60, trust_env=False) as cdn:
        upload = cdn.put(
            "/compat/hello.txt", content=body, headers={"x-api-key": api_key, "content-type": "text/plain"}
        )
        assert upload.status_code == 200, upload.text
        download = cdn.get("/compat/hello.txt", headers={"x-api-key": api_key})
        missing = cdn.get("/compat/absent.txt", headers={"x-api-key": api_key})
    assert download.content == body
    assert download.headers["etag"] == upload.headers["etag"]
    # The object really is in SeaweedFS, written with the CDN's signed request.
    stored = _origin_client(seaweedfs).get_object(Bucket="edgemeter-local", Key="compat/hello.txt")
    assert stored["Body"].read() == body
    assert stored["ContentType"] == "text/plain"
    assert missing.status_code == 404
    # The demo objects were seeded into SeaweedFS too.
    demo_key = seaweedfs_system.state["demo"]["api_key"]
    with httpx.Client(base_url=seaweedfs_system.cdn_url, timeout=60, trust_env=False) as cdn:
        assert cdn.get("/hello.txt", headers={"x-api-key": demo_key}).status_code == 200
    assert seaweedfs_system.balance(account_id) == 10 - 2 - 1 - 1 + 1  # the 404 is refunded


def test_256_mib_upload_and_download_stream_with_flat_memory(seaweedfs_system: RunningSystem) -> None:
    account_id, _, api_key = seaweedfs_system.new_account(credits=1000)
    cdn_pid = seaweedfs_system.child_pids["cdn"]
    expected_digest = _big_digest()
    with httpx.Client(base_url=seaweedfs_system.cdn_url, timeout=600, trust_env=False) as cdn:
        # Warm up the paths (connections, buffers) so the baseline includes steady-state overhead.
        warm = cdn.put("/big/warm.bin", content=b"w" * MIB, headers={"x-api-key": api_key})
        assert warm.status_code == 200
        assert cdn.get("/big/warm.bin", headers={"x-api-key": api_key}).status_code == 200
        baseline = peak_rss_bytes(cdn_pid)

        started = time.monotonic()
        upload = cdn.put(
            "/big/object.bin",
            content=_big_body(),
            headers={"x-api-key": api_key, "content-length": str(BIG_OBJECT_BYTES)},
        )
        upload_seconds = time.monotonic() - started
        assert upload.status_code == 200, upload.text
        after_upload = peak_rss_bytes(cdn_pid)

        digest = hashlib.sha256()
        received = 0
        started = time.monotonic()
        with cdn.stream("GET", "/big/object.bin", headers={"x-api-key": api_key}) as download:
            assert download.status_code == 200
            assert download.headers["x-cache"] == "Miss from cloudfront"  # too big for the cache
            for chunk in download.iter_bytes(MIB):
                digest.update(chunk)
                received += len(chunk)
        download_seconds = time.monotonic() - started
        after_download = peak_rss_bytes(cdn_pid)

    assert received == BIG_OBJECT_BYTES
    assert digest.hexdigest() == expected_digest
    print(  # the measured numbers, for the record (-s shows them)
        f"\nCDN VmHWM baseline {baseline / MIB:.1f} MiB, after 256 MiB upload {after_upload / MIB:.1f} MiB, "
        f"after 256 MiB download {after_download / MIB:.1f} MiB; "
        f"upload {BIG_OBJECT_BYTES / MIB / upload_seconds:.0f} MiB/s, "
        f"download {BIG_OBJECT_BYTES / MIB / download_seconds:.0f} MiB/s"
    )
    assert after_upload - baseline < MAX_RSS_GROWTH_BYTES
    assert after_download - baseline < MAX_RSS_GROWTH_BYTES
    # 1 + 256 for the upload (per started MiB), 1 for the download, 2 + 1 for the warm-up.
    assert seaweedfs_system.balance(account_id) == 1000 - 257 - 1 - 3
