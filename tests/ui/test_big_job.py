"""A job with more targets than the detail pane reads at once: its tasks table is virtual, like the job
table. It shows the first tasks at once, counts them all, and fetches the others as the operator moves
through them; the steps table follows the task under the cursor (issue 14, item 12)."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import DataTable, Label

from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.formats.policy_file import parse_policy
from jobtui.engine.service.actions import Actions
from jobtui.engine.service.reads import PANE_TASKS, Reads
from jobtui.widgets.detail import DetailPane
from jobtui.widgets.task_table import TaskTable
from tests.support.pilot import SIZE, app_for, monitor, select_job, until

Submit = Callable[..., int]
TOTAL = 1200


def big_job(submit: Submit) -> int:
    """A job of TOTAL targets, its RUN op once per target (planned when the job is submitted)."""
    targets = ", ".join(f'"host-{n}"' for n in range(TOTAL))
    return submit(f'name = "big"\ntargets = [{targets}]\n[[run]]\nrun = "true"\nper_target = true\n')


def target_at(table: TaskTable, index: int) -> str | None:
    cells = table.get_row_at(index)
    return cells[0].plain if cells else None


async def test_the_tasks_table_of_a_big_job_counts_every_task_and_fetches_them_as_the_cursor_moves(
    store: Store, submit: Submit, actions: Actions
) -> None:
    assert TOTAL > 2 * PANE_TASKS
    job_id = big_job(submit)
    reads = Reads(store, Actor("tester"))
    assert len(reads.detail(job_id)["tasks"]) == TOTAL  # `show` keeps every task
    window = reads.task_window(job_id, TOTAL - 10, 50)
    assert window is not None and window.total == TOTAL and window.start == TOTAL - 10
    assert [task["target"] for task in window.tasks] == [f"host-{n}" for n in range(TOTAL - 10, TOTAL)]
    assert all(len(task["steps"]) == 1 for task in window.tasks), [t["steps"] for t in window.tasks[:2]]
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        screen = monitor(pilot)
        table = screen.query_one("#tasks-table", TaskTable)
        steps = screen.query_one("#steps-table", DataTable)
        steps_title = screen.query_one("#steps-title", Label)
        await until(pilot, lambda: table.row_count == TOTAL and target_at(table, 0) == "host-0", "the tasks")
        assert str(screen.query_one("#tasks-title", Label).render()) == "Tasks (1,200)"
        assert table.virtual_size.height == TOTAL + 1  # the scrollbar covers every task
        await until(pilot, lambda: "host-0" in str(steps_title.render()) and steps.row_count == 1, "steps")

        table.focus()
        await pilot.press("end")
        assert table.cursor == TOTAL - 1
        await until(pilot, lambda: target_at(table, TOTAL - 1) == "host-1199", "the last task")
        await until(pilot, lambda: "host-1199" in str(steps_title.render()), "the last task's steps")
        assert steps.row_count == 1
        assert table.selected_task() is not None
        assert table.selected_task()["target"] == "host-1199"  # type: ignore[index]
        assert any("host-1199" in strip.text for strip in (table.render_line(y) for y in range(1, 40)))

        # The job changes: the pane reads it again with the tasks where its table stands, not the first.
        pane = screen.query_one(DetailPane)
        before = pane.shown
        actions.reschedule(job_id, "+2h")
        await until(pilot, lambda: pane.shown is not before, "the job read again")
        assert pane.shown is not None and pane.shown.job["tasks_start"] > PANE_TASKS
        assert table.cursor == TOTAL - 1 and target_at(table, TOTAL - 1) == "host-1199"
        assert "host-1199" in str(steps_title.render())

        await pilot.press("up", "up")
        await until(pilot, lambda: "host-1197" in str(steps_title.render()), "the steps to follow")
        await pilot.press("pageup", "pageup", "pageup")
        moved = table.cursor
        assert moved < TOTAL - 3
        await until(pilot, lambda: target_at(table, moved) == f"host-{moved}", "an earlier window")
        await until(pilot, lambda: f"host-{moved}" in str(steps_title.render()), "its steps")

        await pilot.press("home")
        await until(pilot, lambda: target_at(table, 0) == "host-0", "the first tasks again")
        await until(pilot, lambda: str(steps_title.render()).endswith("host-0"), "the first task's steps")


POLICY = """\
[roles.web_viewer]
actions = ["action.job.view_monitor"]
projects = ["web"]

[users]
alice = ["web_viewer"]
"""


def test_a_task_window_of_a_job_the_actor_may_not_view_is_refused(store: Store, submit: Submit) -> None:
    alice = Reads(store, Actor("alice", parse_policy(POLICY, "policy.toml")))
    web = submit('name = "w"\nproject = "web"\ntargets = ["a", "b"]\n[[run]]\nrun = "true"\n')
    ops = submit('name = "o"\nproject = "ops"\ntargets = ["a", "b"]\n[[run]]\nrun = "true"\n')
    window = alice.task_window(web, 1, 10)
    assert window is not None and window.total == 2
    assert [task["target"] for task in window.tasks] == ["b"]
    assert alice.task_window(ops, 0, 10) is None
    assert alice.task_window(10**6, 0, 10) is None  # gone
