"""Shared fixtures: a real SQLite file per test, a clock only the test moves, a real engine."""

from __future__ import annotations

import contextlib
import os
import signal
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pendulum
import psutil
import pytest

from jobtui.engine.actions import Actions
from jobtui.engine.clock import FakeClock
from jobtui.engine.definitions import Definition, parse_definition
from jobtui.engine.models import Job
from jobtui.engine.permissions import Actor
from jobtui.engine.scheduler import Engine
from jobtui.engine.store import Store
from tests import pg
from tests.pg import PgCluster

START = pendulum.datetime(2026, 11, 23, 10, 0, tz="UTC")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One PostgreSQL server for the session; tests on it get a database each."""
    reason = pg.missing_reason()
    if reason is not None:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    cluster = PgCluster()
    try:
        cluster.start()
    except Exception as exc:
        cluster.stop()
        raise RuntimeError(f"could not start a throwaway PostgreSQL cluster: {exc}") from exc
    yield cluster
    cluster.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules that set BACKENDS = ("sqlite", "postgresql") run their tests on each backend; a test marked
    `backends("sqlite")` runs on those only."""
    backends = getattr(metafunc.module, "BACKENDS", None)
    only = metafunc.definition.get_closest_marker("backends")
    if only is not None:
        backends = only.args
    if backends and "db_url" in metafunc.fixturenames:
        metafunc.parametrize("db_url", backends, indirect=True)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if getattr(request, "param", "sqlite") == "postgresql":
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        return cluster.new_database()
    return f"sqlite:///{tmp_path / 'jobs.db'}"


@pytest.fixture
def store(db_url: str, clock: FakeClock) -> Store:
    return Store(db_url, clock=clock)


@pytest.fixture
def actions(store: Store) -> Actions:
    """Single-user mode: no policy, the local user may do everything."""
    return Actions(store, Actor("tester"))


@pytest.fixture
def engine(store: Store) -> Iterator[Engine]:
    eng = Engine(store, workers=2, kill_grace_s=5.0)
    yield eng
    _kill_op_processes(store)
    eng.shutdown()


def _kill_op_processes(store: Store) -> None:
    """Never leave a test's op processes behind, whatever the test did."""
    from sqlmodel import col, select

    from jobtui.engine.models import OpRun

    with store.read() as s:
        pids = s.exec(select(OpRun.pid).where(col(OpRun.pid).is_not(None))).all()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError, TypeError):
            os.killpg(pid, signal.SIGKILL)


def definition(text: str, source: str = "test.toml") -> Definition:
    return parse_definition(textwrap.dedent(text), source)


@pytest.fixture
def submit(actions: Actions) -> Callable[..., int]:
    def _submit(text: str, keep: bool = True, **kwargs: str) -> int:
        # Independent jobs unless a test asks for seed 003 replacement with keep=False.
        return actions.submit(definition(text), keep=keep, **kwargs)

    return _submit


def job_of(store: Store, job_id: int) -> Job:
    with store.read() as s:
        job = s.get(Job, job_id)
        assert job is not None, f"job {job_id} is gone"
        return job


def status_of(store: Store, job_id: int) -> str:
    return job_of(store, job_id).status


def run_until_status(engine: Engine, job_id: int, *statuses: str, timeout: float = 20.0) -> Job:
    """Drive the engine (waking on op exits) until the job reaches one of `statuses`."""
    engine.run_until(lambda: status_of(engine.store, job_id) in statuses, timeout=timeout)
    return job_of(engine.store, job_id)


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Wait for something another process does (a daemon's progress, a process's death).

    Polls at a short interval on the database or process table; used only where no engine in this
    process can be driven.
    """
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def live_pids_of_group(pgid: int) -> list[int]:
    found = []
    for proc in psutil.process_iter(["pid"]):
        # A process may exit between the listing and the look-up.
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
    return found
