"""Plain DBAPI reads (sqlite3, psycopg), without SQLAlchemy: the monitor's job table reads through this, so
its first rows reach the terminal before SQLAlchemy, the ORM models and the engine have even been
imported (they take longer to import than the table takes to paint).

SQL is written once with `:name` parameters; on PostgreSQL they become psycopg's `%(name)s`.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs

from jobtui.engine.errors import BadInput, ConnectFailed, ReadFailed

# The schema version this code reads and writes (the newest migration); Store migrates older databases.
SCHEMA_HEAD = "0017"
BUSY_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_S = 10
# Idle connections a reader keeps for the next read (the monitor reads from two threads at most).
IDLE_CONNECTIONS = 2

PARAM = re.compile(r"(?<![:\w]):(\w+)")  # a `:name` parameter (not a `::type` cast)


def to_psycopg(sql: str) -> str:
    """SQL written with `:name` parameters, in psycopg's `%(name)s` style."""
    return PARAM.sub(r"%(\1)s", sql)


def default_data_dir() -> Path:
    """Where the default database lives (created on first use, unlike a directory the user named)."""
    return Path(platformdirs.user_data_dir("jobtui"))


def default_db_url() -> str:
    env = os.environ.get("JOBTUI_DB")
    if env:
        return env
    return sqlite_url(default_data_dir() / "jobtui.db")


def sqlite_url(path: Path) -> str:
    """The `sqlite:///` URL of a file, whatever its name: in a URL a `?` would start options and a `%`
    an escape, so both are escaped (SQLAlchemy and `sqlite_path` unescape them)."""
    return "sqlite:///" + str(path).replace("%", "%25").replace("?", "%3F")


def log_folder(url: str, database_id: str, database_name: str | None, explicit: str | Path | None) -> Path:
    """Where the jobs' logs of the database at `url` (whose identity is `database_id`; on PostgreSQL, named
    `database_name`) are on this host: `explicit` (--log-dir, $JOBTUI_LOG_DIR), else a folder of the
    database's own. Two databases (prod and staging on one PostgreSQL server, or a SQLite file deleted and
    created again) never share, mix or delete each other's logs."""
    if explicit:
        return Path(explicit)
    path = sqlite_path(normalise_url(url))
    if path is not None:
        return path.with_name(path.stem + "-logs") / database_id
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", database_name or "")
    return Path(platformdirs.user_data_dir("jobtui")) / "logs" / f"{name}-{database_id}"


def log_file_in(folder: str, job_id: int) -> str:
    """Job `job_id`'s log file in the log folder `folder` (see `log_folder`)."""
    return f"{folder}/job-{job_id}.log"


class DatabaseUrlError(BadInput, ValueError):
    """A --db / $JOBTUI_DB that names no database jobtui can use."""


SQLITE_SCHEMES = ("sqlite", "sqlite+pysqlite")
SUPPORTED_SCHEMES = (*SQLITE_SCHEMES, "postgresql", "postgres", "postgresql+psycopg")
# SQLite URI options that ask for a file opened read-only.
_READ_ONLY_OPTIONS = {("mode", "ro"), ("immutable", "1"), ("immutable", "true")}


# Query options of a PostgreSQL URL that libpq reads as secrets (`?password=` works as well as `user:pw@`).
_SECRET_OPTIONS = frozenset({"password", "sslpassword"})


def printable_url(url: str) -> str:
    """`url` without its secrets, for messages and logs: the password of its user part and of its
    options. A URL without any is returned as it is."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    location, slash, tail = rest.partition("/")
    if "@" in location:
        user, _, host = location.rpartition("@")
        if ":" in user:
            location = f"{user.split(':', 1)[0]}:***@{host}"
    path, question, query = tail.partition("?")
    if question:
        options = []
        for option in query.split("&"):
            name, equals, _ = option.partition("=")
            secret = equals and urllib.parse.unquote_plus(name).lower() in _SECRET_OPTIONS
            options.append(f"{name}=***" if secret else option)
        query = "&".join(options)
    return f"{scheme}://{location}{slash}{path}{question}{query}"


def normalise_url(url: str) -> str:
    """Accept a bare file path where a URL is expected (people type paths), and postgresql:// URLs
    without a driver (psycopg 3 is the one jobtui ships with). Any other kind of database is refused
    here, before a driver jobtui does not ship is looked for."""
    if "://" not in url:
        return sqlite_url(Path(url).expanduser().resolve())
    scheme, rest = url.split("://", 1)
    if scheme.lower() not in SUPPORTED_SCHEMES:
        # Only the scheme is repeated: the rest of a URL may hold a password.
        raise DatabaseUrlError(
            f'database URL "{scheme}://…": jobtui works on SQLite (sqlite:///PATH, or a file path) '
            "and PostgreSQL (postgresql://USER@HOST/DB)"
        )
    # A scheme is case-insensitive (RFC 3986); SQLAlchemy looks its dialect up by the exact name.
    scheme = scheme.lower()
    url = f"{scheme}://{rest}"
    if scheme in SQLITE_SCHEMES:
        _check_sqlite_url(scheme, rest)
        # Spelled again from the file it names (`~` expanded): SQLAlchemy would open `./~/x.db` while the
        # log folder, the write lock and the monitor's reads used the home folder's.
        path = sqlite_path(url)
        return url if path is None else sqlite_url(path)
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    try:
        port = urllib.parse.urlsplit(url).port
    except ValueError as exc:  # a port that is no number, a host in brackets left open
        # Only the scheme is repeated (the rest may hold a password), with what is wrong in it.
        problem = "its port must be a number from 1 to 65535" if "Port" in str(exc) else f"its host: {exc}"
        raise DatabaseUrlError(f'database URL "{scheme}://…": {problem}') from None
    if port == 0:
        raise DatabaseUrlError(f'database URL "{scheme}://…": its port must be a number from 1 to 65535')
    return url


def _check_sqlite_url(scheme: str, rest: str) -> None:
    """Refuse what jobtui cannot honour in a SQLite URL (the part after `scheme://`), before anything is
    created on disk. Options after `?` are refused, not passed on: SQLAlchemy ignores most of them, and
    with `uri=true` makes SQLite create a file named after the whole `path?options` text, while the log
    folder, the write lock and the monitor's reads use the path without them. Read-only is no URL option
    in jobtui: the reading commands and the dashboard's --readonly act on no job."""
    path, has_options, query = rest.partition("?")
    if path and not path.startswith("/"):
        # Only the scheme is repeated: a user and password may come before the host.
        raise DatabaseUrlError(
            f'database URL "{scheme}://…": a SQLite URL names a file, not a host: '
            "sqlite:///relative/path or sqlite:////absolute/path"
        )
    if not has_options:
        return
    options = urllib.parse.parse_qsl(query, keep_blank_values=True)
    # The options' names, not their values: a value may be a key or a password.
    named = ", ".join(dict.fromkeys(name for name, _ in options))
    found = f"this one has {named}" if named else 'this one has an empty "?"'
    message = (
        f'database URL "{scheme}://{path}?…": jobtui takes no options after "?" in a SQLite URL '
        f"({found}): give the file alone, sqlite:///PATH"
    )
    if any((name.lower(), value.lower()) in _READ_ONLY_OPTIONS for name, value in options):
        message += (
            "; to look without acting on any job, use the commands that only read (jobs, show, log, "
            "audit) or open the dashboard with --readonly"
        )
    raise DatabaseUrlError(message)


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///path` URL (SQLAlchemy's form: three slashes and a relative path, four and
    an absolute one; escapes such as %20 undone, as SQLAlchemy does); None for any other URL. A URL from
    `normalise_url` has no options after `?`."""
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            path = urllib.parse.unquote(url[len(prefix) :].split("?", 1)[0])
            return Path(path).expanduser() if path and path != ":memory:" else None
    return None


def postgres_dsn(url: str) -> str | None:
    """A libpq URI for a `postgresql+psycopg://` URL (None for any other)."""
    prefix = "postgresql+psycopg://"
    return "postgresql://" + url[len(prefix) :] if url.startswith(prefix) else None


class Reader:
    """Read-only queries on a database URL, each in its own autocommit transaction, from any thread."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self._path = sqlite_path(self.url)
        self._dsn = postgres_dsn(self.url)
        if self._path is None and self._dsn is None:
            raise DatabaseUrlError(f"the monitor cannot read {self.url}: use sqlite:///FILE or postgresql://")
        self.is_sqlite = self._path is not None
        self._idle: list[Any] = []
        self._errors: type[Exception] | None = None
        self._lock = threading.Lock()

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        query = sql if self.is_sqlite else to_psycopg(sql)
        errors = self._driver_errors()
        while True:
            conn, pooled = self._take()
            try:
                found = list(conn.execute(query, params or {}))
            except errors as exc:
                _close_quietly(conn)  # a broken connection is not kept: the next read connects again
                if pooled and self._dropped(exc):
                    continue  # the server dropped an idle connection (restart, timeout): on a new one
                raise ReadFailed(exc) from exc
            except BaseException:
                _close_quietly(conn)
                raise
            self._give_back(conn)
            return found

    def value(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row (None when there is no row)."""
        found = self.rows(sql, params)
        return found[0][0] if found else None

    def stored_time(self, value: datetime) -> Any:
        """A time as a parameter to compare with stored ones: SQLite holds naive UTC text (in SQLAlchemy's
        format, so text order is time order), PostgreSQL an aware timestamp."""
        utc = value.astimezone(UTC)
        return utc.strftime("%Y-%m-%d %H:%M:%S.%f") if self.is_sqlite else utc

    def schema_revision(self) -> str | None:
        """The database's migration version (None: no jobtui schema yet)."""
        table = (
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            if self.is_sqlite
            else "SELECT 1 FROM information_schema.tables WHERE table_name = 'alembic_version'"
        )
        if not self.rows(table):
            return None
        found = self.value("SELECT version_num FROM alembic_version")
        return None if found is None else str(found)

    def _take(self) -> tuple[Any, bool]:
        """An idle connection (True) or a new one (False)."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        try:
            return self._connect(), False
        except self._driver_errors() as exc:
            # The server was tried and failed (down, stuck, refusing us): trying again meets the same. A URL
            # libpq cannot read (a "%" in a password, which SQLAlchemy passes on as it is) is not that.
            raise (ConnectFailed if self._dropped(exc) else ReadFailed)(exc) from exc

    def _give_back(self, conn: Any) -> None:
        with self._lock:
            if len(self._idle) < IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        _close_quietly(conn)

    def _driver_errors(self) -> type[Exception]:
        """The driver's base error (the driver is imported on the first read, not before)."""
        if self._errors is None:
            if self.is_sqlite:
                import sqlite3

                self._errors = sqlite3.Error
            else:
                import psycopg

                self._errors = psycopg.Error
        return self._errors

    def _dropped(self, exc: Exception) -> bool:
        """Whether a read failed for the connection's sake (PostgreSQL closed it), not the query's."""
        if self.is_sqlite:
            return False
        import psycopg

        return isinstance(exc, psycopg.OperationalError)

    def _connect(self) -> Any:
        if self._path is not None:
            import sqlite3

            if not self._path.exists():
                # sqlite3 would create an empty file; the Store creates databases, with their schema.
                raise sqlite3.OperationalError(f"no database at {self._path}")
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            return conn
        import psycopg

        assert self._dsn is not None
        # Operators see who holds a connection in pg_stat_activity.
        return psycopg.connect(
            self._dsn,
            autocommit=True,
            application_name=f"jobtui pid {os.getpid()}",
            connect_timeout=CONNECT_TIMEOUT_S,  # an unreachable host must not hang a read for minutes
        )


def _close_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):  # closing a connection the server already dropped
        conn.close()
