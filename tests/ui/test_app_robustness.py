"""The app shell never falls over: every key has its text, a crash is logged and exits 1, NO_COLOR paints,
read-only never runs an engine, and every way to quit asks while the embedded engine holds jobs."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from textual.pilot import Pilot

from jobtui import app as app_module
from jobtui.app import JobtuiApp, live_daemon_host
from jobtui.engine.db.models import OpRun, Worker
from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.service.actions import Actions
from jobtui.engine.worker.loop import Engine
from jobtui.screens.dialogs import AuditScreen, ConfirmDialog
from jobtui.widgets.job_table import JobTable
from tests.support.helpers import status_of
from tests.support.pilot import SIZE, app_for, monitor, run_palette_command, select_job, until

Submit = Callable[..., int]


def _kill_ops(store: Store) -> None:
    with store.read() as s:
        for pid in s.scalars(select(OpRun.pid)).all():
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)


def _workers_of_this_process(store: Store) -> list[Worker]:
    with store.read() as s:
        return list(s.scalars(select(Worker).where(Worker.pid == os.getpid())).all())


# -- 1. the audit trail, from its key and from the palette ----------------------------------------------


@pytest.mark.parametrize("lang", ["en", "es"])
async def test_u_shows_the_audit_trail(store: Store, submit: Submit, lang: str) -> None:
    job_id = submit('name = "audited"\n[[run]]\nrun = "true"\n')
    app = app_for(store, lang=lang)
    async with app.run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, AuditScreen), "the audit trail")
        assert app.is_running


async def test_the_palette_audit_command_shows_the_audit_trail(store: Store, submit: Submit) -> None:
    job_id = submit('name = "audited"\n[[run]]\nrun = "true"\n')
    app = app_for(store)
    async with app.run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await run_palette_command(pilot, "Audit (u)")
        await until(pilot, lambda: isinstance(app.screen, AuditScreen), "the audit trail")
        assert app.is_running


# -- 2. exit codes, crash log, the embedded engine's worker row ------------------------------------------


def _embedded(store: Store) -> JobtuiApp:
    return JobtuiApp(store, Actor("tester"), embedded=True, tz="UTC")


async def _engine_up(pilot: Pilot[int]) -> None:
    app = pilot.app
    assert isinstance(app, JobtuiApp)
    await until(
        pilot,
        lambda: live_daemon_host(app.backend.listing, app.backend.now()) is not None,
        "the embedded engine's worker row",
    )


def test_a_crash_exits_1_logs_the_traceback_and_stops_the_engine(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    app = _embedded(store)

    def boom() -> None:
        raise RuntimeError("deliberate failure")

    async def crash(pilot: Pilot[int]) -> None:
        await _engine_up(pilot)
        pilot.app.call_later(boom)
        await pilot.pause(0.5)

    code = app_module.run_dashboard(app, headless=True, size=SIZE, auto_pilot=crash)

    assert code == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "RuntimeError: deliberate failure" in lines[0]
    assert "Traceback" not in err
    logs = list((tmp_path / "state").rglob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in lines[0]
    text = logs[0].read_text()
    assert "Traceback" in text and "deliberate failure" in text and "def boom" not in lines[0]
    assert not (app._engine_thread and app._engine_thread.is_alive())
    workers = _workers_of_this_process(store)
    assert workers and all(w.stopped_at is not None for w in workers)
    assert live_daemon_host(app.backend.listing, store.now()) is None


def test_a_crash_in_a_worker_thread_logs_where_the_worker_failed(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A worker's error reaches the app as Textual's WorkerFailed, made and never raised: the crash log
    held its one line and no traceback."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    app = JobtuiApp(store, Actor("tester"), embedded=False, tz="UTC")

    def failing_read() -> None:
        raise RuntimeError("deliberate failure in a worker")

    async def crash(pilot: Pilot[int]) -> None:
        await pilot.pause(0.1)
        pilot.app.run_worker(failing_read, thread=True)
        await pilot.pause(0.5)

    assert app_module.run_dashboard(app, headless=True, size=SIZE, auto_pilot=crash) == 1
    assert "deliberate failure in a worker" in capsys.readouterr().err
    (log,) = list((tmp_path / "state").rglob("crash-*.log"))
    assert "in failing_read" in log.read_text()


async def test_an_action_that_fails_inside_is_said_and_the_dashboard_goes_on(
    store: Store, submit: Submit, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by an operator: a trap abort that hit a bug (since fixed) stopped the dashboard, dropping the
    operator to the shell at the moment they were resolving a job. Now one notification names the error
    and its crash log, nothing changed, and the dashboard goes on."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    job_id = submit('name = "needs-ok"\napproval = true\n[[run]]\nrun = "true"\n')
    engine.run_until(lambda: status_of(store, job_id) == "APPROVAL")

    def boom(self: Actions, job_id: int, comment: str | None = None) -> None:
        raise RuntimeError("deliberate failure in an action [b]markup[/b]")

    monkeypatch.setattr(Actions, "approve", boom)
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await until(pilot, lambda: monitor(pilot).check_action("approve", ()) is True, "approve enabled")
        await pilot.press("a", "y")
        await until(pilot, lambda: any("Internal error" in n.message for n in pilot.app._notifications))
        (log,) = list((tmp_path / "state").rglob("crash-*.log"))
        said = [n.message for n in pilot.app._notifications if "Internal error" in n.message]
        assert said == [
            "Internal error (RuntimeError: deliberate failure in an action [b]markup[/b]): nothing was "
            f"changed; details in {log}"
        ]
        assert "in boom" in log.read_text()
        assert status_of(store, job_id) == "APPROVAL"
        await pilot.press("u")  # the dashboard still answers
        await until(pilot, lambda: isinstance(pilot.app.screen, AuditScreen), "the audit trail")


def test_a_quit_exits_0_and_marks_the_worker_stopped_though_an_op_still_runs(
    store: Store, submit: Submit, capsys: pytest.CaptureFixture[str]
) -> None:
    submit('name = "long"\n[[run]]\nrun = "sleep 30"\n')
    app = _embedded(store)

    async def quit_anyway(pilot: Pilot[int]) -> None:
        await until(pilot, lambda: app.engine is not None and app.engine.busy > 0, "the engine's job")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the quit question")
        await pilot.press("y")

    try:
        code = app_module.run_dashboard(app, headless=True, size=SIZE, auto_pilot=quit_anyway)
        assert code == 0
        assert capsys.readouterr().err == ""
        workers = _workers_of_this_process(store)
        assert workers and all(w.stopped_at is not None for w in workers)
        # A dashboard reopened right away runs its own engine instead of waiting for a "daemon".
        assert live_daemon_host(app.backend.listing, store.now()) is None
    finally:
        _kill_ops(store)


# -- 3. NO_COLOR and plain terminals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("no_color", "term"),
    [("1", "dumb"), ("1", "screen"), ("1", "xterm-256color"), (None, "dumb"), (None, "screen")],
)
async def test_rows_are_painted_under_no_color_and_plain_terminals(
    store: Store, submit: Submit, monkeypatch: pytest.MonkeyPatch, no_color: str | None, term: str
) -> None:
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    monkeypatch.setenv("TERM", term)
    submit('name = "painted"\n[[run]]\nrun = "true"\n')
    app = app_for(store)  # Textual reads NO_COLOR here
    assert app.no_color is (no_color is not None)
    async with app.run_test(size=SIZE) as pilot:
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: table.total > 0, "rows")
        await pilot.pause(0.2)
        assert app.is_running
        screenshot = app.export_screenshot()
        assert "painted" in screenshot
    assert app.return_code in (None, 0)


async def test_job_table_lines_never_carry_a_style_of_none(store: Store, submit: Submit) -> None:
    submit('name = "styled"\n[[run]]\nrun = "true"\n')
    app = app_for(store)
    async with app.run_test(size=SIZE) as pilot:
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: table.total > 0, "rows")
        for y in range(3):  # the header, the row, a blank line
            assert all(segment.style is not None for segment in table.render_line(y))


# -- 4. read-only never runs an engine --------------------------------------------------------------------


async def test_readonly_never_runs_an_engine(store: Store, submit: Submit) -> None:
    job_id = submit('name = "due"\n[[run]]\nrun = "true"\n')
    assert status_of(store, job_id) == "READY"
    app = JobtuiApp(store, Actor("tester"), readonly=True, tz="UTC")
    async with app.run_test(size=SIZE) as pilot:
        screen = monitor(pilot)
        table = screen.query_one(JobTable)
        await until(pilot, lambda: table.total > 0, "rows")
        # The Store is opened (that is when an embedded engine would start), and then some.
        await until(pilot, lambda: getattr(screen, "_listener", None) is not None, "the Store opened")
        await pilot.pause(0.3)
        assert app.engine is None
        assert status_of(store, job_id) == "READY"
        assert _workers_of_this_process(store) == []
    assert status_of(store, job_id) == "READY"
    assert _workers_of_this_process(store) == []


# -- 5. every way to quit asks --------------------------------------------------------------------------


async def _asks_before_quitting(
    store: Store, submit: Submit, quit: Callable[[Pilot[int]], Awaitable[None]]
) -> None:
    submit('name = "long"\n[[run]]\nrun = "sleep 30"\n')
    app = _embedded(store)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(
                pilot, lambda: app.engine is not None and app.engine.busy > 0, "the engine to take the job"
            )
            await quit(pilot)
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the quit question")
            await pilot.press("n")
            await pilot.pause(0.1)
            assert app.is_running and app.screen is monitor(pilot)
            await quit(pilot)
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the quit question")
            await pilot.press("y")
            await until(pilot, lambda: not app.is_running, "the app to exit")
    finally:
        _kill_ops(store)


async def test_ctrl_q_asks_while_the_embedded_engine_holds_jobs(store: Store, submit: Submit) -> None:
    async def ctrl_q(pilot: Pilot[int]) -> None:
        await pilot.press("ctrl+q")

    await _asks_before_quitting(store, submit, ctrl_q)


async def test_the_palette_quit_asks_while_the_embedded_engine_holds_jobs(
    store: Store, submit: Submit
) -> None:
    async def palette_quit(pilot: Pilot[int]) -> None:
        await run_palette_command(pilot, "Quit")

    await _asks_before_quitting(store, submit, palette_quit)


async def test_ctrl_q_with_nothing_running_quits_at_once(store: Store) -> None:
    app = _embedded(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("ctrl+q")
        await until(pilot, lambda: not app.is_running, "the app to exit")
    assert app.return_code == 0
