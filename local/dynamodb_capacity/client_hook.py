"""Reach every DynamoDB client this process creates, including the ones libraries create.

boto3 and pynamodb each create their DynamoDB clients inside their own code, so there is no
argument to pass event handlers through. ``hook_new_dynamodb_clients(attach)`` wraps
``botocore.session.Session.create_client`` for the duration of a block and hands each new
DynamoDB client to ``attach``, which registers its botocore event handlers on it. The
benchmarks count calls this way (bench/dynamodb_counting.py), the reliability tests inject
faults this way (tests/reliability/faults.py) and the partition-faithful capacity layer meters
and throttles this way (local/dynamodb_capacity/layer.py).

Clients created before the block are not seen: create (or bind) them inside it. Blocks nest:
each restores what it found, so they must be left in the reverse order they were entered, as
``with`` statements are. ``create_unhooked_client`` makes a client no block sees (the layer's
own DescribeTable calls must be neither counted, throttled nor delayed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import botocore.session
from botocore.client import BaseClient

DYNAMODB_SERVICE_NAME = "dynamodb"

# What botocore itself defines, captured before any block wraps it.
_UNHOOKED_CREATE_CLIENT = botocore.session.Session.create_client


@contextmanager
def hook_new_dynamodb_clients(attach: Callable[[BaseClient], None]) -> Iterator[None]:
    """Call ``attach(client)`` for every DynamoDB client created inside the block (all threads)."""
    create_client_before = botocore.session.Session.create_client

    def create_hooked_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
        client = create_client_before(self, *args, **kwargs)
        if client.meta.service_model.service_name == DYNAMODB_SERVICE_NAME:
            attach(client)
        return client

    botocore.session.Session.create_client = create_hooked_client  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore.session.Session.create_client = create_client_before  # type: ignore[method-assign]


def create_unhooked_client(**kwargs: Any) -> Any:
    """A botocore client that no ``hook_new_dynamodb_clients`` block attaches to."""
    return _UNHOOKED_CREATE_CLIENT(botocore.session.get_session(), **kwargs)
