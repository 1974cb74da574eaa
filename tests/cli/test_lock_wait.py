"""A command that cannot get the SQLite write lock in time says who holds it and exits 1, changing
nothing (issue 14, item 10: a SIGSTOPped daemon used to block every write forever)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.service.actions import Actions
from tests.support.helpers import definition, wait_for

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.pwrite(fd, f"{os.getpid():<10}".encode(), 0)
print("held", flush=True)
os.kill(os.getpid(), 19)  # SIGSTOP: a daemon paused while it holds the lock
"""


def test_a_write_behind_a_stopped_lock_holder_gives_up_naming_it(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    url = f"sqlite:///{db}"
    store = Store(url)
    job_id = Actions(store, Actor("tester")).submit(definition('name = "j"\n[[run]]\nrun = "true"\n'))
    store.engine.dispose()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, f"{db}.writelock"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        wait_for(lambda: _state(holder.pid) == "T", timeout=10, what="the holder to stop")
        env = {**os.environ, "JOBTUI_LOCK_WAIT_S": "1"}
        env.pop("JOBTUI_DB", None)
        started = time.monotonic()
        cancel = subprocess.run(
            [sys.executable, "-m", "jobtui.cli", "cancel", str(job_id), "--db", url],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        waited = time.monotonic() - started
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert cancel.returncode == 1, cancel.stderr
    assert cancel.stderr.startswith(f"cancel: database {db} is locked by process {holder.pid}")
    # Its command line whole (it was cut to 60 characters of its first three arguments), on one line.
    assert f"{db}.writelock, stopped)" in cancel.stderr
    assert len(cancel.stderr.strip().splitlines()) == 1
    assert waited < 30
    assert Store(url).reader.value("SELECT status FROM jobs WHERE id = :id", {"id": job_id}) == "READY"


# Not jobtui: a program holding SQLite's own write lock (sqlite3 in a shell left in a transaction) until
# its stdin is closed.
SQLITE_HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def _daemon_behind_a_sqlite_holder(
    db: Path,
) -> Iterator[tuple[subprocess.Popen[str], subprocess.Popen[bytes]]]:
    """A program that is not jobtui holding SQLite's write lock on `db`, and a jobtui daemon (with
    --workers 3) first in jobtui's writer queue, waiting for it: (holder, daemon)."""
    env = {key: value for key, value in os.environ.items() if key not in ("JOBTUI_DB", "JOBTUI_LOCK_WAIT_S")}
    holder = subprocess.Popen(
        [sys.executable, "-c", SQLITE_HOLDER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    daemon = None
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        daemon = subprocess.Popen(
            [sys.executable, "-m", "jobtui", "daemon", "--db", f"sqlite:///{db}", "--workers", "3"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Its first write takes jobtui's writer lock (its pid in the lock file), then waits for SQLite's.
        started = daemon
        wait_for(lambda: _lock_file_pid(db) == started.pid, timeout=30, what="the daemon to queue")
        yield holder, daemon
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
        holder.kill()
        holder.wait()


def _job_in(db: Path) -> int:
    store = Store(f"sqlite:///{db}")
    job_id = Actions(store, Actor("tester")).submit(definition('name = "j"\n[[run]]\nrun = "true"\n'))
    store.engine.dispose()
    return job_id


def test_a_daemon_queued_behind_another_programs_lock_is_not_blamed_for_it(tmp_path: Path) -> None:
    """A daemon waiting for the lock a sqlite3 shell holds was named as its holder ("resume or end it"),
    its command line cut to `-m jobtui daemon`: the operator would end the daemon, and wait on. The
    message names the process that holds the lock, says the daemon waits for it too, and quotes each
    command line whole."""
    db = tmp_path / "jobs.db"
    url = f"sqlite:///{db}"
    job_id = _job_in(db)
    env = {key: value for key, value in os.environ.items() if key != "JOBTUI_DB"}
    with _daemon_behind_a_sqlite_holder(db) as (holder, daemon):
        cancel = subprocess.run(
            [sys.executable, "-m", "jobtui.cli", "cancel", str(job_id), "--db", url],
            env={**env, "JOBTUI_LOCK_WAIT_S": "1"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert cancel.returncode == 1, cancel.stderr
    (line,) = cancel.stderr.splitlines()
    assert line.startswith(f"cancel: database {db} is locked by process {holder.pid} ({sys.executable} -c ")
    daemon_command = f"{sys.executable} -m jobtui daemon --db {url} --workers 3"
    # Queued in the lock at that moment (it may be between two tries), it is named as waiting, whole.
    if f"process {daemon.pid} " in line:
        assert f"process {daemon.pid} ({daemon_command}, " in line and "waits for it too" in line, line
    assert f"nothing was changed (process {holder.pid} holds the write lock: end it" in line
    assert Store(url).reader.value("SELECT status FROM jobs WHERE id = :id", {"id": job_id}) == "READY"


def test_where_the_lock_holder_cannot_be_told_none_is_blamed_and_those_with_the_database_open_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the kernel's lock table (not Linux: made absent here), which process holds SQLite's write
    lock cannot be told: the daemon first in jobtui's queue is not blamed, every process that has the
    database open is named."""
    from jobtui.engine.db import store as store_module
    from jobtui.engine.db.store import DatabaseBusy

    monkeypatch.setattr(store_module, "PROC_LOCKS", str(tmp_path / "no-lock-table"))
    db = tmp_path / "jobs.db"
    job_id = _job_in(db)
    store = Store(f"sqlite:///{db}")
    with _daemon_behind_a_sqlite_holder(db) as (holder, daemon), pytest.raises(DatabaseBusy) as refused:
        Actions(store, Actor("tester"), lock_wait_s=0.5).cancel(job_id)
    message = str(refused.value)
    assert message.startswith(f"database {db} is locked for more than 0.5 s; nothing was changed (one of ")
    assert f"process {daemon.pid} ({sys.executable} -m jobtui daemon " in message
    assert f"process {holder.pid} ({sys.executable} -c " in message
    assert "locked by process" not in message and "\n" not in message
    assert store.reader.value("SELECT status FROM jobs WHERE id = :id", {"id": job_id}) == "READY"


def _lock_file_pid(db: Path) -> int | None:
    text = Path(f"{db}.writelock").read_text().strip() if Path(f"{db}.writelock").exists() else ""
    return int(text) if text.isdigit() else None


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]


def test_a_dashboard_action_gives_up_behind_the_lock_while_the_store_itself_waits(tmp_path: Path) -> None:
    """The dashboard's actions carry their own wait (its embedded engine shares the Store and waits)."""
    import pytest

    from jobtui.engine.db.store import DatabaseBusy

    db = tmp_path / "jobs.db"
    store = Store(f"sqlite:///{db}")
    job_id = Actions(store, Actor("tester")).submit(definition('name = "j"\n[[run]]\nrun = "true"\n'))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, f"{db}.writelock"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        wait_for(lambda: _state(holder.pid) == "T", timeout=10, what="the holder to stop")
        assert store.lock_wait_s is None  # engines on this Store wait as long as it takes
        with pytest.raises(DatabaseBusy, match=f"locked by process {holder.pid}"):
            Actions(store, Actor("tester"), lock_wait_s=0.5).cancel(job_id)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert store.reader.value("SELECT status FROM jobs WHERE id = :id", {"id": job_id}) == "READY"


def test_a_write_behind_another_programs_sqlite_lock_gives_up_in_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A program that is not jobtui (sqlite3 in a shell) holds SQLite's own lock, not jobtui's: the
    command waited two minutes, whatever JOBTUI_LOCK_WAIT_S said, then exited 2 "database is locked"."""
    import sqlite3

    from jobtui.engine.db import store as store_module
    from jobtui.engine.db.store import DatabaseBusy

    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 100)  # SQLite's own wait, a try at a time
    db = tmp_path / "jobs.db"
    store = Store(f"sqlite:///{db}")
    job_id = Actions(store, Actor("tester")).submit(definition('name = "j"\n[[run]]\nrun = "true"\n'))
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseBusy, match=r"locked by a program other than jobtui for more than 0\.5 s"):
            Actions(store, Actor("tester"), lock_wait_s=0.5).cancel(job_id)
    finally:
        other.rollback()
        other.close()
    assert store.reader.value("SELECT status FROM jobs WHERE id = :id", {"id": job_id}) == "READY"
