"""Unit tests run with sockets blocked: logic is tested against in-memory fakes."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _sockets_blocked(socket_disabled: None) -> None:
    """Any network use in a unit test fails it."""
