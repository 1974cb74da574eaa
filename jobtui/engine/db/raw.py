"""Statements straight through the driver, in a session's transaction: many rows of one shape written
with one statement (over a VALUES list on SQLite, over arrays on PostgreSQL), and rows read for a list of
ids.

The engine's fast lane runs a few statements per pass, each for many rows; SQLAlchemy's work per
statement (compiling, caching, result set-up) costs several times what SQLite spends running it. The SQL
is written once with `:name` parameters (psycopg's `%(name)s` on PostgreSQL) and `IN :ids` for a list;
times are stored exactly as the UTCDateTime columns store them, and read back as aware UTC datetimes.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from jobtui.engine.db.driver import PARAM, to_psycopg
from jobtui.engine.db.models import JOBS

TABLES = JOBS.metadata.tables  # every table of the models, by name

# Audit rows as the engine writes them (every column of the audit table but its id).
AUDIT_ROWS = (
    "INSERT INTO audit (job_id, job_name, at, who, action, from_status, to_status, comment, refused, "
    "by_user) VALUES (:job_id, :job_name, :at, :who, :action, :from_status, :to_status, :comment, "
    ":refused, :by_user)"
)

# How SQLAlchemy's SQLite dialect writes the naive UTC datetimes UTCDateTime hands it (text that sorts).
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


def execute_many(session: Session, sql: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """Run `sql` once per row in `session`'s transaction (SQLite: executemany; PostgreSQL: one
    statement over arrays, `_set_based`); how many rows it changed."""
    return send_many(session, sql, rows)()


def send_many(session: Session, sql: str, rows: Sequence[Mapping[str, Any]]) -> Callable[[], int]:
    """As `execute_many`; how many rows it changed is told once asked (in a `pipelined` block: after it)."""
    if not rows:
        return lambda: 0
    connection = session.connection()
    driver = connection.connection.driver_connection
    assert driver is not None
    if connection.dialect.name == "sqlite":
        changed = _sqlite_many(driver, sql, rows)
        return lambda: changed
    statement = _set_based(sql)
    converted: dict[int, datetime] = {}
    rows = _last_per_key(rows, statement.keys)
    cursors = []
    for at in range(0, len(rows), SET_ROWS):
        part = rows[at : at + SET_ROWS]
        cursor = driver.cursor()
        cursors.append(cursor)
        cursor.execute(
            statement.sql,
            {
                name: _array_literal([_plain(row[name], converted) for row in part])
                for name in statement.params
            },
        )

    def counted() -> int:
        try:
            return sum(int(cursor.rowcount) for cursor in cursors)
        finally:
            for cursor in cursors:
                cursor.close()

    return counted


def _last_per_key(rows: Sequence[Mapping[str, Any]], keys: tuple[str, ...]) -> Sequence[Mapping[str, Any]]:
    """An UPDATE over many rows at once joins each target row once: the last row given for a key (its WHERE
    parameters) wins, as it would one row at a time. Rows as they are for a statement without keys."""
    if not keys:
        return rows
    return list({tuple(row[key] for key in keys): row for row in rows}.values())


# Off: every statement one row at a time (executemany), as before the set-based statements (for A/B runs).
SQLITE_SET_BASED = True


def _sqlite_many(driver: Any, sql: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """Run `sql` for `rows` on SQLite: as one statement per SQLITE_ROWS rows where it is a one-row UPDATE
    or INSERT (`_sqlite_set_based`), else with executemany; how many rows it changed."""
    times: dict[int, str] = {}  # a pass writes the same few times in many rows: each converted once
    statement = _sqlite_set_based(sql) if SQLITE_SET_BASED and len(rows) > 1 else None
    cursor = driver.cursor()
    try:
        if statement is None:
            cursor.executemany(sql, [_sqlite_row(row, times) for row in rows])
            return int(cursor.rowcount)
        rows = _last_per_key(rows, statement.keys)
        changed = 0
        per = max(1, min(SQLITE_ROWS, SQLITE_VARIABLES // max(1, len(statement.params))))
        for at in range(0, len(rows), per):
            part = rows[at : at + per]
            values = [
                _sqlite(value, times) for row in part for value in (row[name] for name in statement.params)
            ]
            cursor.execute(statement.sql(len(part)), values)
            changed += int(cursor.rowcount)
        return changed
    finally:
        cursor.close()


# Rows one SQLite statement takes at most, and the parameters it may have (SQLite's limit since 3.32 is
# 32,766).
SQLITE_ROWS = 500
SQLITE_VARIABLES = 30_000


@dataclass(frozen=True)
class _SqliteSetBased:
    """A one-row statement run for many rows at once on SQLite: its parameters become the rows of a VALUES
    list, and SQLite runs them all in one step. executemany binds each row's parameters by name and steps
    once a row, giving the interpreter lock away at each step: a no-op drain's statements took 0.16-0.17 ms
    of the engine's thread a job that way, 0.075 ms this way (2,900-3,300 → 4,100-4,500 jobs/s)."""

    head: str  # up to the rows
    row: str  # one row's values
    tail: str  # after them
    params: tuple[str, ...]  # a row's parameters, in their order in `row`
    keys: tuple[str, ...]  # an UPDATE's WHERE parameters: what names its target row

    def sql(self, rows: int) -> str:
        return self.head + ", ".join([self.row] * rows) + self.tail


@functools.lru_cache(maxsize=64)
def _sqlite_set_based(sql: str) -> _SqliteSetBased | None:
    """`sql` (`UPDATE t SET col = expr, ... WHERE ...` or `INSERT INTO t (cols) VALUES (exprs)`) over a
    VALUES list of its parameters; None for any other statement. An UPDATE's expressions may read the
    target row's columns: the list's are `column<n>`, which no table has."""
    text = " ".join(sql.split())
    if (update := _UPDATE.fullmatch(text)) is not None:
        table, assignments, where = update.groups()
        params = tuple(dict.fromkeys(PARAM.findall(f"{assignments} WHERE {where}")))
        if not params:
            return None
        # A VALUES list's columns are column1, column2, ... (no WITH to name them: Python's sqlite3 counts
        # the rows changed only by a statement that starts with UPDATE, INSERT, DELETE or REPLACE).
        column = {name: f"v_.column{n}" for n, name in enumerate(params, start=1)}
        body = PARAM.sub(lambda found: column[found.group(1)], f"SET {assignments} FROM (VALUES ")
        tail = PARAM.sub(lambda found: column[found.group(1)], f") AS v_ WHERE {where}")
        row = "(" + ", ".join("?" for _ in params) + ")"
        return _SqliteSetBased(f"UPDATE {table} {body}", row, tail, params, tuple(PARAM.findall(where)))
    if (insert := _INSERT.fullmatch(text)) is not None:
        table, column_list, value_list = insert.groups()
        params = tuple(PARAM.findall(value_list))
        row = "(" + PARAM.sub("?", value_list) + ")"
        return _SqliteSetBased(f"INSERT INTO {table} ({column_list}) VALUES ", row, "", params, ())
    return None


@contextlib.contextmanager
def pipelined(session: Session) -> Iterator[None]:
    """On PostgreSQL, the statements run in the block (`send_many`) go without waiting for each one's
    result (psycopg's pipeline mode): the server runs one while the engine makes the next. An error of
    any of them is raised at the block's end, and how many rows each changed is known only then."""
    connection = session.connection()
    driver = connection.connection.driver_connection
    if connection.dialect.name == "sqlite" or driver is None:
        yield
        return
    with driver.pipeline():
        yield


@dataclass(frozen=True)
class _SetBased:
    """A one-row statement run for many rows at once on PostgreSQL: its parameters become arrays that
    `unnest` turns back into rows, so the server plans and runs one statement, not one per row."""

    sql: str
    params: tuple[str, ...]  # in the order of the arrays
    keys: tuple[str, ...]  # an UPDATE's WHERE parameters: what names its target row


_UPDATE = re.compile(r"UPDATE (\w+) SET (.+) WHERE (.+)", re.DOTALL)
_INSERT = re.compile(r"INSERT INTO (\w+) \(([^)]*)\) VALUES \(([^)]*)\)", re.DOTALL)
_ASSIGN = re.compile(r"(\w+) = (.+)")
# What a set-based statement's values may be: a parameter, NULL, a quoted string, a number, a boolean.
_VALUE = re.compile(r":\w+|NULL|'[^']*'|-?\d+(\.\d+)?|TRUE|FALSE", re.IGNORECASE)
# Rows a set-based statement takes at most (log chunks are up to 64 KiB each: 64 MiB a statement).
SET_ROWS = 1024


@functools.lru_cache(maxsize=64)
def _set_based(sql: str) -> _SetBased:
    """`sql` (`UPDATE t SET col = expr, ... WHERE col = :p AND ...` or `INSERT INTO t (cols) VALUES
    (exprs)`, each expr a `:name`, a literal or NULL) as one statement over arrays of its parameters,
    each cast to the type of the column it is assigned to or compared with."""
    types: dict[str, str] = {}

    def bind(table: str, column: str, expr: str) -> str:
        if not _VALUE.fullmatch(expr):  # a column in it would be ambiguous beside the arrays' columns
            raise ValueError(f"not a parameter or a literal: {expr!r} in {sql}")
        for name in PARAM.findall(expr):
            types.setdefault(name, _pg_type(table, column))
        return PARAM.sub(r"v_.\1", expr)

    if (update := _UPDATE.fullmatch(sql.strip())) is not None:
        table, assignments, where = update.groups()
        sets = []
        for assignment in assignments.split(", "):
            column, expr = _ASSIGN.fullmatch(assignment.strip()).groups()  # type: ignore[union-attr]
            sets.append(f"{column} = {bind(table, column, expr)}")
        conditions, keys = [], []
        for condition in where.split(" AND "):
            column, expr = _ASSIGN.fullmatch(condition.strip()).groups()  # type: ignore[union-attr]
            keys += PARAM.findall(expr)
            conditions.append(f"t_.{column} = {bind(table, column, expr)}")
        head = f"UPDATE {table} AS t_ SET {', '.join(sets)}"
        tail = " WHERE " + " AND ".join(conditions)
    elif (insert := _INSERT.fullmatch(sql.strip())) is not None:
        table, column_list, value_list = insert.groups()
        columns = [c.strip() for c in column_list.split(",")]
        values = [bind(table, c, v.strip()) for c, v in zip(columns, value_list.split(","), strict=True)]
        head = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)}"
        # Ids in the rows' order: readers read a job's log chunks in id order.
        tail, keys = " ORDER BY ord_", []
    else:
        raise ValueError(f"not a one-row UPDATE or INSERT: {sql}")
    params = tuple(types)
    arrays = ", ".join(f"%({name})s::{types[name]}[]" for name in params)
    source = f" FROM unnest({arrays}) WITH ORDINALITY AS v_({', '.join(params)}, ord_)"
    return _SetBased(head + source + tail, params, tuple(keys))


def _pg_type(table: str, column: str) -> str:
    return str(TABLES[table].c[column].type.compile(dialect=postgresql.dialect()))


def _plain(value: Any, times: dict[int, datetime]) -> Any:
    """`value` as psycopg dumps fastest: a time as a standard library datetime in UTC (psycopg dumps a
    pendulum one through pendulum's own, slow, arithmetic); each time object converted once."""
    if not isinstance(value, datetime):
        return value
    key = id(value)
    if key not in times:
        utc = _utc(value)
        times[key] = datetime(
            utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=UTC
        )
    return times[key]


def _array_literal(values: list[Any]) -> str | list[Any]:
    """`values` as PostgreSQL's text form of an array (`{1,2,NULL}`), for the statement to cast: built
    with the string methods of its elements' types, where psycopg's array dumper looks at each element in
    Python (a quarter of the engine's thread on PostgreSQL). Elements of other types (bytes) as they are,
    for psycopg to dump."""
    kinds = {type(value) for value in values if value is not None}
    if not kinds:
        return "{" + ",".join(["NULL"] * len(values)) + "}"
    kind = kinds.pop()
    if kinds or kind not in _ARRAY_ELEMENT:
        return values
    if kind is int and None not in values:
        return "{" + ",".join(map(str, values)) + "}"
    element = _ARRAY_ELEMENT[kind]
    return "{" + ",".join("NULL" if value is None else element(value) for value in values) + "}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_ARRAY_ELEMENT: dict[type, Any] = {
    int: str,
    bool: lambda value: "t" if value else "f",
    str: _quoted,
    datetime: lambda value: '"' + value.isoformat() + '"',  # aware, in UTC (`_plain`)
}


def index_hint(session: Session, index: str) -> str:
    """What follows a table's name to have SQLite walk `index` (`INDEXED BY`); nothing on PostgreSQL.
    SQLite keeps no statistics unless asked to, and without them its planner prefers an equality on any
    index (`worker_id IS NULL`, which every ended job matches; `status = ?`) to a range on a partial index
    that holds only the rows a query looks for: a sweep walked the whole history once a second (100 ms at
    200,000 ended jobs, against 0.03). PostgreSQL's planner has statistics, and no such clause."""
    return f" INDEXED BY {index}" if session.connection().dialect.name == "sqlite" else ""


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
    returns nothing). A list parameter (never empty) is spread over its `IN :name` (on PostgreSQL, one
    array: `= ANY(...)`, one statement text whatever its length); the columns named in `times` come back
    as aware UTC datetimes."""
    connection = session.connection()
    driver = connection.connection.driver_connection
    assert driver is not None
    sqlite = connection.dialect.name == "sqlite"
    query, flat = sql, dict[str, Any]()
    for key, value in params.items():
        if isinstance(value, list) and not sqlite:
            query = query.replace(f"NOT IN :{key}", f"<> ALL(:{key})").replace(f"IN :{key}", f"= ANY(:{key})")
            flat[key] = value
        elif isinstance(value, list):
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
    return {key: _sqlite(value, times) for key, value in row.items()}


def _sqlite(value: Any, times: dict[int, str] | None = None) -> Any:
    """`value` as SQLite stores it: a time as text that sorts (each time object converted once when
    `times` keeps the conversions)."""
    if not isinstance(value, datetime):
        return value
    if times is None:
        return _utc(value).strftime(_SQLITE_TIME)
    key = id(value)
    if key not in times:
        times[key] = _utc(value).strftime(_SQLITE_TIME)
    return times[key]


def _aware(row: Mapping[str, Any]) -> dict[str, Any]:
    converted: dict[int, datetime] = {}
    return {key: _plain(value, converted) for key, value in row.items()}


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} given to the store; times must be timezone-aware")
    return value.astimezone(UTC)
