"""At 160x48 the detail pane's tasks table shows every column without scrolling sideways: an on-call
operator resolving a retrying job reads each task's attempts and next attempt at a glance (they were the
last columns, off to the right of a table squeezed between the info block and the log)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import select

from jobtui.engine.db.models import Task
from jobtui.engine.db.store import Store
from jobtui.engine.worker.loop import Engine
from jobtui.i18n import t
from jobtui.widgets.detail import TASK_COLUMNS
from jobtui.widgets.task_table import TaskTable
from tests.support.pilot import SIZE, app_for, monitor, painted, select_job, until

Submit = Callable[..., int]

# Targets of a typical job: host names of 12 to 20 characters.
RETRYING = """
name = "push-config"
targets = ["db-primary-eu-west-1", "cache-node-07"]
[schedule]
mode = "now"
retry_every = "5m"
[[run]]
run = "exit 1"
per_target = true
"""


def squeezed(text: str) -> list[str]:
    """The painted screen's lines, runs of blanks squeezed."""
    return [re.sub(r"\s+", " ", line).strip() for line in text.splitlines()]


@pytest.mark.parametrize(
    ("lang", "rows"),
    [
        ("en", ["db-primary-eu-west-1 Rescheduled - 0% now 1 in 5 min", "cache-node-07 Rescheduled"]),
        ("es", ["db-primary-eu-west-1 Replanificada - 0% ahora 1 dentro de 5 min", "cache-node-07 Replan"]),
    ],
)
async def test_at_160x48_a_retrying_task_shows_its_attempts_and_next_attempt_without_scrolling(
    store: Store, submit: Submit, engine: Engine, lang: str, rows: list[str]
) -> None:
    job_id = submit(RETRYING)

    def both_rescheduled() -> bool:
        with store.read() as s:
            tasks = s.scalars(select(Task).where(Task.job_id == job_id)).all()
        return len(tasks) == 2 and all(task.status == "RESCHEDULED" for task in tasks)

    engine.run_until(lambda: both_rescheduled() and not engine.busy)
    async with app_for(store, lang=lang).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        screen = monitor(pilot)
        table = screen.query_one("#tasks-table", TaskTable)
        await until(pilot, lambda: table.total == 2, "the job's tasks")
        await pilot.pause(0.1)
        lines = squeezed(painted(screen)[0])
        # Every header, in order, on one painted line: none of them is off to the right.
        header = " ".join(t(f"col.{key}", lang) for key in TASK_COLUMNS)
        assert any(header in line for line in lines), "\n".join(lines)
        # The bar's blocks aside, the retrying task's row whole: tried once, tried again in 5 minutes.
        cells = [re.sub(r" ?[█░]+ ?", " ", line) for line in lines]
        assert any(rows[0] in line for line in cells), "\n".join(cells)
        assert any(rows[1] in line for line in cells), "\n".join(cells)
        # Nothing to scroll to sideways: the whole table is on screen.
        assert not table.show_horizontal_scrollbar and table.max_scroll_x == 0
