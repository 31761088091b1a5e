"""Where ``make run`` serves by default, and the placeholder credentials its services accept.

The CLI reaches the local runtime with these without importing it (cli must not import
local: docs/decisions.md, "Layout and packaging"); local/config.py builds its defaults from
the same constants, so the two cannot drift apart. A local config file or flags that move
the runtime elsewhere are matched with the CLI's own options (--api, --s3-endpoint,
--dynamodb-endpoint).
"""

from __future__ import annotations

LOCAL_HOST = "127.0.0.1"  # loopback only, by design
LOCAL_CDN_PORT = 8080
LOCAL_CREDITS_PORT = 8081
LOCAL_ORIGIN_PORT = 9000
LOCAL_DYNAMODB_PORT = 8000
LOCAL_BUCKET = "edgemeter-local"
LOCAL_REGION = "us-east-1"
# Public placeholders, like DynamoDB Local's: the local credits API accepts exactly these, and
# DynamoDB Local and the local origin accept them (so botocore never looks for real ones).
LOCAL_ACCESS_KEY_ID = "local"
LOCAL_SECRET_ACCESS_KEY = "local"  # noqa: S105 - a public placeholder, not a secret


def local_url(port: int) -> str:
    """The URL of a local service on ``port``."""
    return f"http://{LOCAL_HOST}:{port}"


LOCAL_DYNAMODB_URL = local_url(LOCAL_DYNAMODB_PORT)
LOCAL_ORIGIN_URL = local_url(LOCAL_ORIGIN_PORT)
