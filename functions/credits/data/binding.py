"""Per-store table bindings: home's store and N regional stores in one process (issue 15).

pynamodb keeps a model's table name, region and endpoint on its class (``Meta``) and caches one
connection per class, so by itself a process reaches one set of tables. A ``TableBinding`` says
where one store's tables live; ``bound_to(binding)`` makes it current in the running thread or
task (a ``ContextVar``: each thread has its own), and the table base models (``BindableModel``)
then hand pynamodb the binding's ``TableConnection`` wherever pynamodb asks a model for its
connection: item reads and writes, queries and scans, index queries, batch gets, and the items
of a transaction (pynamodb builds each transaction item's table name from the model's
connection; the transaction's own ``Connection`` only carries region and endpoint).

With no binding current, a model falls back to its class ``Meta`` exactly as before
(``bind_tables``), so scripts, the rebalancer, the backfill and tests that bind once per process
keep working unchanged.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from pynamodb.connection import Connection, TableConnection
from pynamodb.connection.base import MetaTable
from pynamodb.constants import (
    GLOBAL_SECONDARY_INDEXES,
    INDEX_NAME,
    KEYS,
    LOCAL_SECONDARY_INDEXES,
    RESPONSES,
    TABLE_NAME,
    UNPROCESSED_KEYS,
)
from pynamodb.exceptions import TableError
from pynamodb.models import Model


@dataclass(frozen=True, slots=True)
class TableBinding:
    """Where one store's tables are: a table name per table base model, and how to reach them."""

    # (table base model, table name): a model is bound through the first base it derives from.
    tables: tuple[tuple[type[Model], str], ...]
    region: str
    host: str | None
    connect_timeout_seconds: float
    read_timeout_seconds: float
    max_retry_attempts: int
    max_pool_connections: int
    # Made on first use and kept as long as the binding (so as long as the store that holds it).
    # A pynamodb Connection owns a botocore session and client, costly to build (hundreds of ms
    # on a busy machine), so the models share them: one Connection per set of index names (the
    # schema a model's queries need), which also serves transactions (no indexes); a cheap
    # TableConnection per model class wraps the shared one.
    _shared: dict[frozenset[str], Connection] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )
    _connections: dict[type[Model], TableConnection] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, hash=False, repr=False)

    def connection_options(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "host": self.host,
            "connect_timeout_seconds": self.connect_timeout_seconds,
            "read_timeout_seconds": self.read_timeout_seconds,
            "max_retry_attempts": self.max_retry_attempts,
            "max_pool_connections": self.max_pool_connections,
        }

    def without_sdk_retries(self) -> TableBinding:
        """The same tables reached with no SDK retries, for a write that is not idempotent.

        botocore retries timeouts and 5xx answers, after which a conditional UpdateItem may have
        been applied already: sent again, it would apply twice. Its caller decides instead.
        """
        return replace(self, max_retry_attempts=0, _shared={}, _connections={}, _lock=threading.Lock())

    def connection(self) -> Connection:
        """The connection for transactions against this binding's region and endpoint."""
        with self._lock:
            return self._shared_connection(frozenset())

    def _shared_connection(self, index_names: frozenset[str]) -> Connection:
        found = self._shared.get(index_names)
        if found is None:
            found = self._shared[index_names] = Connection(**self.connection_options())
        return found

    def table_name_for(self, model: type[Model]) -> str | None:
        for base, table_name in self.tables:
            if issubclass(model, base):
                return table_name
        return None

    def table_connection(
        self, model: type[Model], table_name: str, template: TableConnection
    ) -> TableConnection:
        """The bound connection of ``model``; ``template`` (its class-bound one) lends the schema."""
        with self._lock:
            found = self._connections.get(model)
            if found is None:
                # The key schema and index key names are the model's; only the table name differs.
                data = {**template.get_meta_table().data, TABLE_NAME: table_name}
                indexes = data.get(GLOBAL_SECONDARY_INDEXES, []) + data.get(LOCAL_SECONDARY_INDEXES, [])
                shared = self._shared_connection(frozenset(index[INDEX_NAME] for index in indexes))
                try:
                    shared.get_meta_table(table_name)
                except TableError:
                    shared.add_meta_table(MetaTable(data))
                found = TableConnection(table_name, **self.connection_options())
                found.connection = shared
                self._connections[model] = found
            return found


_current_binding: ContextVar[TableBinding | None] = ContextVar("edgemeter_table_binding", default=None)


def current_binding() -> TableBinding | None:
    return _current_binding.get()


@contextmanager
def bound_to(binding: TableBinding) -> Iterator[None]:
    """Inside the block, the bindable models of this thread or task use ``binding``'s tables."""
    token = _current_binding.set(binding)
    try:
        yield
    finally:
        _current_binding.reset(token)


class BindableModel(Model):
    """A table base model whose connection follows the binding current in the context."""

    @classmethod
    def _get_connection(cls) -> TableConnection:
        class_bound = super()._get_connection()
        binding = _current_binding.get()
        table_name = None if binding is None else binding.table_name_for(cls)
        if binding is None or table_name is None:
            return class_bound
        return binding.table_connection(cls, table_name, class_bound)

    @classmethod
    def _batch_get_page(
        cls, keys_to_get: list[Any], consistent_read: bool | None, attributes_to_get: Any
    ) -> tuple[Any, Any]:
        # pynamodb's own reads the reply under ``Meta.table_name``; a bound model's table may be
        # another, so the reply is read under the name its connection asked for.
        connection = cls._get_connection()
        data = connection.batch_get_item(
            keys_to_get, consistent_read=consistent_read, attributes_to_get=attributes_to_get
        )
        item_data = data.get(RESPONSES, {}).get(connection.table_name)
        unprocessed = data.get(UNPROCESSED_KEYS, {}).get(connection.table_name, {}).get(KEYS)
        return item_data, unprocessed


class HoldsTableBinding(Protocol):
    table_binding: TableBinding


H = TypeVar("H", bound=HoldsTableBinding)
P = ParamSpec("P")
R = TypeVar("R")


def _scoped(method: Callable[Concatenate[H, P], R]) -> Callable[Concatenate[H, P], R]:
    @functools.wraps(method)
    def call(self: H, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with bound_to(self.table_binding):
            return method(self, *args, **kwargs)

    return call


def binding_scoped(cls: type[H]) -> type[H]:
    """Run every public method of ``cls`` under its instance's ``table_binding``.

    A class decorator rather than a wrapper per method, so a public method added later is bound
    too. The methods must return plain values (no lazy iterator that reads after returning).
    """
    for name, attribute in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(attribute):
            setattr(cls, name, _scoped(attribute))
    return cls
