"""`f`: the status picker. Space ticks, Enter applies; presets a (needs attention), r, x (failed), 0 (all)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import update
from textual.widgets import SelectionList

from jobtui.engine.db.models import JOBS
from jobtui.engine.db.store import Store
from jobtui.engine.domain.states import NEEDS_ATTENTION
from jobtui.screens.dialogs import StatusPicker
from jobtui.widgets.job_table import JobTable
from tests.support.pilot import app_for, monitor, simple, until

Submit = Callable[..., int]


def put(store: Store, job_id: int, status: str) -> None:
    with store.write() as s:
        s.execute(update(JOBS).where(JOBS.c.id == job_id).values(status=status))


def shown_statuses(table: JobTable) -> set[str]:
    return {row.status for index in range(table.total) if (row := table.row_at(index)) is not None}


async def test_the_picker_ticks_several_statuses_and_applies_them_with_enter(
    store: Store, submit: Submit
) -> None:
    statuses = ["READY", "RUNNING", "ERROR", "ABEND", "TRAPPED", "FINISHED"]
    for status in statuses:
        put(store, submit(simple(status.lower())), status)
    async with app_for(store).run_test(size=(120, 40)) as pilot:
        screen = monitor(pilot)
        table = screen.query_one(JobTable)
        await until(pilot, lambda: table.total == 6, "every job")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, StatusPicker), "the picker")
        await pilot.press("x", "enter")  # the failed preset
        await until(pilot, lambda: shown_statuses(table) == {"ERROR", "ABEND"}, "the failed jobs")
        assert screen.filter.statuses == {"ERROR", "ABEND", "PARTIAL", "EXPIRED"}
        # Opened again, it shows what is in force; space on the highlighted (first) status adds Ready.
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, StatusPicker), "the picker again")
        picker = pilot.app.screen.query_one("#statuses", SelectionList)
        assert set(picker.selected) == {"ERROR", "ABEND", "PARTIAL", "EXPIRED"}
        await pilot.press("space", "enter")
        await until(pilot, lambda: shown_statuses(table) == {"READY", "ERROR", "ABEND"}, "ready added")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, StatusPicker), "the picker a third time")
        await pilot.press("a", "enter")  # needs attention
        await until(pilot, lambda: shown_statuses(table) == {"ERROR", "ABEND", "TRAPPED"}, "attention")
        assert screen.filter.statuses == {status.value for status in NEEDS_ATTENTION}
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, StatusPicker), "the picker a fourth time")
        await pilot.press("0", "enter")  # all
        await until(pilot, lambda: table.total == 6, "every job again")
        assert screen.filter.statuses == frozenset()


async def test_escape_leaves_the_status_filter_as_it_was(store: Store, submit: Submit) -> None:
    put(store, submit(simple("failed")), "ERROR")
    submit(simple("ready"))
    async with app_for(store).run_test(size=(120, 40)) as pilot:
        screen = monitor(pilot)
        table = screen.query_one(JobTable)
        await until(pilot, lambda: table.total == 2, "both jobs")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, StatusPicker), "the picker")
        await pilot.press("x", "escape")
        await until(pilot, lambda: not isinstance(pilot.app.screen, StatusPicker), "the picker closed")
        await pilot.pause(0.3)
        assert screen.filter.statuses == frozenset() and table.total == 2
