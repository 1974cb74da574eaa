"""Database access: connections, transactions, schema version, the change feed and audited status writes.

Writers take the SQLite write lock up front (BEGIN IMMEDIATE) so a transaction never fails half-way on
lock upgrade; readers never block writers (WAL).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import random
import shlex
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pendulum
from sqlalchemy import create_engine, event, insert, select, text, update
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from jobtui.engine.db import raw, wakeups
from jobtui.engine.db.driver import (
    BUSY_TIMEOUT_MS,
    CONNECT_TIMEOUT_S,
    SCHEMA_HEAD,
    Reader,
    default_data_dir,
    log_file_in,
    log_folder,
    normalise_url,
    printable_url,
    sqlite_path,
)
from jobtui.engine.db.models import CHANGES, JOBS, AuditEvent, Job, Setting
from jobtui.engine.db.revision import current_revision
from jobtui.engine.db.rows import job_status
from jobtui.engine.domain.clock import Clock, DatabaseClock, SystemClock
from jobtui.engine.domain.states import Status, is_allowed_transition
from jobtui.engine.domain.text import visible
from jobtui.engine.errors import Refusal, StoreError, StoreUnreachable

LOCK_RETRY_SECONDS = 120.0
# A sweep takes well under a second; a daemon frozen for longer than this while sweeping loses the turn.
SWEEP_LOCK_TIMEOUT_S = 15.0


class TransitionError(RuntimeError):
    """A status change the transition table does not allow; a bug, never an operator refusal."""


class LeaseLost(RuntimeError):
    """The engine's claim on a job is gone (cancelled, taken over): it must stop touching the job."""


# Errors of the connection or the database as a whole: whatever one job's share of a transaction does,
# retrying it alone would fail the same way.
DATABASE_ERRORS = (OperationalError, InterfaceError, DisconnectionError)


StatusHook = Callable[["Store", Session, Job, Status, Status, str, str], None]
_STATUS_HOOKS: list[StatusHook] = []


def on_status_change(hook: StatusHook) -> None:
    """Call `hook(store, session, job, from, to, who, action)` inside the transaction of every status
    change (`action`: what moved it, as its audit row names it: "retry", "rerun", "finish" ...).

    Layers above the store (the envelope chain) register here, so the store never imports them.
    """
    if hook not in _STATUS_HOOKS:
        _STATUS_HOOKS.append(hook)


def act_for(session: Session, real_user: str | None) -> None:
    """Mark a transaction's audit rows as done by `real_user` on behalf of the user they name (--as)."""
    session.info["jobtui_by"] = real_user


def acting_for(session: Session) -> str | None:
    """The real user behind the transaction's actions, when one acts as another (see act_for)."""
    by = session.info.get("jobtui_by")
    return str(by) if by else None


class DatabaseBusy(Refusal):
    """A write could not start in time: another process holds the database's write lock."""


def _flock_within(fd: int, timeout_s: float) -> bool:
    """Wait for an exclusive flock on `fd` at most `timeout_s`. flock cannot time out, so a thread
    waits in the kernel's queue (keeping its fairness); when we give up it keeps `fd` and closes it (which
    releases the lock) the moment it is granted."""
    granted = threading.Event()
    gave_up = threading.Event()
    guard = threading.Lock()

    def wait() -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            return
        with guard:
            if gave_up.is_set():
                os.close(fd)
            else:
                granted.set()

    threading.Thread(target=wait, name="jobtui-writer-lock", daemon=True).start()
    if granted.wait(timeout_s):
        return True
    with guard:
        if granted.is_set():
            return True
        gave_up.set()
    return False


def _note_holder(fd: int) -> None:
    """Write this process's pid into the lock file: a writer that waits too long can name the holder."""
    with contextlib.suppress(OSError):
        os.pwrite(fd, f"{os.getpid():<10}".encode(), 0)


def _lock_file_pid(lock_path: str) -> int | None:
    """The pid the last holder of jobtui's writer lock wrote into the lock file (see _note_holder)."""
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, encoding="ascii", errors="replace") as handle:
            pid = int(handle.read(10).strip() or 0)
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None


def _process_text(pid: int) -> str:
    """'process 1234 (python -m jobtui daemon --db jobs.db --workers 3, stopped)': its command line whole,
    quoted as a shell would take it, on one line (a command line may hold newlines and escapes)."""
    try:
        import psutil

        process = psutil.Process(pid)
        command = shlex.join(process.cmdline()) or process.name()
        return f"process {pid} ({visible(command)}, {process.status()})"
    except Exception:
        return f"process {pid}"


# The kernel's table of file locks (Linux), and the byte of a WAL database's -shm file that SQLite locks
# for writing (WALINDEX_LOCK_OFFSET 120 + WAL_WRITE_LOCK 0): its holder is the one writer.
PROC_LOCKS = "/proc/locks"
_WAL_WRITE_LOCK_BYTE = 120


def _sqlite_writer(db_path: Path) -> int | None:
    """The pid of the process holding SQLite's write lock on the database, 0 when none does, read from
    the kernel's lock table (SQLite's locks are POSIX locks, listed with their owner); None where that
    table cannot be read (not Linux): then who holds it cannot be told."""
    try:
        table = Path(PROC_LOCKS).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    try:
        shm_inode = Path(f"{db_path}-shm").stat().st_ino
    except OSError:
        return 0  # no -shm file: no connection has the database open in WAL mode, so none writes
    for line in table.splitlines():
        # "3: POSIX  ADVISORY  WRITE 16339 fe:00:2154467 120 120" (a lock waited for reads "3: -> POSIX").
        # Matched on the inode alone: stat's device number is not the table's on btrfs or overlayfs.
        fields = line.split()
        if len(fields) < 8 or fields[1:2] != ["POSIX"] or fields[3] != "WRITE":
            continue
        if fields[6] != str(_WAL_WRITE_LOCK_BYTE) or fields[5].rsplit(":", 1)[-1] != str(shm_inode):
            continue
        with contextlib.suppress(ValueError):
            if int(fields[4]) > 0:
                return int(fields[4])
    return 0


def _processes_with_open(paths: list[Path]) -> list[int]:
    """The pids of the processes (this user may look at) that have one of `paths` open: slow, for where
    the kernel's lock table cannot be read."""
    try:
        import psutil
    except ImportError:
        return []
    wanted = {str(path) for path in paths}
    found: list[int] = []
    for process in psutil.process_iter():
        with contextlib.suppress(Exception):
            if any(item.path in wanted for item in process.open_files()):
                found.append(process.pid)
    return found


# The first job id no job ever had: past every job's, and every deleted job's (its audit trail stays).
NEVER_REUSED = (
    "SELECT max(coalesce((SELECT max(id) FROM jobs), 0), coalesce((SELECT max(job_id) FROM audit), 0)) + 1"
)


def _refuse_another_programs_file(path: Path) -> None:
    """A SQLite file of another program's (a typo in --db) is refused before anything opens it the way
    jobtui does (WAL mode, its tables): whatever the command, it is left as it was. A file holding a
    jobtui table is jobtui's (one whose creation was cut short is healed); one that is no database at all
    is refused by the open that follows."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    try:
        with contextlib.closing(sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)) as conn:
            query = (
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY 1"
            )
            names = [str(row[0]) for row in conn.execute(query)]
    except sqlite3.Error:
        return
    if not names or {"jobs", "alembic_version"} & set(names):
        return
    shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
    raise StoreError(
        f"database {path}: not a jobtui database: it holds tables of its own ({shown}) and no jobtui schema; "
        "give jobtui a database of its own"
    )


class Store:
    def __init__(self, url: str, clock: Clock | None = None, log_dir: str | Path | None = None) -> None:
        self.url = normalise_url(url)
        self.clock: Clock = clock or SystemClock()
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            # The file as the monitor's reader finds it (sqlite_path), so both always open the same one.
            path = sqlite_path(self.url)
            if path is None:
                raise StoreError("an in-memory SQLite database cannot be shared by engine and viewers")
            if not path.parent.is_dir():
                if path.parent != default_data_dir():
                    # A mistyped path must not leave new folders and an empty database behind.
                    raise StoreError(f"database {path}: the directory {path.parent} does not exist")
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(f"cannot create the database directory {path.parent}: {exc}") from exc
            _refuse_another_programs_file(path)
            self.db_path: Path | None = path
            self._lock_path = str(path) + ".writelock"
            # A pool keeps connections open: closing the last one makes SQLite checkpoint and delete the
            # WAL, an fsync on every transaction. Op processes never inherit them (close_fds).
            self.engine: Engine = create_engine(self.url, pool_size=8, max_overflow=8)
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            self.db_path = None
            self.engine = create_engine(
                self.url,
                pool_size=8,
                max_overflow=16,
                # Operators see who holds a connection in pg_stat_activity.
                connect_args={
                    "application_name": f"jobtui pid {os.getpid()}",
                    # A server that takes the connection and never answers must not hang a command.
                    "connect_timeout": CONNECT_TIMEOUT_S,
                },
            )
            event.listen(self.engine, "connect", _pg_on_connect)
            event.listen(self.engine, "checkin", _note_checkin)
            event.listen(self.engine, "checkout", _ping_if_idle)
            if clock is None:
                # Deadlines and heartbeats compare times written by several hosts: use one clock.
                self.clock = DatabaseClock(self._server_time)
        self.sweep_lock_timeout_s = SWEEP_LOCK_TIMEOUT_S
        # How long a write waits for another process's write lock; None: as long as it takes (engines).
        self.lock_wait_s: float | None = None
        self._reader: Reader | None = None
        self._ensure_schema()
        self.database_id = self._database_id()
        self._file_identity = self._current_file_identity()
        explicit = log_dir or os.environ.get("JOBTUI_LOG_DIR")
        name = None if self.is_sqlite or explicit else self._database_name()
        self.log_dir = log_folder(self.url, self.database_id, name, explicit)
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def log_file(self, job_id: int) -> str:
        """Job `job_id`'s log file on this host: in this store's log folder, whatever folder its row
        (jobs.log_path) names. That one was the submitter's: a database moved or restored elsewhere with
        its folder finds its logs (and never writes to, or deletes, the original's), and on PostgreSQL
        each engine writes its ops' output on its own host (readers read the database's copy)."""
        return log_file_in(str(self.log_dir), job_id)

    @property
    def reader(self) -> Reader:
        """Plain driver reads on this database (the monitor's job table), opened on first use."""
        if self._reader is None:
            self._reader = Reader(self.url)
        return self._reader

    @property
    def safe_url(self) -> str:
        """The URL without its password, for messages and logs."""
        return printable_url(self.url)

    # -- transactions -------------------------------------------------------------------------------

    @contextmanager
    def write(self, walking: bool = False, lock_wait_s: float | None = None) -> Iterator[Session]:
        """One write transaction; commits on success, rolls back everything on any exception.

        `walking`: an engine moving the jobs it holds. Such a transaction makes work for other engines
        only when it leaves a job claimable; any other write (an operator's) may make work.
        `lock_wait_s`: this write gives up after so long behind another process's lock (else the Store's
        `lock_wait_s`): a dashboard's action must not hang while its embedded engine waits on.
        """
        lock_fd = self.take_writer_lock(lock_wait_s)
        try:
            conn = self._connect_for_write(lock_wait_s if lock_wait_s is not None else self.lock_wait_s)
            session = Session(bind=conn, expire_on_commit=False, join_transaction_mode="rollback_only")
            session.info["jobtui_work"] = not walking
            try:
                yield session
                self.flush_job_writes(session)
                session.flush()
                if not self.is_sqlite and session.info["jobtui_work"] and "jobtui_touched" in session.info:
                    session.execute(text(f"NOTIFY {wakeups.WORK_CHANNEL}"))
                conn.commit()
                for callback in session.info.get("jobtui_after_commit", ()):
                    callback()
            except BaseException:
                conn.rollback()
                raise
            finally:
                session.close()
                conn.close()
        finally:
            if lock_fd is not None:
                os.close(lock_fd)  # closing the descriptor releases the flock

    @contextmanager
    def savepoint(self, session: Session) -> Iterator[None]:
        """One job's share of a batch transaction: on any exception its writes, feed rows, held-back
        bookkeeping and after-commit callbacks are undone, and the rest of the batch stands.

        Its bookkeeping is written at the end (a lost lease raises LeaseLost here, not at the batch's
        commit, where it would undo every job)."""
        info = session.info
        # Everything a transaction keeps aside (feed rows, held-back job writes, after-commit callbacks,
        # how far logs were shipped) as it stood before the job.
        kept = {key: _copy_aside(value) for key, value in info.items() if key.startswith("jobtui_")}
        nested = session.begin_nested()
        try:
            yield
            self.flush_job_writes(session)
            nested.commit()
        except BaseException:
            if nested.is_active:
                nested.rollback()
            for key in [key for key in info if key.startswith("jobtui_")]:
                del info[key]
            info.update(kept)
            # Loaded rows may carry values written (set_committed_value) inside the undone savepoint.
            session.expire_all()
            raise

    @staticmethod
    def after_commit(session: Session, callback: Callable[[], object]) -> None:
        """Run `callback` once `session`'s write transaction has committed (never if it fails)."""
        session.info.setdefault("jobtui_after_commit", []).append(callback)

    def _server_time(self) -> pendulum.DateTime:
        with self.engine.connect() as conn:
            value = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
        return pendulum.instance(value).in_timezone("UTC")

    @contextmanager
    def sweeping(self) -> Iterator[bool]:
        """Whether this process is the one that sweeps now (expiry, trap timeouts, lost workers).

        Several daemons on PostgreSQL take turns through an advisory lock; SQLite's writers are serialised
        anyway, so there every engine sweeps.
        """
        if self.is_sqlite:
            yield True
            return
        with self.engine.connect() as conn:
            # The lock lives in a transaction the server ends by itself if it sits idle too long: a
            # daemon stopped (SIGSTOP, a hung host) while sweeping must not stop every other from sweeping,
            # or the jobs of the lost daemon would never be declared lost.
            timeout_ms = int(self.sweep_lock_timeout_s * 1000)
            conn.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {timeout_ms}"))
            mine = bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(740252)")).scalar())
            try:
                yield mine
            finally:
                with contextlib.suppress(DBAPIError):
                    conn.rollback()

    def take_writer_lock(self, lock_wait_s: float | None = None) -> int | None:
        """Queue SQLite writers in the kernel: a waiter wakes the moment the lock is free, where
        SQLite's own busy handler polls with growing sleeps and starves under steady contention.

        With `lock_wait_s` set (commands an operator waits for), a writer that does not get the lock in
        time gives up with DatabaseBusy naming the holder, instead of hanging behind a stopped process."""
        if self.db_path is None:
            return None
        wait = lock_wait_s if lock_wait_s is not None else self.lock_wait_s
        # Group-writable (as the umask allows): every user of a shared database queues on this lock. Never
        # through a symbolic link: another user of the database's folder could point it at a file of root's
        # (whose first bytes would be this pid).
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o660)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            why = "a symbolic link, never opened (remove it: jobtui makes its own lock file)"
            raise OSError(errno.ELOOP, why, self._lock_path) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if wait is None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                elif not _flock_within(fd, wait):
                    fd = -1  # handed to the waiting thread, which closes it if it ever gets the lock
                    raise DatabaseBusy(self._busy_message(wait)) from None
            _note_holder(fd)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise
        return fd

    def _busy_message(self, wait: float) -> str:
        """Who keeps this process from writing: the process first in jobtui's writer queue (its pid is in
        the lock file), unless it is itself waiting for SQLite's write lock, held by another process (a
        sqlite3 shell left in a transaction): then that one. Where the kernel's lock table cannot be
        read, which of the processes that have the database open holds it cannot be told: they are
        named, and none is blamed."""
        assert self.db_path is not None
        me = os.getpid()
        queued = _lock_file_pid(self._lock_path)
        writer = _sqlite_writer(self.db_path)
        if writer is None:
            files = [self.db_path, Path(f"{self.db_path}-wal"), Path(f"{self.db_path}-shm")]
            pids = [pid for pid in ([queued] if queued else []) + _processes_with_open(files) if pid != me]
            named = ", ".join(_process_text(pid) for pid in dict.fromkeys(pids)) or "none this user may see"
            return (
                f"database {self.db_path} is locked for more than {wait:g} s; nothing was changed (one of "
                f"the processes that have it open holds its write lock; if it is stopped or hung, resume or "
                f"end it): {named}"
            )
        if writer and writer not in (queued, me):
            waiting = f"; {_process_text(queued)} waits for it too" if queued and queued != me else ""
            return (
                f"database {self.db_path} is locked by {_process_text(writer)} for more than {wait:g} s"
                f"{waiting}; nothing was changed (process {writer} holds the write lock: end it, resume it "
                "if it is stopped, or end the transaction it left open)"
            )
        who = f" by {_process_text(queued)}" if queued else ""
        return (
            f"database {self.db_path} is locked{who} for more than {wait:g} s; nothing was "
            "changed (a stopped or hung process holds the write lock: resume or end it)"
        )

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def _connect_for_write(self, wait: float | None = None) -> Connection:
        """A connection in a write transaction. `wait`: how long an operator's command waits behind a
        process that holds SQLite's own lock without jobtui's (another program, sqlite3 in a shell),
        then gives up with DatabaseBusy (to within SQLite's busy timeout); engines wait longer."""
        deadline = time.monotonic() + (LOCK_RETRY_SECONDS if wait is None else wait)
        delay = 0.01
        while True:
            conn = self.engine.connect().execution_options(sqlite_begin="IMMEDIATE")
            try:
                conn.begin()
                return conn
            except OperationalError as exc:
                conn.close()
                # Another process kept the write lock past busy_timeout: wait and try again rather than
                # lose the state change.
                if "locked" not in str(exc).lower():
                    raise
                if time.monotonic() > deadline:
                    if wait is None:
                        raise
                    raise DatabaseBusy(
                        f"database {self.db_path} is locked by a program other than jobtui for more than "
                        f"{wait:g} s; nothing was changed (end the program, or the transaction it left open)"
                    ) from None
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)

    # -- schema -------------------------------------------------------------------------------------

    def _ensure_schema(self) -> None:
        try:
            with self.engine.connect() as conn:
                current = current_revision(conn)
        except DBAPIError as exc:
            problem = StoreUnreachable if not self.is_sqlite else StoreError
            # One line: libpq's messages span several, tab-indented ("\n\tIs the server running…").
            raise problem(f"cannot open database {self.safe_url}: {' '.join(str(exc.orig).split())}") from exc
        if current != SCHEMA_HEAD:
            from jobtui.engine.db import migrate  # alembic is slow to import; only load it when needed

            migrate.upgrade(self.engine, self.safe_url, current)
        if self.is_sqlite:
            self._heal_counts()

    def _database_id(self) -> str:
        """This database's identity, created once with it: it names the folder of its logs."""
        with self.engine.connect() as conn:
            found = conn.execute(text("SELECT value FROM settings WHERE key = 'database_id'")).scalar()
        if found is None:
            with self.write() as session:
                session.execute(
                    text(
                        "INSERT INTO settings (key, value) VALUES ('database_id', :value) "
                        "ON CONFLICT (key) DO NOTHING"
                    ),
                    {"value": json.dumps(uuid.uuid4().hex[:16])},
                )
                found = session.execute(text("SELECT value FROM settings WHERE key = 'database_id'")).scalar()
        if found is None:
            raise StoreError(f"database {self.safe_url}: cannot record its identity")
        return str(json.loads(found))

    def _database_name(self) -> str:
        """On PostgreSQL, part of the name of the logs' folder: a database created from another as its
        template carries the same identity row."""
        with self.engine.connect() as conn:
            return str(conn.execute(text("SELECT current_database()")).scalar())

    def _current_file_identity(self) -> tuple[int, int] | None:
        if self.db_path is None:
            return None
        try:
            stat = os.stat(self.db_path)
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def file_problem(self) -> str | None:
        """Why this SQLite database is no longer the file it opened (deleted, or replaced by another file
        at its path), or None. A process that kept working on a deleted file would lose everything."""
        if self.db_path is None or self._file_identity is None:
            return None
        now = self._current_file_identity()
        if now is None:
            return f"database {self.db_path} was deleted"
        if now != self._file_identity:
            return f"database {self.db_path} was replaced by another file"
        return None

    def _heal_counts(self) -> None:
        """A bulk load drops the count triggers while it runs; if it died, put them back and recount."""
        from jobtui.engine.db import counts

        with self.engine.connect() as conn:
            if counts.healthy(conn):
                return
        with self.write() as session:
            counts.install(session.connection())

    # -- the change feed and audited writes ----------------------------------------------------------

    def now(self) -> pendulum.DateTime:
        return self.clock.now()

    def touch(self, session: Session, job_id: int | None, kind: str = "job") -> int:
        """Record that a job (or, with job_id None, something global) changed; returns its seq.

        One feed row per job per transaction is enough: viewers only see the transaction at commit.
        """
        touched: dict[int | None, int] = session.info.setdefault("jobtui_touched", {})
        if job_id is not None and job_id in touched:
            return touched[job_id]
        seq = self._new_change(session, job_id, kind)
        if job_id is not None:
            touched[job_id] = seq
            session.execute(update(JOBS).where(JOBS.c.id == job_id).values(seq=seq))
        return seq

    def first_new_job_id(self, session: Session) -> int | None:
        """The id a new job must take on SQLite (None elsewhere: PostgreSQL's sequence never gives one
        back). SQLite gives a new row the highest id in the table plus one: a deleted newest job's id
        would come back, and with it the deleted job's audit trail, which outlives the job
        (`NEVER_REUSED`). In the caller's write transaction, which holds the database's write lock."""
        if not self.is_sqlite:
            return None
        return int(session.execute(text(NEVER_REUSED)).scalar_one())

    def touch_many(self, session: Session, job_ids: list[int]) -> dict[int, int]:
        """`touch` for many jobs: the feed rows of those not yet in it this transaction in one statement,
        and each job's seq (the caller writes it with the job's row)."""
        touched: dict[int | None, int] = session.info.setdefault("jobtui_touched", {})
        new = [job_id for job_id in job_ids if job_id not in touched]
        if new:
            params: dict[str, Any] = {"at": self.now()}
            if self.is_sqlite:
                values = ", ".join(f"(:j{n}, 'job', :at)" for n in range(len(new)))
                params.update({f"j{n}": job_id for n, job_id in enumerate(new)})
                sql = f"INSERT INTO changes (job_id, kind, at) VALUES {values} RETURNING seq, job_id"
            else:  # one statement text, whatever the count (prepared once), seqs in the order given
                params["ids"] = new
                sql = (
                    "INSERT INTO changes (job_id, kind, at) SELECT j, 'job', :at "
                    "FROM unnest(CAST(:ids AS integer[])) WITH ORDINALITY AS v(j, o) ORDER BY o "
                    "RETURNING seq, job_id"
                )
            self.note_touched(
                session, {row["job_id"]: int(row["seq"]) for row in raw.rows(session, sql, params)}
            )
        return {job_id: touched[job_id] for job_id in job_ids}

    def note_touched(self, session: Session, seqs: Mapping[int, int]) -> None:
        """Feed rows a statement of the caller's inserted (job → seq): `touch` returns them for the rest of
        the transaction, and viewers are told at commit."""
        touched: dict[int | None, int] = session.info.setdefault("jobtui_touched", {})
        touched.update(seqs.items())
        if seqs and not self.is_sqlite and not session.info.get("jobtui_notified"):
            session.execute(text(f"NOTIFY {wakeups.CHANNEL}"))
            session.info["jobtui_notified"] = True

    def _new_change(self, session: Session, job_id: int | None, kind: str) -> int:
        row = {"job_id": job_id, "kind": kind, "at": self.now()}
        seq = int(session.execute(_NEW_CHANGE, row).scalar_one())
        if not self.is_sqlite and not session.info.get("jobtui_notified"):
            # Delivered at commit, once per transaction, to every listening viewer and daemon.
            session.execute(text(f"NOTIFY {wakeups.CHANNEL}"))
            session.info["jobtui_notified"] = True
        return seq

    def listen(self, callback: Callable[[], None], work_only: bool = False) -> wakeups.Listener:
        """Call `callback` when another transaction commits a change (PostgreSQL); a no-op on SQLite.

        With `work_only`, only for changes that may leave a job to claim: a daemon need not wake for
        every op another daemon finishes."""
        dsn = None
        if not self.is_sqlite:
            dsn = make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
        channel = wakeups.WORK_CHANNEL if work_only else wakeups.CHANNEL
        return wakeups.Listener(dsn, callback, channel).start()

    def audit(
        self,
        session: Session,
        job: Job,
        who: str,
        action: str,
        from_status: str | None,
        to_status: str | None,
        comment: str | None = None,
        refused: bool = False,
        at: pendulum.DateTime | None = None,
    ) -> None:
        session.add(
            AuditEvent(
                job_id=job.id or 0,
                job_name=job.name,
                at=at or self.now(),
                who=who,
                action=action,
                from_status=from_status,
                to_status=to_status,
                comment=comment,
                refused=refused,
                by_user=acting_for(session),
            )
        )

    def change_job(
        self,
        session: Session,
        job: Job,
        who: str,
        action: str,
        to_status: Status | None = None,
        comment: str | None = None,
        held: str | None = None,
        at: pendulum.DateTime | None = None,
        **fields: Any,
    ) -> None:
        """The one way a job row changes: table-checked, audited when the status moves, in the feed.

        With `held`, the write only happens if the job still carries that lease; otherwise LeaseLost. `at`:
        when it happens (default: its `ended_at`, else now), its status's since and its audit row's time.
        """
        assert job.id is not None
        src = job_status(job)
        values = dict(fields)
        moves = to_status is not None and to_status != src
        # One instant for the change: its end date, the status's since and the audit row's time agree
        # (they came a few ms apart, three reads of the clock).
        audited = moves or action not in ENGINE_QUIET_ACTIONS
        at = at or fields.get("ended_at") or (self.now() if audited else None)
        if to_status is not None and moves:
            if not is_allowed_transition(src, to_status):
                raise TransitionError(f"{action}: {src.value} → {to_status.value} is not in the table")
            values["status"] = to_status.value
            values["status_since"] = at
        touched: dict[int | None, int] = session.info.setdefault("jobtui_touched", {})
        if job.id not in touched:
            touched[job.id] = self._new_change(session, job.id, "job")
            values["seq"] = touched[job.id]
        pending: dict[int, _JobWrite] = session.info.setdefault("jobtui_job_writes", {})
        write = pending.get(job.id)
        if write is not None and held is not None and write.held not in (None, held):
            self._write_job(session, job.id, pending.pop(job.id))
            write = None
        if write is None:
            write = pending[job.id] = _JobWrite(held)
        write.values.update(values)
        write.held = write.held or held
        for key, value in values.items():
            # Keep the instance in step without making it dirty, or autoflush would write it again.
            set_committed_value(job, key, value)
        if Status(job.status) in CLAIMABLE and (moves or "worker_id" in values or "due_at" in values):
            session.info["jobtui_work"] = True
        if audited:
            # Bookkeeping (step, progress) waits to ride along with the next write of the row; a status
            # change is written now, so triggers and queries later in the transaction see it.
            self._write_job(session, job.id, pending.pop(job.id))
            self.audit(session, job, who, action, src.value, Status(job.status).value, comment, at=at)
        if to_status is not None and to_status != src:
            for hook in _STATUS_HOOKS:
                hook(self, session, job, src, to_status, who, action)

    def flush_job_writes(self, session: Session) -> None:
        """Write the bookkeeping `change_job` held back; LeaseLost if a lease it relied on is gone."""
        pending: dict[int, _JobWrite] = session.info.get("jobtui_job_writes", {})
        while pending:
            job_id, write = pending.popitem()
            self._write_job(session, job_id, write)

    @staticmethod
    def _write_job(session: Session, job_id: int, write: _JobWrite) -> None:
        if not write.values and write.held is None:
            return
        stmt = update(JOBS).where(JOBS.c.id == job_id)
        if write.held is not None:
            stmt = stmt.where(JOBS.c.lease == write.held)
        # With nothing to change, re-setting the id still proves the lease is held.
        result = session.execute(stmt.values(**(write.values or {"id": job_id})))
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise LeaseLost(f"job {job_id} is no longer held by this worker")

    # -- settings -----------------------------------------------------------------------------------

    def get_setting(self, session: Session, key: str, default: Any = None) -> Any:
        row = session.get(Setting, key)
        return default if row is None else json.loads(row.value)

    def set_setting(self, session: Session, key: str, value: Any) -> None:
        row = session.get(Setting, key)
        if row is None:
            session.add(Setting(key=key, value=json.dumps(value)))
        else:
            row.value = json.dumps(value)
            session.add(row)
        session.flush()

    def last_seq(self) -> int:
        with self.read() as session:
            value = session.execute(text("SELECT max(seq) FROM changes")).scalar()
            return int(value or 0)

    @staticmethod
    def lock_job(session: Session, job_id: int | None) -> Job | None:
        """Load a job to decide on it in a write transaction, its row locked until commit.

        On PostgreSQL another transaction may change the job between the read and the write; the lock
        makes it wait for (and then read) that change, so a decision is never taken on a stale status.
        SQLite's writers are serialised anyway (no FOR UPDATE there).
        """
        if job_id is None:
            return None
        return session.get(Job, job_id, with_for_update=True, populate_existing=True)

    def load_job(self, session: Session, job_id: int) -> Job | None:
        return session.scalars(select(Job).where(Job.id == job_id)).first()


_NEW_CHANGE = insert(CHANGES).returning(CHANGES.c.seq)


def _copy_aside(value: Any) -> Any:
    """A copy of a transaction's aside that the job's own writes cannot change."""
    if isinstance(value, dict):
        return {
            k: _JobWrite(v.held, dict(v.values)) if isinstance(v, _JobWrite) else v for k, v in value.items()
        }
    if isinstance(value, list):
        return list(value)
    return value


@dataclass
class _JobWrite:
    """Changes to one job row not yet written in this transaction, and the lease they rely on."""

    held: str | None
    values: dict[str, Any] = field(default_factory=dict)


# Statuses an engine claims a job in (when due, and not held).
CLAIMABLE = frozenset({Status.READY, Status.PAUSED, Status.ROLLBACK})

# Engine bookkeeping that moves no status (progress, step pointers) goes to the feed but not the audit.
ENGINE_QUIET_ACTIONS = frozenset({"progress", "step", "natures", "heartbeat"})


IDLE_PING_S = 1.0


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["jobtui_idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Ping a pooled connection that sat idle (the server may have restarted meanwhile); one in steady
    use is not pinged, which would cost a round trip per transaction. A failed ping makes the pool
    discard the connection and open another."""
    since = record.info.get("jobtui_idle_since")
    if since is None or time.monotonic() - since < IDLE_PING_S:
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
    except Exception as exc:
        raise DisconnectionError(str(exc)) from exc


def _pg_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # A commit returns once its WAL is flushed, whatever the server's default: a claim is durable before
    # its op starts. (A cluster run with fsync off, as the test suite's, is still not durable.)
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO on")
    dbapi_connection.commit()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's begin hook (below) issue BEGIN itself, so writers can ask for IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    # FULL: every commit (one per engine pass) is on disk before the engine acts on it (starts an op).
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")
