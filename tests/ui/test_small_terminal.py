"""Below 120 columns the detail pane keeps its info and tasks readable and leaves the log to `l` and `Z`."""

from __future__ import annotations

from collections.abc import Callable

from jobtui.engine.db.store import Store
from jobtui.widgets.detail import DetailPane
from jobtui.widgets.job_table import JobTable
from tests.support.pilot import app_for, monitor, shown_job, simple, until

Submit = Callable[..., int]


async def test_at_80_columns_the_pane_shows_info_and_tasks_and_zoom_brings_the_log_back(
    store: Store, submit: Submit
) -> None:
    job = submit(simple("narrow"))
    async with app_for(store).run_test(size=(80, 24)) as pilot:
        screen = monitor(pilot)
        await until(pilot, lambda: shown_job(pilot) == job, "the job's detail")
        await pilot.pause(0.1)
        tabs, tasks = screen.query_one("#detail-tabs"), screen.query_one("#detail-tasks")
        assert tabs.region.width == 0 and tasks.region.width >= 30  # was ~17 beside the log
        screen.query_one("#tasks-table").focus()
        await pilot.press("Z")
        assert isinstance(screen.maximized, DetailPane)
        await pilot.pause(0.1)
        assert tabs.region.width > 0  # zoomed, the pane has its log again
        await pilot.press("Z")
        screen.query_one(JobTable).focus()


async def test_at_160_columns_the_log_stays_beside_the_tasks(store: Store, submit: Submit) -> None:
    job = submit(simple("wide"))
    async with app_for(store).run_test(size=(160, 40)) as pilot:
        screen = monitor(pilot)
        await until(pilot, lambda: shown_job(pilot) == job, "the job's detail")
        await pilot.pause(0.1)
        assert screen.query_one("#detail-tabs").region.width > 30
