"""Many rows of one shape written straight through the driver, in a session's transaction.

The engine's fast lane writes a few statements per pass, each for many rows; SQLAlchemy's work per
statement (compiling, caching, result set-up) costs several times what SQLite spends running it. The SQL
is written once with `:name` parameters (psycopg's `%(name)s` on PostgreSQL), and times are stored
exactly as the UTCDateTime columns store them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from jobtui.engine.db.driver import to_psycopg

# Audit rows as the engine writes them (every column of the audit table but its id).
AUDIT_ROWS = (
    "INSERT INTO audit (job_id, job_name, at, who, action, from_status, to_status, comment, refused, "
    "by_user) VALUES (:job_id, :job_name, :at, :who, :action, :from_status, :to_status, :comment, "
    ":refused, :by_user)"
)

# How SQLAlchemy's SQLite dialect writes the naive UTC datetimes UTCDateTime hands it (text that sorts).
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


def execute_many(session: Session, sql: str, rows: Sequence[Mapping[str, Any]]) -> int | None:
    """Run `sql` once per row in `session`'s transaction; how many rows it changed (None where the driver
    does not say: psycopg's executemany)."""
    if not rows:
        return 0
    connection = session.connection()
    driver = connection.connection.driver_connection
    assert driver is not None
    if connection.dialect.name == "sqlite":
        cursor = driver.cursor()
        try:
            cursor.executemany(sql, [{key: _sqlite(value) for key, value in row.items()} for row in rows])
            return int(cursor.rowcount)
        finally:
            cursor.close()
    with driver.cursor() as cursor:
        cursor.executemany(to_psycopg(sql), [_aware(row) for row in rows])
    return None


def _sqlite(value: Any) -> Any:
    if isinstance(value, datetime):
        return _utc(value).strftime(_SQLITE_TIME)
    return value


def _aware(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _utc(value) if isinstance(value, datetime) else value for key, value in row.items()}


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} given to the store; times must be timezone-aware")
    return value.astimezone(UTC)
