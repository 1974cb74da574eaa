"""One cache of compiled SQL for every SQLAlchemy engine a test process opens.

SQLAlchemy keeps the SQL it compiled per engine, keyed by the engine's dialect object: every test opens a
Store of its own (a new engine), so each compiled again every statement it ran, a sixth of the engine
tests' time. The tests' engines differ only in the file or database they open; their dialects (one class,
one server version) compile a statement alike, so the key here names the dialect by its class and server
version instead. A jobtui process opens one Store and compiles each statement once anyway: this is the
tests' own concern, and the SQL they run is the same.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Mapper
from sqlalchemy.util import LRUCache


class SharedCompiledSql:
    """A compiled cache (SQLAlchemy's `compiled_cache` execution option) shared by engines whose dialects
    are alike."""

    def __init__(self, size: int = 5000) -> None:
        self._compiled: LRUCache[tuple[Any, ...], Any] = LRUCache(size)

    @staticmethod
    def _shared_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
        dialect, *rest = key
        return (type(dialect), dialect.server_version_info, *rest)

    def get(self, key: tuple[Any, ...], default: Any = None) -> Any:
        return self._compiled.get(self._shared_key(key), default)

    def __setitem__(self, key: tuple[Any, ...], value: Any) -> None:
        self._compiled[self._shared_key(key)] = value


COMPILED_SQL = SharedCompiledSql()


def share_flush_sql(mappers: list[Mapper[Any]]) -> None:
    """The ORM compiles a flush's INSERTs and UPDATEs into a cache of each mapper's own, keyed by dialect
    too: share those as well."""
    for mapper in mappers:
        mapper._set_memoized_attribute("_compiled_cache", COMPILED_SQL)
