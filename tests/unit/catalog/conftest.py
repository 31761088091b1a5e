"""Fixtures shared by the catalog unit tests: an empty in-memory catalog and a scripted origin."""

from __future__ import annotations

import pytest

from functions.catalog.memory_store import InMemoryObjectCatalog
from tests.unit.catalog.fakes import NOW, FakeArchiveOrigin


@pytest.fixture
def catalog() -> InMemoryObjectCatalog:
    return InMemoryObjectCatalog()


@pytest.fixture
def origin() -> FakeArchiveOrigin:
    return FakeArchiveOrigin(NOW)
