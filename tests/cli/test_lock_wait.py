"""A command that cannot get the SQLite write lock in time says who holds it and exits 1, changing
nothing (issue 14, item 10: a SIGSTOPped daemon used to block every write forever)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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
    assert f"database {db} is locked by process {holder.pid}" in cancel.stderr
    assert "stopped" in cancel.stderr
    assert len(cancel.stderr.strip().splitlines()) == 1
    assert waited < 30
    assert Store(url).reader.value("SELECT status FROM jobs WHERE id = :id", {"id": job_id}) == "READY"


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
