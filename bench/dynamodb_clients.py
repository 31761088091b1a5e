"""The one hook on DynamoDB client creation, kept importable from bench/ for its older callers.

It lives in ``local.dynamodb_capacity.client_hook`` because the partition-faithful capacity layer,
which ``make run`` can switch on, needs it too and the local runtime does not import bench/.
"""

from __future__ import annotations

from local.dynamodb_capacity.client_hook import (
    DYNAMODB_SERVICE_NAME,
    create_unhooked_client,
    hook_new_dynamodb_clients,
)

__all__ = ["DYNAMODB_SERVICE_NAME", "create_unhooked_client", "hook_new_dynamodb_clients"]
