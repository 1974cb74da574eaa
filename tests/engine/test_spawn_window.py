"""An op's identity is recorded before it starts: a daemon killed between the spawn and the pid's commit
leaves an op the next one finds by its token (never a second run), and cancel kills by the same token
what an op started outside its process group."""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from sqlalchemy import select

from jobtui.engine.db.models import Job, OpRun
from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.read.engines import FRESH_HEARTBEAT_S
from jobtui.engine.service.actions import Actions
from jobtui.engine.worker.loop import Engine
from jobtui.engine.worker.runner import processes_with_token, read_status_file
from tests.support.helpers import ROOT, definition, job_log, job_of, run_until_status, wait_for
from tests.support.ops_running import wait_op_started

BACKENDS = ("sqlite", "postgresql")

Submit = Callable[..., int]


@pytest.fixture
def daemon_env(db_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("JOBTUI_POLICY", None)
    env.pop("JOBTUI_FAULT", None)
    env["JOBTUI_DB"] = db_url
    return env


@pytest.fixture
def daemons() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def start_daemon(env: dict[str, str], workers: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "jobtui.cli", "daemon", "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
@pytest.mark.backends("sqlite")  # a daemon's start per kill: the engine's part is the same on both
def test_a_daemon_killed_between_spawn_and_pid_commit_never_runs_an_op_twice(
    tmp_path: Path, daemon_env: dict[str, str], daemons: list[subprocess.Popen[bytes]]
) -> None:
    # 50 in CI's extra step (.ci/run); fewer in the everyday suite, each kill costing a daemon's start.
    kills = int(os.environ.get("JOBTUI_SPAWN_KILLS", "5"))
    store = Store(daemon_env["JOBTUI_DB"])
    actions = Actions(store, Actor("tester"))
    ledger = tmp_path / "ledger"
    gate = tmp_path / "readopted"
    # Short ops end while no engine runs (the next one reads their status file); long ones outlive the
    # next daemon's start, which finds them by their token alone: it never saw their pid. A long op waits
    # for the first re-adoption (20 s at most), not a fixed time a loaded machine's daemon start outlasts.
    short = definition(f'name = "short"\n[[run]]\nrun = "echo $JOBTUI_JOB_ID >> {ledger}; sleep 0.1"\n')
    wait_gate = f"for i in $(seq 200); do [ -f {gate} ] && break; sleep 0.1; done"
    long = definition(f'name = "long"\n[[run]]\nrun = "echo $JOBTUI_JOB_ID >> {ledger}; {wait_gate}"\n')
    ids = [actions.submit(long if n % 2 else short, keep=True) for n in range(kills + 2)]

    def readopted() -> int:
        return sum("re-adopted op" in job_log(store, job_id) for job_id in ids)

    def open_gate_once_readopted() -> None:
        if not gate.exists() and readopted():
            gate.touch()

    faulty = dict(daemon_env, JOBTUI_FAULT="kill-after-spawn")  # SIGKILL right after the spawn
    for _ in range(kills):
        daemon = start_daemon(faulty, workers=3)
        daemons.append(daemon)
        assert daemon.wait(timeout=60) == -signal.SIGKILL
        open_gate_once_readopted()
    daemons.append(start_daemon(daemon_env, workers=3))

    def ended() -> bool:
        open_gate_once_readopted()
        with store.read() as s:
            return all(status not in ("READY", "RUNNING") for status in s.scalars(select(Job.status)).all())

    wait_for(ended, timeout=60, what="every job to end")
    runs = collections.Counter(ledger.read_text().split())
    assert {job_id: runs[str(job_id)] for job_id in ids} == {job_id: 1 for job_id in ids}  # 0 double runs
    assert [job_of(store, job_id).status for job_id in ids] == ["FINISHED"] * len(ids)
    assert readopted() >= 1, "no daemon found a live op it never saw a pid for"
    with store.read() as s:
        assert all(o.token for o in s.scalars(select(OpRun)).all())


DOUBLE_FORK = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(600)
    os._exit(0)
os.wait()
"""


def test_cancel_kills_what_the_op_started_outside_its_group(
    engine: Engine, store: Store, submit: Submit, actions: Actions, tmp_path: Path
) -> None:
    double_fork = tmp_path / "double_fork.py"
    double_fork.write_text(DOUBLE_FORK)
    script = tmp_path / "escape.sh"
    script.write_text(f"setsid -f sleep 600; (sleep 600 &); {sys.executable} {double_fork}; sleep 600\n")
    job_id = submit(f'name = "escapes"\n[[run]]\nrun = "sh {script}"\n')
    op = wait_op_started(engine, store, job_id)
    assert op.token and op.pid

    def escaped() -> list[psutil.Process]:
        found = []
        for process in processes_with_token(op.token):
            # One may end between the listing and the look-up (the script's own short-lived children).
            with contextlib.suppress(ProcessLookupError):
                if os.getpgid(process.pid) != op.pid:
                    found.append(process)
        return found

    # The setsid'd sleep and the double fork's grandchild left the group; the (sleep &) stayed in it.
    engine.run_until(lambda: len(escaped()) >= 2 and len(processes_with_token(op.token)) >= 6)
    actions.cancel(job_id, comment="escapes")
    # The clock stands still: no SIGKILL escalation, so SIGTERM alone, within the grace period, did it.
    engine.run_until(lambda: not processes_with_token(op.token), timeout=10)
    assert job_of(store, job_id).status == "CANCELED"
    log = Path(job_of(store, job_id).log_path).read_text()
    killed = [line for line in log.splitlines() if "outside its group" in line]
    assert killed and "job CANCELED" in killed[0], log
    assert "sleep 600" in killed[0] and "double_fork.py" in killed[0], log


def test_an_op_of_a_lost_host_that_left_its_exit_status_is_recorded_not_abended(
    store: Store, submit: Submit, clock: FakeClock, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    job_id = submit(
        f'name = "elsewhere"\n[[run]]\nrun = "while [ ! -f {gate} ]; do sleep 0.02; done; exit 3"\n'
        '[[post]]\nrun = "true"\n'
    )
    first, second = Engine(store, host="host-a"), Engine(store, host="host-b")
    try:
        op = wait_op_started(first, store, job_id)
        gate.touch()  # the op ends while its engine, on another host, no longer heartbeats
        wait_for(lambda: read_status_file(op.status_file) is not None, what="the op's exit status")
        second.tick()  # host B watches host A's heartbeat from before it stops moving
        clock.advance(first.lease_s + 1)
        job = run_until_status(second, job_id, "FINISHED", "ERROR", "ABEND")
        assert job.status == "ERROR", "the op ended (exit 3): a failure, not an ABEND"
        with store.read() as s:
            run = s.get(OpRun, op.id)
            assert run is not None and run.exit_code == 3 and run.status == "failed"
    finally:
        first.shutdown()
        second.shutdown()


def test_cancel_with_no_engine_holding_the_job_still_kills_what_the_op_started(
    store: Store, submit: Submit, actions: Actions, clock: FakeClock, tmp_path: Path
) -> None:
    script = tmp_path / "escape.sh"
    script.write_text("setsid -f sleep 600; sleep 600\n")
    job_id = submit(f'name = "orphan"\n[[run]]\nrun = "sh {script}"\n')
    engine = Engine(store, workers=1)
    op = wait_op_started(engine, store, job_id)
    engine.run_until(lambda: len(processes_with_token(op.token)) >= 3)
    engine.shutdown()  # the engine leaves; its op runs on, waiting for the next engine to re-adopt it
    assert processes_with_token(op.token), "the op must outlive its engine for this test"
    # Gone as a process would be (its heartbeat stale): a live engine of this host would signal the op
    # itself, and the canceller leaves it to that engine.
    clock.advance(FRESH_HEARTBEAT_S + 1)
    actions.cancel(job_id, comment="nobody holds it")
    wait_for(lambda: not processes_with_token(op.token), timeout=10, what="every process of the op to end")
    assert job_of(store, job_id).status == "CANCELED"


def test_an_op_its_engine_died_before_spawning_runs_once_on_the_next_engine(
    tmp_path: Path, daemon_env: dict[str, str], daemons: list[subprocess.Popen[bytes]]
) -> None:
    """Recorded as running, never spawned: no process, no trace of its start. The next engine starts it
    (it is not ABEND "vanished"), and it runs exactly once."""
    store = Store(daemon_env["JOBTUI_DB"])
    ledger = tmp_path / "ledger"
    job_id = Actions(store, Actor("tester")).submit(
        definition(f'name = "late"\n[[run]]\nrun = "echo $JOBTUI_JOB_ID >> {ledger}"\n'), keep=True
    )
    first = start_daemon(dict(daemon_env, JOBTUI_FAULT="kill-before-spawn"), workers=1)
    daemons.append(first)
    assert first.wait(timeout=60) == -signal.SIGKILL
    with store.read() as s:
        op = s.scalars(select(OpRun).where(OpRun.job_id == job_id, OpRun.status == "running")).one()
        assert op.pid is None and op.token
    daemons.append(start_daemon(daemon_env, workers=1))
    wait_for(
        lambda: job_of(store, job_id).status not in ("READY", "RUNNING"), timeout=60, what="the job to end"
    )
    assert job_of(store, job_id).status == "FINISHED"
    assert ledger.read_text().split() == [str(job_id)]
    assert "never started before" in Path(job_of(store, job_id).log_path).read_text()
