"""Statements straight through the driver, in a session's transaction: many rows of one shape written
with one executemany, and rows read for a list of ids.

The engine's fast lane runs a few statements per pass, each for many rows; SQLAlchemy's work per
statement (compiling, caching, result set-up) costs several times what SQLite spends running it. The SQL
is written once with `:name` parameters (psycopg's `%(name)s` on PostgreSQL) and `IN :ids` for a list;
times are stored exactly as the UTCDateTime columns store them, and read back as aware UTC datetimes.
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
            times: dict[int, str] = {}  # a pass writes the same few times in many rows: each converted once
            cursor.executemany(sql, [_sqlite_row(row, times) for row in rows])
            return int(cursor.rowcount)
        finally:
            cursor.close()
    with driver.cursor() as cursor:
        cursor.executemany(to_psycopg(sql), [_aware(row) for row in rows])
    return None


def select_rows(
    session: Session, sql: str, ids: Sequence[int], times: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The rows `sql` selects for `ids` (its `IN :ids`), as dicts; the columns named in `times` as aware
    UTC datetimes (SQLite hands back text)."""
    if not ids:
        return []
    return rows(session, sql, {"ids": list(ids)}, times)


def rows(
    session: Session, sql: str, params: Mapping[str, Any], times: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Run `sql` once in `session`'s transaction and return its rows as dicts (none for a statement that
    returns nothing). A list parameter (never empty) is spread over its `IN :name`; the columns named in
    `times` come back as aware UTC datetimes."""
    connection = session.connection()
    driver = connection.connection.driver_connection
    assert driver is not None
    sqlite = connection.dialect.name == "sqlite"
    query, flat = sql, dict[str, Any]()
    for key, value in params.items():
        if isinstance(value, list):
            names = [f"{key}_{n}" for n in range(len(value))]
            query = query.replace(f"IN :{key}", "IN (" + ", ".join(f":{name}" for name in names) + ")")
            flat.update(zip(names, value, strict=True))
        else:
            flat[key] = value
    cursor = driver.cursor()
    try:
        if sqlite:
            cursor.execute(query, {key: _sqlite(value) for key, value in flat.items()})
        else:
            cursor.execute(to_psycopg(query), _aware(flat))
        if cursor.description is None:
            return []
        columns = [d[0] for d in cursor.description]
        found = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        cursor.close()
    for row in found:
        for name in times:
            row[name] = _stored_time(row[name])
    return found


def _stored_time(value: Any) -> datetime | None:
    if value is None:
        return None
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _sqlite_row(row: Mapping[str, Any], times: dict[int, str]) -> dict[str, Any]:
    out = dict(row)
    for key, value in row.items():
        if isinstance(value, datetime):
            key_of = id(value)
            if key_of not in times:
                times[key_of] = _sqlite(value)
            out[key] = times[key_of]
    return out


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
