"""`3`: the workers view — each engine's host, slots busy, jobs held, heartbeat and state; the last hour's
throughput; and a warning when jobs are due and no engine is live."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.screen import Screen

from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.read.engines import FRESH_HEARTBEAT_S
from jobtui.engine.worker.loop import Engine
from jobtui.screens.dialogs import ConfirmDialog
from jobtui.widgets.job_table import JobTable
from jobtui.widgets.statusbar import StatusBar
from jobtui.widgets.workers_view import WorkersView, sparkline
from tests.support.helpers import run_until_status
from tests.support.ops_running import wait_op_started
from tests.support.pilot import app_for, monitor, simple, until

Submit = Callable[..., int]


def screen_text(screen: Screen[object]) -> str:
    strips = screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


async def test_three_shows_each_engine_with_its_busy_slots_jobs_heartbeat_and_the_throughput(
    store: Store, submit: Submit, engine: Engine, tmp_path: Path
) -> None:
    done = submit(simple("quick"))
    run_until_status(engine, done, "FINISHED")
    gate = tmp_path / "go"
    held = submit(f'name = "long"\n[[run]]\nrun = "while [ ! -f {gate} ]; do sleep 0.02; done"\n')
    wait_op_started(engine, store, held)
    try:
        async with app_for(store).run_test(size=(140, 40)) as pilot:
            screen = monitor(pilot)
            await until(pilot, lambda: screen.query_one(JobTable).total == 2, "the jobs")
            await pilot.press("3")
            view = screen.query_one(WorkersView)
            await until(pilot, lambda: view.data is not None, "the workers view")
            data = view.data
            assert data is not None
            (row,) = [e for e in data.engines if e.id == engine.worker_id]
            assert row.state(data.now) == "live" and row.busy == 1 and row.slots == 2
            assert row.jobs == (held,)
            assert sum(data.throughput.finished) == 1 and sum(data.throughput.failed) == 0
            text = screen_text(screen)
            assert "1/2" in text and "live" in text and str(held) in text
            assert "no engine" not in str(screen.query_one(StatusBar).render())  # this engine serves
            assert "1 · max 1/min" in text  # the finished job, in this minute's bar
            assert view.has_focus
            # A job key does nothing here: no job is shown to act on.
            await pilot.press("c")
            await pilot.pause(0.2)
            assert not isinstance(pilot.app.screen, ConfirmDialog)
    finally:
        gate.touch()
        run_until_status(engine, held, "FINISHED")


async def test_jobs_due_with_no_live_engine_are_said_to_wait_for_one(store: Store, submit: Submit) -> None:
    submit(simple("due-now"))
    async with app_for(store).run_test(size=(140, 40)) as pilot:
        screen = monitor(pilot)
        await until(pilot, lambda: screen.query_one(JobTable).total == 1, "the job")
        # The header says so in every view: no daemon, and this dashboard runs no engine (embedded=False).
        bar = screen.query_one(StatusBar)
        await until(pilot, lambda: "1 due, no engine" in str(bar.render()), "the header's warning")
        await pilot.press("3")
        view = screen.query_one(WorkersView)
        await until(pilot, lambda: view.data is not None, "the workers view")
        assert view.data is not None and view.data.waiting == 1 and view.data.engines == []
        lines = screen_text(screen)
        assert "jobs due with no live engine: 1" in lines  # it read "1 jobs are due"
        assert "No engine has ever served this database" in lines
        # No job here: the keys that read one act on none (the jobs view's selection is not this view's).
        for key in ("l", "u", "n", "Y"):
            await pilot.press(key)
            await pilot.pause(0.05)
            assert pilot.app.screen is screen, key
        assert [note.message for note in pilot.app._notifications] == []


def test_the_sparkline_scales_to_the_busiest_minute() -> None:
    assert sparkline((0, 1, 2, 4)) == " ▂▄█"
    assert sparkline((0, 0)) == "  "
    assert FRESH_HEARTBEAT_S > 0


@pytest.mark.parametrize(("lang", "age"), [("en", "2 h 59 min ago"), ("es", "hace 2 h 59 min")])
async def test_a_stale_heartbeat_reads_its_age_in_two_units_in_the_dashboards_language(
    store: Store, engine: Engine, clock: FakeClock, lang: str, age: str
) -> None:
    """Cut to one unit, a heartbeat 2 h 59 min old read "2 h ago"; and it was English in Spanish."""
    engine.register()
    clock.advance(2 * 3600 + 59 * 60)
    async with app_for(store, lang=lang).run_test(size=(140, 40)) as pilot:
        screen = monitor(pilot)
        await pilot.press("3")
        view = screen.query_one(WorkersView)
        await until(pilot, lambda: view.data is not None, "the workers view")
        await pilot.pause(0.1)
        (row,) = [line for line in screen_text(screen).splitlines() if f" {os.getpid()} " in line]
        assert age in row


async def test_each_engine_says_whether_it_is_a_daemon_or_a_dashboards(store: Store) -> None:
    """A dashboard's engine stops when its dashboard closes: the view tells it from a daemon."""
    engines = {kind: Engine(store, host=f"{kind}-host", kind=kind) for kind in ("daemon", "dashboard")}
    for engine in engines.values():
        engine.register()
    async with app_for(store).run_test(size=(140, 40)) as pilot:
        screen = monitor(pilot)
        await pilot.press("3")
        view = screen.query_one(WorkersView)
        await until(pilot, lambda: view.data is not None and len(view.data.engines) == 2, "the workers view")
        await pilot.pause()
        words = [line.split() for line in screen_text(screen).splitlines()]
        rows = {first[0]: first[1] for first in words if first and first[0].endswith("-host")}
        assert rows == {"daemon-host": "daemon", "dashboard-host": "dashboard"}
        # No job here: the footer offers no job's log, audit or notifications (they did nothing), and
        # `/` does not open the job filter over the engines.
        footer = screen_text(screen).splitlines()[-1]
        assert "Log" not in footer and "Audit" not in footer and "Notifications" not in footer, footer
        await pilot.press("slash")
        await pilot.pause()
        assert not any(box.has_focus for box in screen.query("#filter-input"))


async def test_the_workers_read_coming_back_as_the_screen_closes_does_not_fail_the_app(store: Store) -> None:
    """The view's numbers are read off the UI thread; one that came back as the dashboard closed (its
    widgets removed first) found no view to show them in, and the failed read took the app down."""
    app = app_for(store)
    async with app.run_test() as pilot:
        screen = monitor(pilot)
        await pilot.press("3")
        view = screen.query_one(WorkersView)
        await until(pilot, lambda: view.display, "the workers view")
        await view.remove()
        await screen._read_workers().wait()
        assert app.is_running
