"""The dashboard's engine choice is live: a crashed engine's fresh heartbeat is no daemon, and a daemon
that stops or goes stale while the dashboard is open is replaced by the embedded engine, the header
saying so."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pendulum
import psutil
import pytest
from sqlalchemy import select
from textual.pilot import Pilot

from jobtui import app as app_module
from jobtui.app import DAEMON_FRESH_SECONDS, JobtuiApp
from jobtui.engine.db.models import OpRun, Worker
from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.engine_kinds import DASHBOARD_ENGINE
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.errors import ReadFailed
from jobtui.engine.read.listing import JobListing, WorkerBeat, scope_of
from jobtui.engine.service.actions import Actions
from jobtui.engine.worker.loop import Engine
from jobtui.i18n import t
from jobtui.widgets.statusbar import StatusBar
from tests.support.helpers import job_of, status_of
from tests.support.ops_running import running_op
from tests.support.pg import CutOff, PgCluster
from tests.support.pilot import SIZE, app_for, monitor, until

Submit = Callable[..., int]
HOST = socket.gethostname()
JOB = 'name = "due"\n[[run]]\nrun = "true"\n'
RUN_BY_EMBEDDED = "the embedded engine to run the job"
UNREACHABLE = "(database unreachable)"  # what a watch round saw that could not read


@pytest.fixture
def watch_rounds(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """A quick watch (the real interval would make each test wait seconds), and what each round saw."""
    monkeypatch.setattr(app_module, "ENGINE_WATCH_S", 0.1)
    seen: list[str | None] = []
    real = app_module.live_daemon

    def counted(
        listing: JobListing, now: pendulum.DateTime, exclude: str | None = None, fresh_s: float = 30.0
    ) -> WorkerBeat | None:
        try:
            found = real(listing, now, exclude, fresh_s)
        except ReadFailed:
            seen.append(UNREACHABLE)
            raise
        seen.append(None if found is None else found.host)
        return found

    monkeypatch.setattr(app_module, "live_daemon", counted)
    return seen


@pytest.fixture
def kill_ops(store: Store) -> Iterator[None]:
    yield
    with store.read() as s:
        for pid in s.scalars(select(OpRun.pid)).all():
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)


def _add_worker(store: Store, pid: int, created: float, host: str = HOST) -> str:
    worker_id = uuid.uuid4().hex
    now = store.now()
    with store.write() as s:
        s.add(
            Worker(
                id=worker_id,
                host=host,
                pid=pid,
                pid_create_time=created,
                started_at=now,
                heartbeat_at=now,
            )
        )
    return worker_id


def _dead_process() -> tuple[int, float]:
    """The pid and create time of a process that has exited and been reaped."""
    proc = subprocess.Popen(["sleep", "0"])
    created = psutil.Process(proc.pid).create_time()  # readable while unreaped, even as a zombie
    proc.wait()
    return proc.pid, created


def _stopped(store: Store, worker_id: str) -> bool:
    with store.read() as s:
        worker = s.get(Worker, worker_id)
        return worker is not None and worker.stopped_at is not None


def _label(pilot: Pilot[int]) -> str:
    return str(monitor(pilot).query_one(StatusBar).render())


async def _rounds_pass(pilot: Pilot[int], seen: list[str | None], n: int) -> None:
    target = len(seen) + n
    await until(pilot, lambda: len(seen) >= target, f"{n} more watch rounds")


async def test_a_crashed_engine_on_this_host_is_no_daemon(
    store: Store, submit: Submit, watch_rounds: list[str | None], kill_ops: None
) -> None:
    pid, created = _dead_process()
    _add_worker(store, pid, created)  # a heartbeat as fresh as it gets, from a process that is gone
    job_id = submit(JOB)
    app = JobtuiApp(store, Actor("tester"), tz="UTC")
    embedded = t("app.engine_embedded", "en")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: status_of(store, job_id) == "FINISHED", RUN_BY_EMBEDDED)
        assert app.engine is not None
        await until(pilot, lambda: embedded in _label(pilot), "the header to say embedded")
        # Its own engine's row is fresh and its process alive, yet it is not taken for a daemon.
        await _rounds_pass(pilot, watch_rounds, 2)
        assert monitor(pilot).engine_label == embedded


async def test_a_reused_pid_of_a_crashed_engine_is_no_daemon(
    store: Store, submit: Submit, watch_rounds: list[str | None], kill_ops: None
) -> None:
    # This very process, but the row's create time is another process's: the pid was reused.
    _add_worker(store, os.getpid(), psutil.Process().create_time() - 100.0)
    job_id = submit(JOB)
    app = JobtuiApp(store, Actor("tester"), tz="UTC")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: status_of(store, job_id) == "FINISHED", RUN_BY_EMBEDDED)
        assert monitor(pilot).engine_label == t("app.engine_embedded", "en")


# Stopping: found by an operator, a daemon's first SIGTERM (its ops in flight finishing, claiming nothing)
# read "daemon on HOST" while the queue stalled; a clean stop read "stale".
@pytest.mark.parametrize("how", ["stale", "stopped", "stopping"])
async def test_a_daemon_gone_while_open_is_replaced_by_the_embedded_engine(
    store: Store, clock: FakeClock, submit: Submit, watch_rounds: list[str | None], kill_ops: None, how: str
) -> None:
    daemon = _add_worker(store, os.getpid(), psutil.Process().create_time(), host="daemon-host")
    job_id = submit(JOB)
    app = JobtuiApp(store, Actor("tester"), tz="UTC")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: t("app.engine_daemon", "en", host="daemon-host") in _label(pilot))
        await _rounds_pass(pilot, watch_rounds, 2)
        assert app.engine is None and status_of(store, job_id) == "READY"  # the daemon's job to run it
        if how == "stale":
            clock.advance(DAEMON_FRESH_SECONDS + 1)
        else:
            with store.write() as s:
                worker = s.get(Worker, daemon)
                assert worker is not None
                if how == "stopped":
                    worker.stopped_at = store.now()
                else:
                    worker.stopping_at = store.now()
        await until(pilot, lambda: status_of(store, job_id) == "FINISHED", RUN_BY_EMBEDDED)
        stale = t(f"app.engine_embedded_{how}", "en", host="daemon-host")
        await until(pilot, lambda: stale in _label(pilot), f"the header to say the daemon is {how}")
        await _rounds_pass(pilot, watch_rounds, 2)
        assert monitor(pilot).engine_label == stale  # its own engine is not taken for the daemon back

        # A daemon that comes back runs the jobs again: the embedded engine hands back and stops (beside
        # it, it claimed new jobs, and quitting the dashboard left the ops it ran to the daemon's sweep).
        engine = app.engine
        assert engine is not None
        _add_worker(store, os.getpid(), psutil.Process().create_time(), host="daemon-host")
        back = t("app.engine_daemon", "en", host="daemon-host")
        await until(pilot, lambda: monitor(pilot).engine_label == back, "the header to name the daemon alone")
        await until(pilot, lambda: _stopped(store, engine.worker_id), "the embedded engine to stop")
        later = submit(JOB)
        await _rounds_pass(pilot, watch_rounds, 3)
        assert status_of(store, later) == "READY"  # the daemon's to run, not the dashboard's
        assert monitor(pilot).engine_label == back


async def test_without_embedding_a_stale_daemon_is_said_and_no_engine_starts(
    store: Store, clock: FakeClock, submit: Submit, watch_rounds: list[str | None]
) -> None:
    _add_worker(store, os.getpid(), psutil.Process().create_time(), host="daemon-host")
    job_id = submit(JOB)
    app = app_for(store, lang="es")  # embedded=False: the user said no engine runs here
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: t("app.engine_daemon", "es", host="daemon-host") in _label(pilot))
        clock.advance(DAEMON_FRESH_SECONDS + 1)
        stale = t("app.engine_none_stale", "es", host="daemon-host")
        await until(pilot, lambda: stale in _label(pilot), "the header to say the daemon went stale")
        await _rounds_pass(pilot, watch_rounds, 2)
        assert app.engine is None and status_of(store, job_id) == "READY"


async def test_a_dashboard_opened_while_the_daemon_stops_says_so_and_runs_its_jobs(
    store: Store, submit: Submit, kill_ops: None
) -> None:
    """Found by review: opened then, it said "engine: embedded" (or "none (no daemon)"), never why."""
    daemon = _add_worker(store, os.getpid(), psutil.Process().create_time(), host="daemon-host")
    with store.write() as s:
        worker = s.get(Worker, daemon)
        assert worker is not None
        worker.stopping_at = store.now()
    assert Actions(store, Actor("tester")).queue_state().workers == 0  # a stopping daemon serves nothing
    job_id = submit(JOB)
    app = JobtuiApp(store, Actor("tester"), tz="UTC")
    async with app.run_test(size=SIZE) as pilot:
        stopping = t("app.engine_embedded_stopping", "en", host="daemon-host")
        await until(pilot, lambda: stopping in _label(pilot), "the header to say the daemon is stopping")
        await until(pilot, lambda: status_of(store, job_id) == "FINISHED", RUN_BY_EMBEDDED)


def test_the_daemon_named_stays_the_same_while_two_serve(store: Store, clock: FakeClock) -> None:
    """Two daemons of other hosts serve the database: the header named whichever had beaten last, and
    flipped between their hosts every few seconds. It names the one serving longest; a dashboard's engine
    serving longer still is named after them (a dashboard embedding an engine hands over to the daemon
    named)."""
    dashboards = Engine(store, kind=DASHBOARD_ENGINE)
    dashboards.register()
    clock.advance(1)
    first = _add_worker(store, 1, 1.0, host="host-a")
    clock.advance(1)
    second = _add_worker(store, 2, 2.0, host="host-b")
    listing = JobListing(store.reader, scope_of(Actor("tester")))
    named = []
    for beating in (first, second, first, second):
        clock.advance(2)
        with store.write() as s:
            worker = s.get(Worker, beating)
            assert worker is not None
            worker.heartbeat_at = store.now()
        named.append(listing.daemon_host(store.now().subtract(seconds=DAEMON_FRESH_SECONDS)))
    assert named == ["host-a"] * 4
    dashboards.mark_stopped()


async def test_another_dashboards_engine_is_named_as_such_and_leaves_nothing_stale(
    store: Store, submit: Submit, watch_rounds: list[str | None], kill_ops: None
) -> None:
    """A dashboard open on a database whose jobs another dashboard's engine runs says so (that engine stops
    when its dashboard closes: it is no daemon); once it closed, this one runs the jobs, nothing stale."""
    other = Engine(store, kind=DASHBOARD_ENGINE)
    other.register()
    job_id = submit(JOB)
    app = JobtuiApp(store, Actor("tester"), tz="UTC")
    async with app.run_test(size=SIZE) as pilot:
        named = t("app.engine_dashboard", "en", host=HOST)
        await until(pilot, lambda: named in _label(pilot), "the header to name the other dashboard's engine")
        assert app.engine is None
        other.mark_stopped()  # its dashboard closes
        await until(pilot, lambda: status_of(store, job_id) == "FINISHED", RUN_BY_EMBEDDED)
        await _rounds_pass(pilot, watch_rounds, 2)
        assert monitor(pilot).engine_label == t("app.engine_embedded", "en")


async def test_the_embedded_engine_hands_its_jobs_back_to_a_daemon_back_and_stops(
    store: Store, submit: Submit, tmp_path: Path, watch_rounds: list[str | None], kill_ops: None
) -> None:
    """The op in flight finishes, the rest of its job waits READY for the daemon, as when a daemon stops on
    its first SIGTERM: the job is neither abended nor run by both."""
    gate = tmp_path / "go"
    job_id = submit(
        f'name = "j"\n[[run]]\nrun = "while [ ! -f {gate} ]; do sleep 0.02; done"\n[[post]]\nrun = "true"\n'
    )
    app = JobtuiApp(store, Actor("tester"), tz="UTC")
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: running_op(store, job_id) is not None, "the embedded engine's op")
            engine = app.engine
            assert engine is not None
            _add_worker(store, os.getpid(), psutil.Process().create_time(), host="daemon-host")
            stopping = t("app.engine_handing_over", "en", host="daemon-host")
            await until(pilot, lambda: monitor(pilot).engine_label == stopping, "the header to say it stops")
            # (the engine's thread takes the word at its next pass)
            await until(pilot, lambda: engine.draining, "the embedded engine to drain")
            assert status_of(store, job_id) == "RUNNING"
            gate.touch()
            back = t("app.engine_daemon", "en", host="daemon-host")
            await until(pilot, lambda: monitor(pilot).engine_label == back, "the header to name the daemon")
            job = job_of(store, job_id)
            assert job.status == "READY" and job.worker_id is None, job.reason
            with store.read() as s:
                ops = s.scalars(select(OpRun).where(OpRun.job_id == job_id).order_by(OpRun.position)).all()
            assert [op.status for op in ops] == ["done", "pending"]
            assert _stopped(store, engine.worker_id)
    finally:
        gate.touch()


@pytest.mark.backends("postgresql")
async def test_an_outage_of_the_dashboards_own_link_does_not_make_a_daemon_stale(
    pg_cluster: PgCluster,
    db_url: str,
    store: Store,
    clock: FakeClock,
    submit: Submit,
    watch_rounds: list[str | None],
    kill_ops: None,
) -> None:
    """After an outage every heartbeat looks old: a daemon's heartbeat is stale only by the time the
    dashboard could reach the database (the daemons come back after their own backoff)."""
    cut = CutOff(pg_cluster, db_url)
    _add_worker(store, os.getpid(), psutil.Process().create_time(), host="daemon-host")
    job_id = submit(JOB)
    app = JobtuiApp(Store(cut.url, clock=clock), Actor("tester"), tz="UTC")
    daemon = t("app.engine_daemon", "en", host="daemon-host")
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: monitor(pilot).engine_label == daemon, "the header to name the daemon")
            cut.cut()
            await until(pilot, lambda: UNREACHABLE in watch_rounds, "a round that could not read")
            clock.advance(DAEMON_FRESH_SECONDS + 10)  # the outage lasts longer than a heartbeat stays fresh
            watch_rounds.clear()
            await until(pilot, lambda: UNREACHABLE in watch_rounds, "another round that could not read")
            cut.restore()
            await until(pilot, lambda: "daemon-host" in watch_rounds, "a round that reads again")
            await _rounds_pass(pilot, watch_rounds, 2)
            assert monitor(pilot).engine_label == daemon
            assert app.engine is None and status_of(store, job_id) == "READY"

            # A daemon that stays silent once the dashboard is back is stale all the same.
            clock.advance(DAEMON_FRESH_SECONDS + 1)
            await until(pilot, lambda: status_of(store, job_id) == "FINISHED", RUN_BY_EMBEDDED)
            stale = t("app.engine_embedded_stale", "en", host="daemon-host")
            await until(pilot, lambda: monitor(pilot).engine_label == stale, "the header to say it is stale")
    finally:
        cut.restore()
