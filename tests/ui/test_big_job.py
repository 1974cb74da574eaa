"""A job with more targets than the detail pane shows: the pane lists the first ones at once and says how
many there are and where to see them all; `show` keeps every task (issue 14, item 12)."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import DataTable, Label

from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.service.reads import PANE_TASKS, Reads
from tests.support.pilot import SIZE, app_for, monitor, select_job, until

Submit = Callable[..., int]


async def test_the_pane_shows_the_first_tasks_of_a_big_job_and_says_how_many_there_are(
    store: Store, submit: Submit
) -> None:
    total = PANE_TASKS + 100
    targets = ", ".join(f'"host-{n}"' for n in range(total))
    job_id = submit(f'name = "big"\ntargets = [{targets}]\n[[run]]\nrun = "true"\n')
    assert len(Reads(store, Actor("tester")).detail(job_id)["tasks"]) == total
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        screen = monitor(pilot)
        table = screen.query_one("#tasks-table", DataTable)
        await until(pilot, lambda: table.row_count == PANE_TASKS, "the first tasks")
        title = str(screen.query_one("#tasks-title", Label).render())
        assert title == f"Tasks: the first {PANE_TASKS} of {total} (all: jobtui show {job_id})"
        assert str(table.get_row_at(0)[0]) == "host-0"
