"""Reliability: kill -9 of the daemon under load, a foreign process holding the SQLite write lock past
busy_timeout, a full or read-only disk, and huge op output (100 MB, very long lines, invalid UTF-8).

Everything runs for real: `jobtui daemon` and `jobtui` commands as subprocesses, ops as shell processes,
the database on disk (a size-limited tmpfs stands in for a full disk, a read-only bind mount for a
read-only one; both need root, as the test suite runs here, and are skipped with the reason otherwise).
Ops that must stay alive until the test says so wait on a gate: `flock -s GATE true` blocks while the
test holds the file's exclusive lock, costs no CPU, and returns 0 the moment the test lets go.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from textual.pilot import Pilot

from jobtui.engine.db.driver import BUSY_TIMEOUT_MS
from jobtui.engine.db.store import Store
from jobtui.engine.worker.loop import Engine
from jobtui.engine.worker.runner import read_status_file
from tests.support.helpers import ROOT, status_of, wait_for

_SCRIPT = Path(sys.executable).with_name("jobtui")
JOBTUI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "jobtui.cli"]


# -- helpers -------------------------------------------------------------------------------------------


def jobtui_env(db_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JOBTUI_POLICY", "JOBTUI_DB", "JOBTUI_LOG_DIR")}
    if db_url is not None:
        env["JOBTUI_DB"] = db_url
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def run_cli(*args: object, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*JOBTUI, *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout
    )


def run_clis(*calls: tuple[object, ...], env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    """Independent commands at once (each pays the interpreter's start-up); results in order."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda args: run_cli(*args, env=env), calls))


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"{proc.args!r} -> {proc.returncode}\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-4000:]}"


class Gate:
    """A file whose exclusive flock the test holds; ops running `flock -s PATH true` wait until released."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    @property
    def wait(self) -> str:
        """The shell command an op runs to wait for the gate."""
        return f"flock -s {self.path} true"

    def open(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock: every waiter goes at once
            self._fd = None


@pytest.fixture
def gates(tmp_path: Path) -> Iterator[Callable[[str], Gate]]:
    made: list[Gate] = []

    def make(name: str) -> Gate:
        gate = Gate(tmp_path / f"{name}.gate")
        made.append(gate)
        return gate

    yield make
    for gate in made:
        gate.open()


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Daemons:
    """`jobtui daemon` processes of one test; killed at the end with every op process group they left."""

    tmp_path: Path
    started: list[Daemon] = field(default_factory=list)
    db_paths: set[Path] = field(default_factory=set)

    def start(
        self, db_path: Path, *extra: str, workers: int = 2, env: dict[str, str] | None = None
    ) -> Daemon:
        self.db_paths.add(db_path)
        stderr_path = self.tmp_path / f"daemon-{len(self.started)}.stderr"
        with stderr_path.open("wb") as err:
            proc = subprocess.Popen(
                [*JOBTUI, "daemon", "--db", f"sqlite:///{db_path}", "--workers", str(workers), *extra],
                env=env or jobtui_env(),
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
            )
        daemon = Daemon(proc, stderr_path)
        self.started.append(daemon)
        return daemon

    def cleanup(self) -> None:
        for daemon in self.started:
            if daemon.proc.poll() is None:
                daemon.proc.kill()
            daemon.proc.wait(timeout=30)
        for db_path in self.db_paths:
            with contextlib.suppress(sqlite3.Error):
                for (pid,) in sql(db_path, "SELECT pid FROM op_runs WHERE pid IS NOT NULL"):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Daemons]:
    found = Daemons(tmp_path)
    yield found
    found.cleanup()


def sql(db_path: Path, query: str, *params: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        rows = conn.execute(query, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def statuses(db_path: Path, ids: Iterable[int] | None = None) -> dict[int, str]:
    rows = dict(sql(db_path, "SELECT id, status FROM jobs"))
    return rows if ids is None else {i: rows.get(i, "<missing>") for i in ids}


def wait_statuses(
    db_path: Path, expected: dict[int, str], timeout: float = 60, daemon: Daemon | None = None
) -> None:
    seen: dict[int, str] = {}

    def reached() -> bool:
        seen.clear()
        seen.update(statuses(db_path, expected))
        return seen == expected

    try:
        wait_for(reached, timeout=timeout, what="the jobs' statuses")
    except AssertionError:
        wrong = {j: (s, expected[j]) for j, s in seen.items() if s != expected[j]}
        where = f"\ndaemon: {daemon.stderr()[-3000:]}" if daemon else ""
        raise AssertionError(f"jobs not as expected (seen, wanted): {wrong}{where}") from None


def live_groups(pgids: Iterable[int]) -> set[int]:
    """The process groups among `pgids` that still have a live (non-zombie) member, in one pass."""
    wanted = set(pgids)
    found: set[int] = set()
    for proc in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error, OSError):
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            pgid = os.getpgid(proc.pid)
            if pgid in wanted:
                found.add(pgid)
    return found


def init_db(db_path: Path) -> None:
    """Create the database at the current schema (as the first `jobtui` command would)."""
    open_store(db_path).engine.dispose()


def submit_many(db_path: Path, text: str, count: int, log_dir: Path | None = None) -> list[int]:
    """Submit `count` jobs of one definition, as `jobtui submit` would (logs in `log_dir`, else beside
    the database)."""
    from jobtui.engine.domain.permissions import Actor
    from jobtui.engine.service.actions import Actions
    from tests.support.helpers import definition

    store = open_store(db_path, log_dir)
    try:
        return Actions(store, Actor("tester")).submit_many(definition(text), count)
    finally:
        store.engine.dispose()


def open_store(db_path: Path, log_dir: Path | None = None) -> Store:
    return Store(f"sqlite:///{db_path}", log_dir=log_dir)


def hold_for(seconds: float, check: Callable[[], None]) -> None:
    """Keep a situation up for the scenario's own duration (e.g. longer than busy_timeout), checking an
    invariant all along. Not a wait for the engine: the engine is expected *not* to move meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        check()
        time.sleep(0.1)


def assert_no_crash(daemon: Daemon) -> None:
    text = daemon.stderr()
    assert daemon.alive(), f"the daemon died:\n{text[-4000:]}"
    assert "Traceback" not in text and "engine pass failed" not in text, text[-4000:]


# -- kill -9 of the daemon under load -------------------------------------------------------------------


@pytest.mark.slow
def test_kill_9_of_the_daemon_with_running_jobs_loses_nothing(
    tmp_path: Path, daemons: Daemons, gates: Callable[[str], Gate]
) -> None:
    """N jobs run at once (200 in the reliability run, JOBTUI_KILL9_JOBS; 40 here); the daemon is killed
    -9. While no engine runs, 30% of the ops are killed (half of them only their own process, orphaning
    its children) and 20% end by themselves. The restarted daemon re-adopts the half still running,
    collects the exit statuses, marks the killed ones ABEND once each, kills the orphans, and runs the
    jobs that were still queued (a tenth of N): every job is accounted for, every op ran exactly once,
    no op process is left behind."""
    size = int(os.environ.get("JOBTUI_KILL9_JOBS", "40"))
    db = tmp_path / "jobs.db"
    init_db(db)
    run_ledger, post_ledger = tmp_path / "run.ledger", tmp_path / "post.ledger"
    live_gate, away_gate, doomed_gate = gates("live"), gates("away"), gates("doomed")

    def spec(name: str, wait: str) -> str:
        return (
            f'name = "{name}"\n[[run]]\nname = "work"\n'
            f'run = "echo $JOBTUI_JOB_ID >> {run_ledger}; {wait}"\n'
            f'[[post]]\nname = "post"\nrun = "echo $JOBTUI_JOB_ID >> {post_ledger}"\n'
        )

    live = submit_many(db, spec("live", live_gate.wait), size // 2)
    away = submit_many(db, spec("ends-while-away", away_gate.wait), size // 5)
    doomed = submit_many(db, spec("doomed", doomed_gate.wait), size - size // 2 - size // 5)
    queued = submit_many(db, spec("queued", "true"), max(1, size // 10))  # due last: wait for a free slot
    running = [*live, *away, *doomed]
    assert len(running) == size

    first = daemons.start(db, workers=size)

    def ledger(path: Path) -> Counter[int]:
        text = path.read_text() if path.exists() else ""
        return Counter(int(line) for line in text.split())

    # Every op's shell has written its line: all are running (none of the queued ones can start).
    wait_for(lambda: len(ledger(run_ledger)) == size, timeout=90, what=f"{size} ops to start")
    assert set(ledger(run_ledger)) == set(running)

    def recorded_ops() -> dict[int, tuple[int, str]]:
        rows = sql(db, "SELECT job_id, pid, status_file FROM op_runs WHERE step = 'RUN' AND pid IS NOT NULL")
        return {job_id: (pid, status_file) for job_id, pid, status_file in rows}

    wait_for(lambda: set(recorded_ops()) >= set(running), what="every op's pid to be recorded")
    ops = recorded_ops()
    assert_no_crash(first)

    first.proc.kill()  # kill -9: the ops live on, orphaned
    first.proc.wait()
    for n, job_id in enumerate(doomed):
        pid = ops[job_id][0]
        if n % 2:
            os.killpg(pid, signal.SIGKILL)  # the whole op is gone
        else:
            os.kill(pid, signal.SIGKILL)  # only the op's shell: its children live on, unsupervised
    away_gate.open()
    # The starter writes "started" into its status file first and the exit status over it at the end.
    wait_for(
        lambda: all(read_status_file(ops[j][1]) is not None for j in away),
        what="the ops that end while no engine runs",
    )
    assert all(read_status_file(ops[j][1]) == 0 for j in away)
    assert set(statuses(db, running).values()) == {"RUNNING"}

    second = daemons.start(db, workers=size)
    wait_for(
        lambda: (
            set(statuses(db, doomed).values()) == {"ABEND"}
            and set(statuses(db, [*away, *queued]).values()) == {"FINISHED"}
        ),
        timeout=90,
        what="the vanished ops to ABEND and the ended and queued jobs to finish",
    )
    assert set(statuses(db, live).values()) == {"RUNNING"}, "live ops keep running under the new daemon"
    live_gate.open()
    wait_for(lambda: set(statuses(db, live).values()) == {"FINISHED"}, timeout=60, what="live jobs to finish")
    assert_no_crash(second)
    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(timeout=30) == 0

    everything = [*running, *queued]
    assert statuses(db) == {
        **dict.fromkeys(live, "FINISHED"),
        **dict.fromkeys(away, "FINISHED"),
        **dict.fromkeys(doomed, "ABEND"),
        **dict.fromkeys(queued, "FINISHED"),
    }
    assert ledger(run_ledger) == Counter(everything), "every RUN op ran exactly once"
    assert ledger(post_ledger) == Counter([*live, *away, *queued]), (
        "POST ran once for each job that ended well"
    )
    abends = Counter(j for (j,) in sql(db, "SELECT job_id FROM audit WHERE to_status = 'ABEND'"))
    assert abends == Counter(doomed), "each vanished op made its job ABEND exactly once, no other job"
    reasons = {r for (r,) in sql(db, f"SELECT reason FROM jobs WHERE id IN ({','.join(map(str, doomed))})")}
    assert all(r and "vanished" in r for r in reasons), reasons
    taken = {j for (j,) in sql(db, "SELECT job_id FROM audit WHERE action = 'take over'")}
    assert taken >= set(live) | set(away)
    for job_id in live:
        log = Path(sql(db, "SELECT log_path FROM jobs WHERE id = ?", job_id)[0][0]).read_text()
        assert f"re-adopted op work (pid {ops[job_id][0]})" in log
    pgids = [pid for (pid,) in sql(db, "SELECT pid FROM op_runs WHERE pid IS NOT NULL")]
    wait_for(lambda: not live_groups(pgids), what="no op process group left")


# -- another process holds the SQLite write lock past busy_timeout ----------------------------------------

LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN IMMEDIATE")
conn.execute("CREATE TABLE foreign_writer (note TEXT)")  # a real pending write, as a busy writer has
conn.execute("INSERT INTO foreign_writer VALUES ('kept')")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
print("released", flush=True)
"""


@pytest.mark.slow
def test_a_write_lock_held_past_busy_timeout_delays_the_engine_without_losing_a_change(
    tmp_path: Path, daemons: Daemons, gates: Callable[[str], Gate]
) -> None:
    """Another process keeps SQLite's write lock for longer than busy_timeout while ops end. The daemon
    waits for it (no crash, no 'database is locked'), then records every op outcome: the jobs end as their
    ops did, with complete audit trails. A `jobtui submit` made meanwhile waits too and succeeds; reads
    (`jobtui jobs`, what the dashboard does) answer at once."""
    db = tmp_path / "jobs.db"
    init_db(db)
    gate = gates("ops")
    ok = submit_many(db, f'name = "ok"\n[[run]]\nrun = "{gate.wait}"\n[[post]]\nrun = "true"\n', 3)
    (failing,) = submit_many(
        db, f'name = "bad"\n[[run]]\nrun = "{gate.wait}; exit 3"\n[[post]]\nrun = "true"\n', 1
    )
    daemon = daemons.start(db, workers=4)
    wait_for(
        lambda: len(sql(db, "SELECT 1 FROM op_runs WHERE step = 'RUN' AND pid IS NOT NULL")) == 4,
        what="the four ops to start",
    )
    status_files = [Path(f) for (f,) in sql(db, "SELECT status_file FROM op_runs WHERE step = 'RUN'")]
    audit_before = sql(db, "SELECT count(*) FROM audit")[0][0]

    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    late: subprocess.Popen[bytes] | None = None
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "locked"
        spec = tmp_path / "late.toml"
        spec.write_text('name = "late"\n[[run]]\nrun = "true"\n')
        env = jobtui_env(f"sqlite:///{db}")
        late = subprocess.Popen(
            [*JOBTUI, "submit", str(spec), "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        submitting = late
        reads = run_cli("jobs", "--json", env=env)
        assert reads.returncode == 0, describe(reads)
        assert {j["status"] for j in json.loads(reads.stdout)} == {"RUNNING"}

        gate.open()  # the ops end now; the engine cannot record it until the lock is released
        wait_for(
            lambda: all(read_status_file(str(f)) is not None for f in status_files), what="the ops to end"
        )

        def still_waiting() -> None:
            assert_no_crash(daemon)
            assert submitting.poll() is None, "submit gave up while the lock was held"
            assert set(statuses(db, [*ok, failing]).values()) == {"RUNNING"}

        hold_for(BUSY_TIMEOUT_MS / 1000 + 1.5, still_waiting)
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
    except BaseException:
        if late is not None and late.poll() is None:
            late.kill()
            late.wait()
        raise
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()

    assert late is not None
    out, err = late.communicate(timeout=60)
    assert late.returncode == 0, err
    late_id = json.loads(out)["id"]
    wait_for(
        lambda: (
            statuses(db, [*ok, failing, late_id])
            == {**dict.fromkeys(ok, "FINISHED"), failing: "ERROR", late_id: "FINISHED"}
        ),
        timeout=60,
        what="every job to end as its ops did",
    )
    assert_no_crash(daemon)
    assert "database is locked" not in daemon.stderr() and "unreachable" not in daemon.stderr()
    assert sql(db, "SELECT count(*) FROM audit")[0][0] > audit_before
    for job_id in [*ok, failing]:
        trail = [
            (action, to)
            for action, to in sql(
                db, "SELECT action, to_status FROM audit WHERE job_id = ? ORDER BY id", job_id
            )
        ]
        end = "ERROR" if job_id == failing else "FINISHED"
        assert trail[0][0] == "submit" and trail[1] == ("claim", "RUNNING"), trail
        assert [to for _, to in trail].count(end) == 1 and trail[-1][1] == end, trail
    exits = dict(sql(db, "SELECT job_id, exit_code FROM op_runs WHERE step = 'RUN'"))
    assert exits == {**dict.fromkeys(ok, 0), failing: 3, late_id: 0}
    assert sql(db, "SELECT note FROM foreign_writer") == [("kept",)], "the other writer's change stands too"


# -- a full or read-only disk ----------------------------------------------------------------------------


def mount(*args: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (a full disk) or a read-only bind mount")
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({' '.join(args)}): {done.stderr.strip()}")


def unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)  # lazy: ops may still hold files


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB file system the test can fill."""
    path = tmp_path / "small"
    path.mkdir()
    mount("-t", "tmpfs", "-o", "size=8m", "jobtui-test", str(path))
    yield path
    unmount(path)


@pytest.fixture
def read_only_view(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A directory, and the same directory seen through a read-only bind mount."""
    data, view = tmp_path / "data", tmp_path / "ro"
    data.mkdir()
    view.mkdir()
    mount("--bind", str(data), str(view))
    try:
        mount("-o", "remount,bind,ro", str(view))
        yield data, view
    finally:
        unmount(view)


def fill(fs: Path) -> Path:
    """Fill the file system to the last byte; removing the returned file frees it again."""
    filler = fs / "filler"
    with filler.open("wb", buffering=0) as fh:
        for size in (1 << 20, 1 << 16, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * size)
    assert os.statvfs(fs).f_bavail == 0
    return filler


def snapshot(db_path: Path) -> dict[str, Any]:
    """What a partial write would change: row counts, the change feed, and the database's integrity."""
    tables = ("jobs", "tasks", "op_runs", "audit", "changes")
    return {
        **{t: sql(db_path, f"SELECT count(*) FROM {t}")[0][0] for t in tables},
        "jobs_rows": sql(db_path, "SELECT id, status, step, seq FROM jobs ORDER BY id"),
        "integrity": sql(db_path, "PRAGMA integrity_check"),
    }


def assert_clear_failure(proc: subprocess.CompletedProcess[str], where: Path, *words: str) -> None:
    """Exit 2 with one line naming the problem (paths under `where` aside), not a traceback."""
    assert proc.returncode == 2, describe(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, f"one line, not a dump: {describe(proc)}"
    assert any(w in lines[0].replace(str(where), "") for w in words), describe(proc)


def big_definition(path: Path, targets: int) -> Path:
    names = ", ".join(f'"host-{n:05d}.example.com"' for n in range(targets))
    path.write_text(f'name = "big"\ntargets = [{names}]\n[[run]]\nrun = "true"\nper_target = true\n')
    return path


def test_cli_on_a_full_disk_says_so_and_writes_nothing(tmp_path: Path, small_fs: Path) -> None:
    db = small_fs / "jobs.db"
    env = jobtui_env(f"sqlite:///{db}")
    spec = tmp_path / "j.toml"
    spec.write_text('name = "j"\n[[run]]\nrun = "true"\n')
    (job_id,) = submit_many(db, spec.read_text(), 1)
    before = snapshot(db)
    big = big_definition(tmp_path / "big.toml", 2000)

    # Idle: SQLite cannot even set up its shared memory.
    filler = fill(small_fs)
    for proc in run_clis(("submit", big), ("cancel", job_id), env=env):
        assert_clear_failure(proc, tmp_path, "full", "No space left")
    filler.unlink()
    # In use by another process (its WAL and shared memory exist): the commit is what fails.
    with contextlib.closing(sqlite3.connect(db)) as keeper:
        keeper.execute("SELECT count(*) FROM jobs").fetchall()
        filler = fill(small_fs)
        for proc in run_clis(("submit", big), ("cancel", job_id), env=env):
            assert_clear_failure(proc, tmp_path, "full", "No space left")
        filler.unlink()
    assert snapshot(db) == before, "nothing of the failed commands was written"
    (again,) = submit_many(db, big.read_text(), 1)  # the same job goes in once there is room
    assert sql(db, "SELECT count(*) FROM tasks WHERE job_id = ?", again) == [(2000,)]


def test_a_read_only_database_is_refused_clearly_and_left_as_it_was(
    tmp_path: Path, read_only_view: tuple[Path, Path]
) -> None:
    data, view = read_only_view
    spec = tmp_path / "j.toml"
    spec.write_text('name = "j"\n[[run]]\nrun = "true"\n')
    ro_env = jobtui_env(f"sqlite:///{view / 'jobs.db'}")
    (job_id,) = submit_many(data / "jobs.db", spec.read_text(), 1)
    before = snapshot(data / "jobs.db")

    # Idle: no other process has it open, so SQLite cannot even set up its shared memory.
    for proc in run_clis(("submit", spec), ("daemon",), env=ro_env):
        assert_clear_failure(proc, tmp_path, "read-only")
    # In use elsewhere (its WAL and shared memory exist): reads work, writes are refused.
    keeper = sqlite3.connect(data / "jobs.db")
    try:
        keeper.execute("SELECT count(*) FROM jobs").fetchall()
        listing, *writes = run_clis(("jobs", "--json"), ("submit", spec), ("cancel", job_id), env=ro_env)
        assert listing.returncode == 0, describe(listing)
        assert [j["id"] for j in json.loads(listing.stdout)] == [job_id]
        for proc in writes:
            assert_clear_failure(proc, tmp_path, "read-only")
    finally:
        keeper.close()
    assert snapshot(data / "jobs.db") == before
    assert statuses(data / "jobs.db") == {job_id: "READY"}


def test_ops_that_end_while_the_log_disk_is_full_keep_their_exit_status(
    tmp_path: Path, small_fs: Path, daemons: Daemons, gates: Callable[[str], Gate]
) -> None:
    """The disk holding the logs (and the ops' exit-status files) fills while ops run: an op that then
    exits 0 finishes its job and one that exits 4 fails it, as they would on a roomy disk; neither is
    taken for an op that vanished (ABEND)."""
    db = tmp_path / "jobs.db"
    init_db(db)
    gate = gates("ops")
    (ok,) = submit_many(db, f'name = "ok"\n[[run]]\nrun = "{gate.wait}"\n[[post]]\nrun = "true"\n', 1)
    (failing,) = submit_many(db, f'name = "bad"\n[[run]]\nrun = "{gate.wait}; exit 4"\n', 1)
    daemon = daemons.start(db, workers=2, env={**jobtui_env(), "JOBTUI_LOG_DIR": str(small_fs)})
    wait_for(
        lambda: len(sql(db, "SELECT 1 FROM op_runs WHERE step = 'RUN' AND pid IS NOT NULL")) == 2,
        what="the ops to start",
    )
    status_files = sql(db, "SELECT status_file FROM op_runs WHERE step = 'RUN'")
    assert all(Path(f).parent == small_fs for (f,) in status_files)
    fill(small_fs)
    gate.open()
    wait_statuses(db, {ok: "FINISHED", failing: "ERROR"}, daemon=daemon)
    assert dict(sql(db, "SELECT job_id, exit_code FROM op_runs WHERE step = 'RUN'")) == {ok: 0, failing: 4}
    assert_no_crash(daemon)


def test_a_database_disk_that_fills_while_ops_run_delays_the_daemon_and_loses_nothing(
    tmp_path: Path, small_fs: Path, daemons: Daemons, gates: Callable[[str], Gate]
) -> None:
    """The disk holding the database fills while ops run, and the ops end meanwhile. The daemon says the
    disk is full, records nothing half-way, and once there is room records every outcome: the jobs end
    as their ops did."""
    db = small_fs / "jobs.db"
    init_db(db)
    gate = gates("ops")
    # The logs live elsewhere: the job's log shows when the daemon tried to record an outcome.
    logs = tmp_path / "logs"
    # The failing job is claimed first, so its outcome is the first the daemon tries to record.
    (failing,) = submit_many(db, f'name = "bad"\n[[run]]\nrun = "{gate.wait}; exit 4"\n', 1, logs)
    ok = submit_many(db, f'name = "ok"\n[[run]]\nrun = "{gate.wait}"\n[[post]]\nrun = "true"\n', 2, logs)
    # No heartbeat falls due meanwhile: its failing write would come first in every pass.
    env = {**jobtui_env(), "JOBTUI_LOG_DIR": str(logs)}
    daemon = daemons.start(db, "--heartbeat", "600", "--lease", "1200", workers=3, env=env)
    wait_for(
        lambda: len(sql(db, "SELECT 1 FROM op_runs WHERE step = 'RUN' AND pid IS NOT NULL")) == 3,
        what="the ops to start",
    )
    pids = [pid for (pid,) in sql(db, "SELECT pid FROM op_runs WHERE step = 'RUN'")]
    # A checkpointed WAL is reused in place; emptied, the daemon's next commit needs new disk space.
    wait_for(lambda: sql(db, "PRAGMA wal_checkpoint(TRUNCATE)")[0][0] == 0, what="a WAL checkpoint")
    filler = fill(small_fs)
    gate.open()
    wait_for(lambda: not live_groups(pids), what="the ops to end")
    failing_log = logs / f"job-{failing}.log"
    wait_for(lambda: b"exit 4" in tail_of(failing_log, 200), what="the daemon to try to record the failure")
    wait_for(lambda: "disk is full" in daemon.stderr(), what="the daemon to say the disk is full")
    assert_no_crash(daemon)
    assert set(statuses(db).values()) == {"RUNNING"}, "nothing recorded while the disk is full"

    filler.unlink()
    # The jobs with a POST op to start get there first; the failed one ends in the same pass or the next.
    wait_statuses(db, dict.fromkeys(ok, "FINISHED"), daemon=daemon)
    wait_statuses(db, {failing: "ERROR"}, timeout=5, daemon=daemon)
    assert_no_crash(daemon)
    exits = dict(sql(db, "SELECT job_id, exit_code FROM op_runs WHERE step = 'RUN'"))
    assert exits == {**dict.fromkeys(ok, 0), failing: 4}
    assert sql(db, "PRAGMA integrity_check") == [("ok",)]


# -- huge output ---------------------------------------------------------------------------------------

MB = 1_000_000
# 100 MB in one op: random bytes (invalid UTF-8, control characters, terminal escapes), ordinary lines,
# and one 20 MB line; then a last line to look for.
FLOOD_RANDOM = f"head -c {60 * MB} /dev/urandom"
FLOOD_REST = (
    f"yes 'an ordinary line of output' | head -c {20 * MB}; "
    f"head -c {20 * MB} /dev/zero | tr '\\\\0' x; printf '\\\\nend-of-flood\\\\n'"
)
FLOOD = f"{FLOOD_RANDOM}; {FLOOD_REST}"
# The peak resident memory of this process image (getrusage would count the parent's, from before exec).
PEAK_RSS = """
import re, sys
from jobtui.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
status = open("/proc/self/status").read()
print(int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) * 1024, file=sys.stderr)
raise SystemExit(code)
"""


def raise_log_cap(store: Store) -> None:
    """These floods are about throughput and display, not the cap (64 MiB per op): keep all of them."""
    from jobtui.engine.domain.permissions import Actor
    from jobtui.engine.service.actions import Actions

    Actions(store, Actor("tester")).set_setting("op_log_cap_mib", 256)


def log_of(store: Store, job_id: int) -> Path:
    from tests.support.helpers import job_of

    return Path(job_of(store, job_id).log_path)


def tail_of(path: Path, size: int) -> bytes:
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, fh.seek(0, 2) - size))
            return fh.read()
    except OSError:
        return b""


def ends_with(path: Path, tail: bytes) -> bool:
    return tail_of(path, len(tail)) == tail


def written_digest(log: Path) -> bytes:
    """The sha256 of what was written to a job's log, its stream marks taken out and escapes given back,
    read a piece at a time."""
    from jobtui.engine.domain.logread import StreamSplit

    digest, split = hashlib.sha256(), StreamSplit()
    with log.open("rb") as fh:
        while piece := fh.read(1 << 20):
            for data, _ in split.feed(piece):
                digest.update(data)
    for data, _ in split.feed(b"", final=True):
        digest.update(data)
    return digest.digest()


def test_an_op_writing_100_mb_stalls_neither_the_engine_nor_jobtui_log(
    store: Store, submit: Callable[..., int], engine: Engine, gates: Callable[[str], Gate], tmp_path: Path
) -> None:
    """While one op floods its log with 100 MB, the engine keeps running other jobs to the end; the log
    keeps every byte plus the engine's own lines after them; `jobtui log` prints it byte for byte, in
    well under the log's size of memory."""
    raise_log_cap(store)
    gate = gates("flood")
    flood = submit(f'name = "flood"\n[[run]]\nrun = "{FLOOD}; {gate.wait}"\n')
    others = [submit(f'name = "small-{n}"\n[[run]]\nrun = "echo small {n}"\n') for n in range(6)]
    log = log_of(store, flood)
    engine.run_until(
        lambda: all(status_of(store, j) == "FINISHED" for j in others) and ends_with(log, b"end-of-flood\n"),
        timeout=60,
    )
    assert status_of(store, flood) == "RUNNING"
    assert log.stat().st_size > 100 * MB
    gate.open()
    engine.run_until(lambda: status_of(store, flood) == "FINISHED", timeout=30)
    last = tail_of(log, 200).splitlines()
    assert last[-2:] == [b"end-of-flood", last[-1]] and last[-1].endswith(b"[flood]: done"), last

    out = tmp_path / "printed.log"
    with out.open("wb") as fh:
        printed = subprocess.run(
            [sys.executable, "-c", PEAK_RSS, "log", str(flood), "--db", store.url],
            env=jobtui_env(),
            stdout=fh,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert printed.returncode == 0, printed.stderr
    # What the op wrote, as the file keeps it for readers (its ESCs that could read as a stream mark are
    # escaped in the file: see opstarter.relayed), and the engine's lines after it.
    with out.open("rb") as b:
        assert written_digest(log) == hashlib.file_digest(b, "sha256").digest()
    peak = int(printed.stderr.strip().splitlines()[-1])
    assert peak < 100 * MB, f"jobtui log held {peak / MB:.0f} MB to print a 100 MB log"
    out.unlink()
    log.unlink()


async def until(pilot: Pilot[int], predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Let the app run until `predicate` holds; returns how long that took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await pilot.pause(0.05)
    return time.monotonic() - start


@pytest.mark.slow
async def test_the_dashboard_keeps_up_with_an_op_writing_100_mb(
    store: Store, submit: Callable[..., int], engine: Engine, gates: Callable[[str], Gate]
) -> None:
    """With the job shown, its op writes 100 MB of mixed garbage. The log tail jumps to the newest output
    instead of replaying the lot, shows bytes that are not UTF-8 as U+FFFD, no terminal control
    characters, and cuts very long lines; the log viewer (`l`) opens at once on the end of the log."""
    from jobtui.app import JobtuiApp
    from jobtui.engine.domain.permissions import Actor

    raise_log_cap(store)
    start_gate, middle_gate, end_gate = gates("start"), gates("middle"), gates("end")
    run = f"{start_gate.wait}; {FLOOD_RANDOM}; {middle_gate.wait}; {FLOOD_REST}; {end_gate.wait}"
    job_id = submit(f'name = "flood"\n[[run]]\nrun = "{run}"\n')
    engine.run_until(lambda: bool(sql(Path(store.db_path or ""), "SELECT pid FROM op_runs WHERE pid > 0")))
    log_path = log_of(store, job_id)
    # The engine ships the log to the database as the op writes it; the dashboard reads it there.
    stop = threading.Event()
    shipping = threading.Thread(target=engine.run, args=(stop,), daemon=True)
    shipping.start()
    app = JobtuiApp(store, Actor("tester"), embedded=False, tz="UTC")
    try:
        await _follow_the_flood(app, job_id, log_path, start_gate, middle_gate)
    finally:
        stop.set()
        shipping.join(timeout=60)
    end_gate.open()
    log_path.unlink()


async def _follow_the_flood(
    app: Any, job_id: int, log_path: Path, start_gate: Gate, middle_gate: Gate
) -> None:
    from textual.widgets import Log

    from jobtui.screens.log_viewer import LogViewer
    from jobtui.screens.monitor import MonitorScreen
    from jobtui.widgets.detail import DetailPane
    from jobtui.widgets.log_view import LogView

    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.screen_stack[1]
        assert isinstance(screen, MonitorScreen)
        # The detail pane fills in after the first rows are on screen.
        await until(pilot, lambda: bool(screen.query("#log-tail")), 10, "the detail pane")
        tail = screen.query_one(DetailPane).query_one("#log-tail", Log)
        await until(
            pilot, lambda: any("run-1 [flood]: started" in ln for ln in tail.lines), 10, "the op start"
        )
        start_gate.open()
        # The op writes 60 MB of random bytes; no job changes, only its log grows. While they are the newest
        # output, the tail shows those that are not UTF-8 as U+FFFD.
        await until(pilot, lambda: log_path.stat().st_size >= 60 * MB, 60, "the op to write 60 MB")
        await until(pilot, lambda: any("\ufffd" in ln for ln in tail.lines), 10, "the random bytes")
        middle_gate.open()
        # 40 MB more at once: the tail jumps to the newest output (replaying it at its pace would take far
        # longer than the deadline), saying so.
        await until(pilot, lambda: ends_with(log_path, b"end-of-flood\n"), 60, "the op to write 40 MB more")
        await until(pilot, lambda: "end-of-flood" in tail.lines, 10, "the end of the flood")
        lines = list(tail.lines)
        assert any(re.fullmatch(r"\[… [\d.]+ MB …\]", ln) for ln in lines), "it says it skipped output"
        assert not any(re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", ln) for ln in lines)
        assert max(len(ln) for ln in lines) <= 10_000, "a 20 MB line is cut for display"

        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogViewer), 5, "the log viewer")
        view = app.screen.query_one(LogView)
        await until(pilot, lambda: "end-of-flood" in view.model.lines, 5, "the end of the log in the viewer")
        assert f"`jobtui log {job_id}` prints it" in view.model.lines[0], view.model.lines[0]
        assert max(len(ln) for ln in view.model.lines) <= 10_000
        assert not any(re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", ln) for ln in view.model.lines)
        await pilot.press("escape")


def test_the_log_tail_keeps_a_character_written_in_two_pieces_whole(
    store: Store, submit: Callable[..., int]
) -> None:
    from jobtui.engine.domain.permissions import Actor
    from jobtui.engine.service.reads import Reads
    from jobtui.widgets.log_reading import LogTail

    job_id = submit('name = "t"\n[[run]]\nrun = "true"\n')
    log = log_of(store, job_id)  # no chunk in the database: the tail reads the local file
    reads = Reads(store, Actor("tester"))
    tail = LogTail()
    text = "déjà vu ✓\n".encode()
    log.write_bytes(text[:2])  # ends inside the two bytes of "é"
    first, reset = tail.read(job_id, reads)
    with log.open("ab") as fh:
        fh.write(text[2:])
    second, _ = tail.read(job_id, reads)
    assert reset and first + second == "déjà vu ✓\n"


def test_garbage_written_to_the_natures_file_does_not_flood_the_job(
    store: Store, submit: Callable[..., int], engine: Engine
) -> None:
    """A PRE op that writes 5 MB of binary garbage into $JOBTUI_NATURES_FILE (a tool's output sent to the
    wrong place) still adds its real nature, but not a hundred thousand garbage ones: the engine would
    hold the write lock for seconds reading them, and every listing and detail would carry them."""
    job_id = submit(
        'name = "n"\n[[pre]]\n'
        f'run = "echo java > $JOBTUI_NATURES_FILE; head -c {5 * MB} /dev/urandom >> $JOBTUI_NATURES_FILE"\n'
        '[[run]]\nrun = "true"\n'
    )
    engine.run_until(lambda: status_of(store, job_id) == "FINISHED", timeout=60)
    from tests.support.helpers import job_of

    natures = job_of(store, job_id).natures
    assert "java" in json.loads(natures)
    assert len(natures) < 10_000, f"{len(json.loads(natures))} natures, {len(natures)} bytes of JSON"
