"""Several daemons on one PostgreSQL database (as on several hosts): each op runs exactly once, a paused
daemon loses its jobs and writes nothing when it comes back, a cut connection does not lose a job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select

from jobtui.engine.db.models import AuditEvent, Job, OpRun, Worker
from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.service.actions import Actions, Refused
from tests.support.helpers import ROOT, definition, live_pids_of_group, wait_for
from tests.support.pg import PgCluster


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    return pg_cluster.new_database()


@pytest.fixture
def store(pg_url: str, tmp_path: Path) -> Store:
    # The database's own clock, as in production: daemons and the test agree on every deadline.
    return Store(pg_url, log_dir=tmp_path / "logs")


@pytest.fixture
def daemons(pg_url: str, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
        proc.wait()


def host_env(log_dir: Path) -> dict[str, str]:
    """The environment of a jobtui process on its own host: its own log folder, no policy file."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["JOBTUI_LOG_DIR"] = str(log_dir)
    env.pop("JOBTUI_POLICY", None)
    return env


def start_daemon(url: str, log_dir: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "jobtui.cli", "daemon", "--db", url, *extra],
        env=host_env(log_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def status(store: Store, job_id: int) -> str:
    with store.read() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job.status


def test_four_daemons_drain_the_queue_running_each_op_exactly_once(
    store: Store, pg_url: str, daemons: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    dsn = libpq(pg_url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE ledger (job_id INTEGER, exec INTEGER, step TEXT, UNIQUE (job_id, exec, step))"
        )
    ops = f'call = "tests.support.ops:record_once_pg"\nenv = {{ OPS_LEDGER_DSN = "{dsn}" }}\n'
    spec = definition(f'name = "drain"\n[[pre]]\n{ops}[[run]]\n{ops}')
    # 5,000 in CI's full-size run (JOBTUI_PG_DRAIN_JOBS=5000, about two and a half minutes on two
    # cores); fewer in the everyday suite, which must stay under five minutes in all.
    total = int(os.environ.get("JOBTUI_PG_DRAIN_JOBS", "200"))
    daemons += [start_daemon(pg_url, tmp_path / "logs", "--workers", "4") for _ in range(4)]

    def registered() -> int:
        with store.read() as s:
            return len(s.scalars(select(Worker.id).where(Worker.stopped_at.is_(None))).all())

    # All four compete from the first job: a daemon still starting when a short queue empties has no share.
    wait_for(lambda: registered() == 4, timeout=60, what="the four daemons to start")
    ids = Actions(store, Actor("tester")).submit_many(spec, total)

    def finished() -> int:
        with store.read() as s:
            return len(s.scalars(select(Job.id).where(Job.status == "FINISHED")).all())

    wait_for(lambda: finished() == total, timeout=600, what="all jobs to finish")
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT job_id, step FROM ledger").fetchall()
    assert len(rows) == 2 * total
    assert {job_id for job_id, _ in rows} == set(ids)
    with store.read() as s:
        claims = s.scalars(select(AuditEvent.comment).where(AuditEvent.action == "claim")).all()
    assert len(claims) == total, "each job claimed once"
    assert len(set(claims)) == 4, "every daemon took its share"
    for proc in daemons:
        proc.send_signal(signal.SIGTERM)
    for proc in daemons:
        assert proc.wait(timeout=60) == 0


@pytest.mark.slow
def test_a_paused_daemon_loses_its_job_once_and_writes_nothing_after_it_resumes(
    store: Store, pg_url: str, daemons: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    job_id = Actions(store, Actor("tester")).submit(
        definition(f'name = "long"\n[[run]]\nrun = "while [ ! -f {gate} ]; do sleep 0.05; done"\n')
    )
    first = start_daemon(pg_url, tmp_path / "logs", "--heartbeat", "0.5", "--lease", "3")
    daemons.append(first)

    def running_op() -> OpRun | None:
        with store.read() as s:
            return s.scalars(select(OpRun).where(OpRun.job_id == job_id, OpRun.pid.is_not(None))).first()

    wait_for(lambda: running_op() is not None, what="the op to start")
    op = running_op()
    assert op is not None and op.pid is not None
    first.send_signal(signal.SIGSTOP)
    daemons.append(start_daemon(pg_url, tmp_path / "logs", "--heartbeat", "0.5", "--lease", "3"))
    wait_for(lambda: status(store, job_id) == "ABEND", timeout=60, what="the job to ABEND")
    with store.read() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.reason is not None and "lost" in job.reason
    # The op of the lost worker is killed: it must not go on unsupervised.
    wait_for(lambda: not live_pids_of_group(op.pid or 0), what="the lost worker's op to be killed")

    with store.read() as s:
        before = s.scalars(select(AuditEvent.id).where(AuditEvent.job_id == job_id)).all()
    first.send_signal(signal.SIGCONT)
    time.sleep(2)  # a real daemon resuming on its own; nothing to drive here but wall time
    with store.read() as s:
        after = s.scalars(select(AuditEvent.id).where(AuditEvent.job_id == job_id)).all()
        abends = s.scalars(
            select(AuditEvent).where(AuditEvent.job_id == job_id, AuditEvent.to_status == "ABEND")
        ).all()
    assert after == before, "the resumed daemon wrote nothing about the job it lost"
    assert len(abends) == 1 and status(store, job_id) == "ABEND"


def test_a_terminated_database_connection_does_not_lose_the_job(
    store: Store, pg_url: str, daemons: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    job_id = Actions(store, Actor("tester")).submit(
        definition(
            f'name = "cut"\n[[run]]\nrun = "while [ ! -f {gate} ]; do sleep 0.05; done"\n'
            '[[post]]\nrun = "true"\n'
        )
    )
    daemons.append(start_daemon(pg_url, tmp_path / "logs"))
    wait_for(lambda: status(store, job_id) == "RUNNING", what="the job to run")
    dbname = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(libpq(pg_url), autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() AND application_name <> %s",
            (dbname, f"jobtui pid {os.getpid()}"),  # the daemon's connections, not this test's
        ).fetchone()
    assert killed is not None and killed[0] >= 1
    gate.touch()
    wait_for(lambda: status(store, job_id) == "FINISHED", timeout=60, what="the job to finish")


def test_an_operator_action_waits_for_a_concurrent_change_and_decides_on_it(
    store: Store, pg_url: str
) -> None:
    """On PostgreSQL another transaction can change a job between an action's read and its write; the
    action locks the row first, so it decides on the status the job really ends up in."""
    actions = Actions(store, Actor("tester"))
    job_id = actions.submit(definition('name = "j"\n[[run]]\nrun = "true"\n'))
    outcome: list[object] = []

    def cancel() -> None:
        try:
            actions.cancel(job_id)
            outcome.append("cancelled")
        except Refused as refusal:
            outcome.append(refusal)

    dbname = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(libpq(pg_url)) as other, psycopg.connect(libpq(pg_url), autocommit=True) as watch:
        # An engine finishing the job, not committed yet.
        other.execute("UPDATE jobs SET status = 'FINISHED', step = 'END' WHERE id = %s", (job_id,))
        canceller = threading.Thread(target=cancel)
        canceller.start()

        def cancel_waits_for_the_row() -> bool:
            row = watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                (dbname,),
            ).fetchone()
            return row is not None and row[0] > 0

        wait_for(cancel_waits_for_the_row, what="the cancel to wait for the row")
        other.commit()
    canceller.join(timeout=30)
    assert len(outcome) == 1 and isinstance(outcome[0], Refused), outcome
    assert status(store, job_id) == "FINISHED"


def test_a_daemon_frozen_while_sweeping_does_not_stop_the_others_sweeping(
    pg_url: str, tmp_path: Path
) -> None:
    """The sweep (which declares lost workers) is one daemon's turn at a time; a daemon frozen in its
    turn (SIGSTOP, a hung host) loses it once its idle transaction times out on the server."""
    frozen = Store(pg_url, log_dir=tmp_path / "logs")
    frozen.sweep_lock_timeout_s = 0.5
    other = Store(pg_url, log_dir=tmp_path / "logs")

    def others_turn() -> bool:
        with other.sweeping() as mine:
            return mine

    with frozen.sweeping() as mine:
        assert mine
        assert not others_turn(), "one sweeper at a time"
        wait_for(others_turn, timeout=20, what="the frozen daemon's turn to end")
    assert others_turn()


def jobtui_cli(url: str, log_dir: Path, *args: str) -> subprocess.Popen[bytes]:
    """A `jobtui` command as another host runs it: its own (empty) log folder."""
    return subprocess.Popen(
        [sys.executable, "-m", "jobtui.cli", *args, "--db", url],
        env=host_env(log_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_jobtui_log_on_another_host_prints_the_ops_output(
    store: Store, pg_url: str, daemons: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    job_id = Actions(store, Actor("tester")).submit(
        definition('name = "far"\n[[run]]\nrun = "echo printed on host A"\n')
    )
    daemons.append(start_daemon(pg_url, tmp_path / "logs"))
    wait_for(lambda: status(store, job_id) == "FINISHED", timeout=60, what="the job to finish")
    host_b = tmp_path / "host-b"
    host_b.mkdir()
    reader = jobtui_cli(pg_url, host_b, "log", str(job_id))
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    assert b"printed on host A\n" in out
    assert out == (tmp_path / "logs" / f"job-{job_id}.log").read_bytes(), "the exact bytes, to a pipe"
    assert not any(host_b.iterdir()), "host B has no file of the job"


def test_read_commands_read_a_url_whose_password_holds_a_bare_percent_sign(
    store: Store, pg_url: str, tmp_path: Path
) -> None:
    """libpq refuses "a%zz" as a URL's password (a bad percent escape) where SQLAlchemy, which every
    other command connects through, passes it on as it is: the read commands' own driver gives the command
    to the Store then, rather than saying the database cannot be opened (and printing the password)."""
    job_id = Actions(store, Actor("tester")).submit(definition('name = "pct"\n[[run]]\nrun = "true"\n'))
    user, at, rest = pg_url.partition("@")
    url = f"{user}:a%zz{at}{rest}"  # the test cluster trusts every local connection: any password does
    listing = jobtui_cli(url, tmp_path / "logs", "jobs", "--json")
    out, err = listing.communicate(timeout=60)
    assert listing.returncode == 0, err
    assert [job["id"] for job in json.loads(out)] == [job_id]
    assert b"a%zz" not in err


def test_jobtui_log_follow_on_another_host_shows_a_running_ops_line(
    store: Store, pg_url: str, daemons: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    release = tmp_path / "release"
    job_id = Actions(store, Actor("tester")).submit(
        definition(
            'name = "slow"\n[[run]]\n'
            f'run = "echo still going; while [ ! -e {release} ]; do sleep 0.05; done; echo released"\n'
        )
    )
    daemons.append(start_daemon(pg_url, tmp_path / "logs"))
    host_b = tmp_path / "host-b"
    host_b.mkdir()
    reader = jobtui_cli(pg_url, host_b, "log", str(job_id), "--follow")
    out = bytearray()

    def pump() -> None:  # reads what the reader prints as it comes, so the test never blocks on it
        assert reader.stdout is not None
        while piece := reader.stdout.read1(4096):
            out.extend(piece)

    pumping = threading.Thread(target=pump, daemon=True)
    pumping.start()
    try:
        wait_for(lambda: b"still going\n" in out, timeout=60, what="the running op's line on host B")
        assert status(store, job_id) == "RUNNING", "seen while the op runs"
        release.touch()
        assert reader.wait(timeout=60) == 0, "--follow ends when the job does"
        pumping.join(timeout=10)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    rest = bytes(out)
    assert b"released\n" in rest, "the op's last line, written just before the job ended"
    assert status(store, job_id) == "FINISHED"


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[PgCluster]:
    """A cluster of these tests' own: they stop its server under the dashboard and the daemon."""
    cluster = PgCluster()
    cluster.start()
    yield cluster
    cluster.stop()


def test_a_daemon_started_before_its_database_waits_for_it(own_cluster: PgCluster, tmp_path: Path) -> None:
    url = own_cluster.new_database()
    store = Store(url, log_dir=tmp_path / "logs")
    job_id = Actions(store, Actor("tester")).submit(definition('name = "j"\n[[run]]\nrun = "true"\n'))
    store.engine.dispose()
    own_cluster.stop_server()
    env = dict(os.environ, PYTHONPATH=str(ROOT), JOBTUI_LOG_DIR=str(tmp_path / "logs"))
    stderr = tmp_path / "daemon.err"
    with open(stderr, "wb") as err:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "jobtui.cli", "daemon", "--db", url], env=env, stderr=err
        )
    try:
        wait_for(lambda: b"database unreachable" in stderr.read_bytes(), timeout=60, what="the warning")
        assert daemon.poll() is None, "the daemon waits instead of exiting"
        own_cluster.start_server()
        wait_for(lambda: status(store, job_id) == "FINISHED", timeout=60, what="the job to run")
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
    assert b"Traceback" not in stderr.read_bytes()


async def test_the_dashboard_says_database_unreachable_and_recovers(
    own_cluster: PgCluster, tmp_path: Path
) -> None:
    from jobtui.app import JobtuiApp
    from jobtui.widgets.job_table import JobTable
    from jobtui.widgets.statusbar import StatusBar

    cluster = own_cluster
    url = cluster.new_database()
    store = Store(url, log_dir=tmp_path / "logs")
    Actions(store, Actor("tester")).submit(definition('name = "j"\n[[run]]\nrun = "true"\n'))
    app = JobtuiApp(store, Actor("tester"), embedded=False, tz="UTC")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = pilot.app.screen_stack[1]
        bar = screen.query_one(StatusBar)

        async def until(predicate: Callable[[], bool], what: str) -> None:
            for _ in range(300):
                if predicate():
                    return
                await pilot.pause(0.05)
            raise AssertionError(f"timed out waiting for {what}")

        await until(lambda: screen.query_one(JobTable).total == 1, "the job")
        cluster.stop_server()
        await until(lambda: bar.unreachable, "the unreachable banner")
        assert "database unreachable" in str(bar.render())
        cluster.start_server()
        await until(lambda: not bar.unreachable, "the banner to go")


async def test_an_action_the_database_cannot_take_is_said_and_the_dashboard_goes_on(
    own_cluster: PgCluster, tmp_path: Path
) -> None:
    """A cancel confirmed while the server is down: the action's worker failed with the driver's error and
    stopped the dashboard ("jobtui stopped on an unexpected error (WorkerFailed ...)", exit 1)."""
    from jobtui.app import JobtuiApp
    from jobtui.widgets.job_table import JobTable
    from jobtui.widgets.statusbar import StatusBar
    from tests.support.pilot import until

    cluster = own_cluster
    url = cluster.new_database()
    store = Store(url, log_dir=tmp_path / "logs")
    later = 'name = "later"\n[schedule]\nat = "+1d"\n[[run]]\nrun = "true"\n'
    job_id = Actions(store, Actor("tester")).submit(definition(later))
    app = JobtuiApp(store, Actor("tester"), embedded=False, tz="UTC")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = pilot.app.screen_stack[1]
        bar = screen.query_one(StatusBar)

        await until(pilot, lambda: screen.query_one(JobTable).total == 1, "the job")
        await until(pilot, lambda: screen.check_action("cancel", ()) is True, "the job's cancel allowed")
        for _ in range(20):  # (a key pressed while the pane catches up with the cursor is refused: again)
            said = len(pilot.app._notifications)
            await pilot.press("c")
            await until(
                pilot,
                lambda: pilot.app.screen is not screen or len(pilot.app._notifications) > said,  # noqa: B023
                "the confirmation, or a refusal",
            )
            if pilot.app.screen is not screen:
                break
        await until(pilot, lambda: pilot.app.screen is not screen, "the confirmation")
        cluster.stop_server()
        try:
            await until(pilot, lambda: bar.unreachable, "the unreachable banner")
            await pilot.press("y")
            await until(
                pilot,
                lambda: any(n.title == "Not done: Cancel" for n in pilot.app._notifications),
                "the notice",
            )
            notice = [n for n in pilot.app._notifications if n.title == "Not done: Cancel"][-1]
            assert "nothing was changed" in notice.message and "\t" not in notice.message
            # A jump to a job (`:` and its id) looks it up off the UI thread: that worker failed the same way.
            said = len(pilot.app._notifications)
            await pilot.press("colon", *str(job_id), "enter")
            await until(
                pilot,
                lambda: any(
                    n.message.startswith("Database error") for n in list(pilot.app._notifications)[said:]
                ),
                "the jump's failure said",
            )
        finally:
            cluster.start_server()
        await until(pilot, lambda: not bar.unreachable, "the banner to go")
        assert pilot.app.is_running
    assert status(store, job_id) == "READY"


@pytest.mark.slow
def test_jobtui_log_follow_rides_out_a_restart_of_the_database(
    own_cluster: PgCluster, tmp_path: Path
) -> None:
    """The follower says once that the database is unreachable and once that it is back, prints every line
    once, and ends when the job does (it gave up with exit 2 while the job ran on)."""
    url = own_cluster.new_database()
    logs = tmp_path / "logs"
    store = Store(url, log_dir=logs)
    gate = tmp_path / "go"
    job_id = Actions(store, Actor("tester")).submit(
        definition(
            'name = "ticking"\n[[run]]\n'
            f'run = "i=0; while [ ! -e {gate} ]; do i=$((i+1)); echo tick $i; sleep 0.05; done; echo last"\n'
        )
    )
    daemon = start_daemon(url, logs)
    follower = jobtui_cli(url, tmp_path / "host-b", "log", str(job_id), "--follow")
    out, err = bytearray(), bytearray()

    def pump(stream: Any, into: bytearray) -> None:
        while piece := stream.read1(4096):
            into.extend(piece)

    pumps = [
        threading.Thread(target=pump, args=(follower.stdout, out), daemon=True),
        threading.Thread(target=pump, args=(follower.stderr, err), daemon=True),
    ]
    for thread in pumps:
        thread.start()
    stopped = False
    try:
        wait_for(lambda: b"tick 3\n" in out, timeout=60, what="the follower to print the op's lines")
        store.engine.dispose()
        own_cluster.stop_server()
        stopped = True
        wait_for(
            lambda: b"unreachable" in err or follower.poll() is not None,
            timeout=60,
            what="the follower to say the database went",
        )
        assert follower.poll() is None, bytes(err)
        own_cluster.start_server()
        stopped = False
        wait_for(lambda: b"reachable again" in err, timeout=60, what="the follower to say it is back")
        seen = out.count(b"\n")
        wait_for(lambda: out.count(b"\n") > seen + 3, timeout=60, what="lines written since")
        assert status(store, job_id) == "RUNNING"
        gate.touch()
        assert follower.wait(timeout=60) == 0, bytes(err)
        for thread in pumps:
            thread.join(timeout=10)
    finally:
        gate.touch()
        if stopped:  # the tests after this one use the cluster too
            own_cluster.start_server()
        if follower.poll() is None:
            follower.kill()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    lines = bytes(out).decode().splitlines()
    assert "last" in lines, lines[-5:]
    ticks = [line for line in lines if line.startswith("tick ")]
    assert ticks == [f"tick {n}" for n in range(1, len(ticks) + 1)], "every line once, in order"
    said = bytes(err).decode()
    assert said.count("unreachable") == 1 and said.count("reachable again after") == 1, said
    assert f"log: job {job_id} ended FINISHED" in said
    assert "Traceback" not in said


def test_a_daemon_says_when_its_database_is_back(own_cluster: PgCluster, tmp_path: Path) -> None:
    """After an outage its last line read "database unreachable (...); retrying in 15.0s" and work resumed
    silently."""
    url = own_cluster.new_database()
    Store(url, log_dir=tmp_path / "logs").engine.dispose()
    daemon = subprocess.Popen(
        [sys.executable, "-m", "jobtui.cli", "daemon", "--db", url],
        env=host_env(tmp_path / "logs"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    said = bytearray()

    def pump() -> None:
        assert daemon.stderr is not None
        while piece := daemon.stderr.read1(4096):
            said.extend(piece)

    pumping = threading.Thread(target=pump, daemon=True)
    pumping.start()
    stopped = False
    try:
        wait_for(lambda: b"jobtui engine " in said, timeout=60, what="the daemon to start")
        own_cluster.stop_server()
        stopped = True
        wait_for(lambda: b"database unreachable" in said, timeout=60, what="the daemon to say it is cut off")
        own_cluster.start_server()
        stopped = False
        wait_for(lambda: b"database reachable again after " in said, timeout=60, what="the line saying so")
    finally:
        if stopped:  # the tests after this one use the cluster too
            own_cluster.start_server()
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
        pumping.join(timeout=10)
    text = bytes(said).decode()
    assert text.count("database reachable again after ") == 1, text
    assert text.index("database unreachable") < text.index("database reachable again")
    assert "Traceback" not in text
