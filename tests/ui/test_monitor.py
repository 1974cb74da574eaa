"""The dashboard, driven through its keys with Textual's pilot against a real database and engine."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import pendulum
import pytest
from sqlalchemy import select
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Label, Log, Static

from jobtui.engine.db.models import Job, Task
from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.service.actions import Actions
from jobtui.engine.service.commands import BY_ID
from jobtui.engine.service.envelope_actions import EnvelopeActions
from jobtui.engine.service.views import audit_json
from jobtui.engine.worker.loop import Engine
from jobtui.screens.dialogs import ConfirmDialog, HelpScreen, NotificationsScreen, ReasonDialog
from jobtui.widgets.detail import DetailPane, days_text, schedule_text
from jobtui.widgets.job_table import JobTable
from jobtui.widgets.statusbar import StatusBar
from jobtui.widgets.task_table import TaskTable
from tests.support.helpers import run_until_status, status_of
from tests.support.pilot import (
    SIZE,
    app_for,
    monitor,
    open_envelopes,
    painted,
    run_until_ended,
    select_job,
    shown_job,
    simple,
    submit_envelope,
    until,
)

Submit = Callable[..., int]


async def test_table_lists_jobs_newest_first_and_the_detail_follows_the_cursor(
    store: Store, submit: Submit, engine: Engine
) -> None:
    first = submit(simple("alpha", 'project = "payments"'))
    second = submit(simple("beta"))
    run_until_status(engine, first, "FINISHED")
    async with app_for(store).run_test(size=SIZE) as pilot:
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: table.total == 2 and shown_job(pilot) == second)
        await pilot.press("down")
        await until(pilot, lambda: shown_job(pilot) == first)
        pane = monitor(pilot).query_one(DetailPane)
        assert pane.shown is not None and pane.shown.job["status"] == "FINISHED"
        # The pane's log, not the last read's chunk: a read of the same job carries only newer output.
        log = pane.query_one("#log-tail", Log)
        await until(pilot, lambda: "hello from alpha" in log.lines, "the job's output in the pane")


async def test_cursor_stays_on_its_job_while_rows_move(store: Store, submit: Submit) -> None:
    ids = [submit(simple(f"job-{n}")) for n in range(5)]
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, ids[2])
        for n in range(3):
            submit(simple(f"newer-{n}"))  # newer jobs appear above it
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: table.total == 8)
        await pilot.pause(0.3)
        assert table.selected_job_id() == ids[2]
        assert table.cursor == 5
        assert shown_job(pilot) == ids[2]


async def test_approve_asks_first_and_keeps_the_approvers_comment(
    store: Store, submit: Submit, engine: Engine
) -> None:
    job_id = submit(simple("needs-ok", "approval = true"))
    run_until_status(engine, job_id, "APPROVAL")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await until(pilot, lambda: monitor(pilot).check_action("approve", ()) is True, "approve enabled")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "the question")
        assert "Approve this job?" in painted(pilot.app.screen)[0]
        await pilot.press("c", *"signed off by CAB-12", "enter")
        await until(pilot, lambda: status_of(store, job_id) == "READY", "approval")
    run_until_status(engine, job_id, "FINISHED")
    approvals = [row for row in audit_json(store, job_id) if row["action"] == "approve"]
    assert [row["comment"] for row in approvals] == ["signed off by CAB-12"]


@pytest.mark.parametrize(
    ("command", "status", "gate", "op"),
    [("approve", "APPROVAL", "approval = true", "true"), ("retry", "ERROR", "", "false")],
)
async def test_a_key_pressed_again_never_acts_on_the_job_the_cursor_fell_to(
    store: Store, submit: Submit, engine: Engine, command: str, status: str, gate: str, op: str
) -> None:
    """Found by an operator: in the attention view, `a` (or `y`) acted at once; the job it approved (or
    retried) left the view, the cursor fell to the next one, and the reflex second press approved (or
    retried) a job nobody had chosen. Each asks first now: a second `y` answers the question about the job
    chosen (a second `a` answers nothing), and one more opens a question about the next job."""
    first, second = (
        submit(f'name = "{name}"\nproject = "{name}"\n{gate}\n[[run]]\nrun = "{op}"\n')
        for name in ("first", "second")
    )
    run_until_status(engine, first, status)
    run_until_status(engine, second, status)
    async with app_for(store).run_test(size=SIZE) as pilot:
        table = monitor(pilot).query_one(JobTable)
        await pilot.press("exclamation_mark")  # the jobs waiting for someone
        await until(pilot, lambda: table.total == 2, "both jobs in the attention view")
        await select_job(pilot, first)
        await until(pilot, lambda: monitor(pilot).check_action(command, ()) is True, "the key enabled")
        key = BY_ID[command].key
        await pilot.press(key, key)
        if command == "approve":  # `a` is no answer: the question about the first job waits for one
            await pilot.pause(0.2)
            assert isinstance(pilot.app.screen, ConfirmDialog) and f"#{first}" in painted(pilot.app.screen)[0]
            assert status_of(store, first) == status
            await pilot.press("y")
        await until(pilot, lambda: status_of(store, first) != status, "the first job acted on")
        await until(pilot, lambda: table.total == 1 and shown_job(pilot) == second, "the first job gone")
        await pilot.pause(0.2)
        assert status_of(store, second) == status
        await pilot.press(key)
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "a question about the next")
        assert f"#{second}" in painted(pilot.app.screen)[0]
        await pilot.press("n")
        await until(pilot, lambda: pilot.app.screen is monitor(pilot), "the question gone")
        assert status_of(store, second) == status


async def test_a_job_waiting_for_approval_says_who_may_approve_it(
    store: Store, submit: Submit, engine: Engine
) -> None:
    """A user who may not approve is told only that: the pane says whom to ask."""
    listed = submit(simple("listed", 'approval = true\napprovers = ["alice", "role:release"]'))
    anyone = submit(simple("anyone", "approval = true"))
    run_until_status(engine, listed, "APPROVAL")
    run_until_status(engine, anyone, "APPROVAL")
    async with app_for(store).run_test(size=(160, 60)) as pilot:  # the info block whole
        for job_id, says in (
            (anyone, "Approvers: whoever has approve_all"),  # the newest, on top
            (listed, "Approvers: alice, role:release, or"),  # the pane wraps the rest
        ):
            await select_job(pilot, job_id)
            await until(pilot, lambda says=says: says in painted(pilot.app.screen)[0], "the approvers")


async def test_reject_asks_first_and_no_leaves_the_job_waiting(
    store: Store, submit: Submit, engine: Engine
) -> None:
    job_id = submit(simple("needs-ok", "approval = true"))
    run_until_status(engine, job_id, "APPROVAL")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await until(pilot, lambda: monitor(pilot).check_action("reject", ()) is True, "reject enabled")
        await pilot.press("x")
        await until(pilot, lambda: pilot.app.screen is not monitor(pilot), "the question")
        await pilot.press("n")
        await until(pilot, lambda: pilot.app.screen is monitor(pilot), "the question gone")
        assert status_of(store, job_id) == "APPROVAL"
        await pilot.press("x")
        await until(pilot, lambda: pilot.app.screen is not monitor(pilot), "the question")
        # `c`: why, for the audit trail; every key is text there (a y or an n answers nothing) until Enter.
        await pilot.press("c", *"not yet, no sign-off", "enter")
        await until(pilot, lambda: status_of(store, job_id) in ("REJECTED", "RUNNING", "READY"), "the reject")
    assert run_until_status(engine, job_id, "REJECTED").status == "REJECTED"
    rejects = [row for row in audit_json(store, job_id) if row["action"] == "reject"]
    assert [row["comment"] for row in rejects] == ["not yet, no sign-off"]


async def test_a_key_not_allowed_is_disabled_and_refused_with_the_reason(
    store: Store, submit: Submit, engine: Engine
) -> None:
    job_id = submit(simple())
    run_until_status(engine, job_id, "FINISHED")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        screen = monitor(pilot)
        await until(pilot, lambda: bool(screen.allowed), "allowed actions")
        assert screen.check_action("approve", ()) is None  # shown, but disabled
        assert screen.check_action("rerun", ()) is True
        await pilot.press("a")
        await pilot.pause(0.1)
        messages = [n.message for n in pilot.app._notifications]
        assert any(f"approve: job {job_id} is FINISHED; allowed from APPROVAL" in m for m in messages)
        assert status_of(store, job_id) == "FINISHED"


async def test_cancel_asks_first_and_no_leaves_the_job_alone(store: Store, submit: Submit) -> None:
    job_id = submit(simple(), at="+1h")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await until(pilot, lambda: monitor(pilot).check_action("cancel", ()) is True)
        await pilot.press("c")
        await until(pilot, lambda: pilot.app.screen is not monitor(pilot), "the confirmation")
        await pilot.press("n")
        await pilot.pause(0.1)
        assert status_of(store, job_id) == "READY"
        await pilot.press("c")
        await until(pilot, lambda: pilot.app.screen is not monitor(pilot), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: status_of(store, job_id) == "CANCELED", "the cancel")


async def test_an_open_dialog_says_when_its_job_changed_or_was_deleted_meanwhile(
    store: Store, submit: Submit, actions: Actions
) -> None:
    """The table holds still under a dialog; the dialog's own job does not: it may be canceled or deleted
    by someone else while the operator reads the question, and the dialog says so before they answer."""
    job_id = submit(simple(), at="+1h")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await until(pilot, lambda: monitor(pilot).check_action("cancel", ()) is True)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "the confirmation")
        dialog = pilot.app.screen
        facts = dialog.query_one(".job-facts", Static)
        assert "Status Ready" in str(facts.render()) and not facts.has_class("-changed")
        actions.cancel(job_id)  # another operator, meanwhile
        await until(pilot, lambda: "Status Canceled" in str(facts.render()), "the dialog to see it")
        assert "changed meanwhile" in str(facts.render()) and facts.has_class("-changed")
        actions.delete(job_id)
        await until(pilot, lambda: "no longer exists" in str(facts.render()), "the dialog to see it gone")
        await pilot.press("y")  # answered anyway: refused, and the dialog closes
        await until(pilot, lambda: pilot.app.screen is monitor(pilot), "the monitor")


async def test_delete_through_its_confirmation(store: Store, submit: Submit, engine: Engine) -> None:
    job_id = submit(simple())
    run_until_status(engine, job_id, "FINISHED")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await until(pilot, lambda: monitor(pilot).check_action("delete", ()) is True)
        await pilot.press("d")
        await until(pilot, lambda: pilot.app.screen is not monitor(pilot))
        await pilot.press("y")
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: table.total == 0, "the row to vanish")
        assert shown_job(pilot) is None


async def test_rerun_dialog_reruns_from_the_chosen_step(store: Store, submit: Submit, engine: Engine) -> None:
    job_id = submit(simple())
    run_until_status(engine, job_id, "FINISHED")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await until(pilot, lambda: monitor(pilot).check_action("rerun", ()) is True)
        await pilot.press("r")
        await until(pilot, lambda: pilot.app.screen is not monitor(pilot))
        await pilot.press("y")  # Enter alone reruns nothing: the steps have the focus
        await until(pilot, lambda: status_of(store, job_id) == "READY", "the rerun")
    from tests.support.helpers import job_of

    assert job_of(store, job_id).exec == 2


async def test_reschedule_dialog_parses_relative_dates(store: Store, submit: Submit) -> None:
    job_id = submit(simple(), at="+1h")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await until(pilot, lambda: monitor(pilot).check_action("reschedule", ()) is True)
        await pilot.press("s")
        await until(pilot, lambda: pilot.app.screen is not monitor(pilot))
        await pilot.press(*"+3h", "enter")
        from tests.support.helpers import job_of

        await until(
            pilot,
            lambda: job_of(store, job_id).scheduled_at == store.now().add(hours=3),
            "the new date",
        )


async def test_trap_dialog_skip_and_trap_pause_key(
    store: Store, submit: Submit, engine: Engine, tmp_path: Path
) -> None:
    trapped = submit('name = "t"\n[[run]]\nrun = "false"\non_error = "trap"\n[[run]]\nrun = "true"\n')
    paused = submit('name = "p"\n[[run]]\nrun = "false"\non_error = "trap"\n')
    run_until_status(engine, trapped, "TRAPPED")
    run_until_status(engine, paused, "TRAPPED")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, paused)
        await until(pilot, lambda: monitor(pilot).check_action("trap_pause", ()) is True)
        assert " p Trap pause " in painted(pilot.app.screen)[0]
        await pilot.press("p")
        await until(pilot, lambda: status_of(store, paused) == "TRAP_PAUSED", "trap pause")
        # The key says what it does now (it said "Trap pause" on a trap paused job; found by an operator).
        await until(pilot, lambda: " p Trap resume " in painted(pilot.app.screen)[0], "the key's new words")
        await select_job(pilot, trapped)
        await until(pilot, lambda: " p Trap pause " in painted(pilot.app.screen)[0], "the key's words back")
        await until(pilot, lambda: monitor(pilot).check_action("trap", ()) is True)
        await pilot.press("t")
        await until(pilot, lambda: pilot.app.screen is not monitor(pilot))
        await pilot.press("enter", "s")  # no comment, then skip
        await until(pilot, lambda: status_of(store, trapped) == "READY", "trap skip")
    run_until_status(engine, trapped, "FINISHED")


async def test_the_trap_dialog_counts_from_the_time_left_now_not_when_the_pane_read_it(
    store: Store, submit: Submit, engine: Engine, clock: FakeClock
) -> None:
    """The pane reads a job again only when it changes, and a waiting trap does not: a minute later `t`
    showed the 10m read then while the pane said 9m5s."""
    from jobtui.screens.dialogs import TrapDialog

    trapped = submit('name = "t"\ntrap_timeout = "10m"\n[[run]]\nrun = "false"\non_error = "trap"\n')
    run_until_status(engine, trapped, "TRAPPED")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, trapped)
        await until(pilot, lambda: monitor(pilot).check_action("trap", ()) is True)
        clock.advance(55)
        await until(pilot, lambda: "time left 9m5s" in painted(pilot.app.screen)[0], "the pane's countdown")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(pilot.app.screen, TrapDialog), "the trap dialog")
        dialog = pilot.app.screen
        await until(pilot, lambda: "Time left: 9m5s" in painted(dialog)[0], "the dialog's time left")
        clock.advance(5)
        await until(pilot, lambda: "Time left: 9m " in painted(dialog)[0], "the dialog's countdown moving")


async def test_a_trap_without_a_timeout_says_it_has_none(
    store: Store, submit: Submit, engine: Engine
) -> None:
    """Found by an operator: the pane read "time left waits forever", a countdown that never moves."""
    trapped = submit(
        'name = "t"\ntrap_timeout = "0"\n[[run]]\nname = "fail"\nrun = "false"\non_error = "trap"\n'
    )
    run_until_status(engine, trapped, "TRAPPED")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, trapped)
        said = "Trap: fail — no timeout"
        await until(pilot, lambda: said in painted(pilot.app.screen)[0], "the trap line")
        assert "time left" not in painted(pilot.app.screen)[0]


async def test_rollback_asks_for_a_reason(store: Store, submit: Submit, engine: Engine) -> None:
    job_id = submit('name = "r"\n[[run]]\nrun = "true"\nrollback = "true"\n')
    run_until_status(engine, job_id, "FINISHED")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await until(pilot, lambda: monitor(pilot).check_action("rollback", ()) is True)
        await pilot.press("b")
        await until(pilot, lambda: pilot.app.screen is not monitor(pilot))
        # It says what the reason is for, as the envelope's does (its field was blank).
        assert pilot.app.screen.query_one(Input).placeholder == "Why roll back? (kept in the audit trail)"
        await pilot.press(*"bad release", "enter")
        await until(pilot, lambda: status_of(store, job_id) == "ROLLBACK", "the rollback")
        steps = monitor(pilot).query_one("#steps-table", DataTable)
        await until(pilot, lambda: steps.row_count > 1, "the rollback op in the steps table")
        await pilot.pause(0.2)
        # The rollback of the task's op is listed once, not again as a job-wide op.
        # Cells are Text (data is never markup): compare what they read.
        assert [[str(cell) for cell in steps.get_row_at(i)[:2]] for i in range(steps.row_count)] == [
            ["run-1", "RUN"],
            ["rollback run-1", "ROLLBACK"],
        ]
    from jobtui.engine.service.views import audit_json

    assert any(r["action"] == "rollback" and r["comment"] == "bad release" for r in audit_json(store, job_id))


async def test_the_steps_of_a_task_read_in_plan_order_job_wide_ops_among_them(
    store: Store, submit: Submit
) -> None:
    """A job-wide RUN op after a per-target one: the task's steps read as the job runs them (README: each op
    for every target, then the next op), not the job-wide RUN op first (QA: verify listed before roll)."""
    job_id = submit(
        'name = "plan"\ntargets = ["a", "b"]\n'
        '[[pre]]\nname = "check"\nrun = "true"\n'
        '[[run]]\nname = "roll"\nrun = "true"\nper_target = true\n'
        '[[run]]\nname = "verify"\nrun = "true"\n'
        '[[post]]\nname = "report"\nrun = "true"\n',
        at="+1h",
    )
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        steps = monitor(pilot).query_one("#steps-table", DataTable)
        await until(pilot, lambda: steps.row_count == 4, "the task's steps with the job-wide ones")
        assert [[str(cell) for cell in steps.get_row_at(i)[:2]] for i in range(steps.row_count)] == [
            ["check", "PRE"],
            ["roll", "RUN"],
            ["verify", "RUN"],
            ["report", "POST"],
        ]


async def test_queue_pause_and_clear_from_the_keyboard(
    store: Store, submit: Submit, actions: Actions
) -> None:
    job_id = submit(simple(), at="+1h")
    async with app_for(store).run_test(size=SIZE) as pilot:
        bar = monitor(pilot).query_one(StatusBar)
        await until(
            pilot,
            lambda: "QUEUE RUNNING" in str(bar.render()).upper() or bar.has_class("queue-paused") is False,
        )
        await pilot.press("P")
        await until(pilot, lambda: pilot.app.screen is not monitor(pilot))
        await pilot.press("y")
        await until(pilot, lambda: actions.queue_state().paused, "the pause")
        await until(pilot, lambda: bar.has_class("queue-paused"), "the paused banner")
        await pilot.press("C")
        await until(pilot, lambda: pilot.app.screen is not monitor(pilot))
        await pilot.press("y")
        await until(pilot, lambda: status_of(store, job_id) == "CANCELED", "the clear")


async def test_the_queue_pause_takes_an_optional_reason_the_header_shows(
    store: Store, submit: Submit, actions: Actions
) -> None:
    """`jobtui queue pause --reason R` had no dashboard equivalent: the pause said only who paused."""
    submit(simple(), at="+1h")
    async with app_for(store).run_test(size=SIZE) as pilot:
        bar = monitor(pilot).query_one(StatusBar)
        await until(pilot, lambda: monitor(pilot).query_one(JobTable).total == 1)
        await pilot.press("P")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "the question")
        assert "Reason (optional" in painted(pilot.app.screen)[0]
        await pilot.press("c", *"db upgrade", "enter")
        await until(pilot, lambda: actions.queue_state().reason == "db upgrade", "the pause")
        await until(pilot, lambda: "db upgrade" in painted(pilot.app.screen)[0], "the reason in the header")
        assert bar.has_class("queue-paused")
        await pilot.press("P")  # resuming asks nothing more
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "the question")
        assert "Reason" not in painted(pilot.app.screen)[0]
        await pilot.press("y")
        await until(pilot, lambda: not actions.queue_state().paused, "the resume")


async def test_the_clear_dialog_says_how_many_jobs_it_cancels_and_that_jobs_not_due_yet_are_among_them(
    store: Store, submit: Submit, actions: Actions, clock: FakeClock
) -> None:
    """It said only "Every queued job becomes Canceled": not how many, nor that a job due tomorrow is one."""
    submit(simple("now"))
    submit(simple("later"), at="+1h")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await until(pilot, lambda: monitor(pilot).query_one(JobTable).total == 2)
        await pilot.press("C")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "the question")
        text = " ".join(painted(pilot.app.screen)[0].split())
        assert "Cancels 2 jobs queued now." in text
        assert "Of them, 1 job not due yet (waiting for their date" in text
        await pilot.press("n")
        await until(pilot, lambda: pilot.app.screen is monitor(pilot), "the question gone")
        clock.advance(7200)
        await pilot.press("C")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "the question")
        text = " ".join(painted(pilot.app.screen)[0].split())
        assert "Cancels 2 jobs queued now." in text and "not due" not in text
        await pilot.press("y")
        await until(pilot, lambda: actions.queued().jobs == 0, "the clear")


async def test_filter_as_you_type_and_escape_clears_it(store: Store, submit: Submit) -> None:
    submit(simple("alpha", 'project = "payments"'))
    submit(simple("beta", 'project = "web"'))
    submit(simple("gamma", 'targets = ["pay-host"]'))
    async with app_for(store).run_test(size=SIZE) as pilot:
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: table.total == 3)
        await pilot.press("slash", *"pay")
        await until(pilot, lambda: table.total == 2, "the filtered rows")  # project, and a task target
        await pilot.press("escape")
        await until(pilot, lambda: table.total == 3, "all rows again")


async def test_freeze_stops_updates_until_resumed(store: Store, submit: Submit) -> None:
    submit(simple("first"))
    async with app_for(store).run_test(size=SIZE) as pilot:
        table = monitor(pilot).query_one(JobTable)
        bar = monitor(pilot).query_one(StatusBar)
        await until(pilot, lambda: table.total == 1)
        await pilot.press("z")
        await until(pilot, lambda: bar.has_class("frozen"), "the frozen banner")
        submit(simple("second"))
        await pilot.pause(0.6)
        assert table.total == 1
        await pilot.press("z")
        await until(pilot, lambda: table.total == 2, "updates to resume")
        assert not bar.has_class("frozen")


async def test_freeze_stops_the_clock_too(store: Store, submit: Submit, clock: FakeClock) -> None:
    """`z`: nothing moves, Elapsed and Waiting neither (they count to the time the screen froze)."""
    submit(simple("first"))
    async with app_for(store).run_test(size=SIZE) as pilot:
        screen = monitor(pilot)
        table = screen.query_one(JobTable)
        await until(pilot, lambda: table.total == 1)
        await pilot.press("z")
        await until(pilot, lambda: screen.query_one(StatusBar).has_class("frozen"), "the frozen banner")
        frozen_at = table.now
        clock.advance(90)
        screen._tick_clock()  # the second's tick
        assert table.now == frozen_at
        await pilot.press("z")
        screen._tick_clock()
        assert table.now == clock.now()


async def test_the_envelopes_view_leaves_no_steps_title_of_the_last_job(store: Store, submit: Submit) -> None:
    job_id = submit(simple("nightly-report", 'targets = ["host-a"]'))
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        title = monitor(pilot).query_one("#steps-title", Label)
        await until(pilot, lambda: "host-a" in str(title.render()), "the task's steps title")
        await pilot.press("2")  # the envelopes view: no envelope, no job selected
        await until(pilot, lambda: "host-a" not in str(title.render()), "a steps title of no task")
        assert str(title.render()) == "Steps"


async def test_readonly_hides_every_action(store: Store, submit: Submit) -> None:
    job_id = submit(simple(), at="+1h")
    async with app_for(store, readonly=True).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        screen = monitor(pilot)
        for key in ("approve", "cancel", "delete", "rerun", "queue_toggle", "queue_clear"):
            assert screen.check_action(key, ()) is False
        await pilot.press("c")
        await pilot.pause(0.2)
        assert pilot.app.screen is screen
        assert status_of(store, job_id) == "READY"
        # Not silently: an operator pressing an action's key learns why nothing happens.
        assert [str(n.message) for n in pilot.app._notifications] == [
            "Read-only: this dashboard takes no action (it was opened with --readonly)"
        ]


async def test_spanish_labels(store: Store, submit: Submit, engine: Engine) -> None:
    job_id = submit(simple(), at="+1h")
    async with app_for(store, lang="es").run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        table = monitor(pilot).query_one(JobTable)
        line = "".join(seg.text for seg in table.render_line(1))
        assert "Listo" in line


async def test_the_log_tail_follows_output_written_between_database_changes(
    store: Store, submit: Submit, engine: Engine, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    job_id = submit(
        f'name = "chatty"\n[[run]]\nrun = "echo first-line; while [ ! -f {gate} ]; do sleep 0.02; done; '
        f'echo second-line; sleep 30"\n'
    )
    from tests.support.ops_running import log_holds, wait_op_started

    wait_op_started(engine, store, job_id)
    # From here on the engine only ships the log (no job changes): the job's rows stand still.
    engine.run_until(log_holds(store, job_id, b"first-line"))
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        log = monitor(pilot).query_one(DetailPane).query_one("#log-tail")
        await until(pilot, lambda: "first-line" in "\n".join(log.lines), "the first output")  # type: ignore[attr-defined]
        gate.touch()
        await asyncio.to_thread(engine.run_until, log_holds(store, job_id, b"second-line"))
        await until(pilot, lambda: "second-line" in "\n".join(log.lines), "output without a DB change")  # type: ignore[attr-defined]


async def test_output_read_twice_before_the_pane_is_built_is_all_shown(store: Store, submit: Submit) -> None:
    """Details read before the pane's widgets exist wait for them; a later read of the same job carries
    only newer output, so it must not replace the earlier read's lines."""
    from dataclasses import replace as but

    job_id = submit(simple("chatty"))
    async with app_for(store).run_test(size=SIZE) as pilot:
        screen = monitor(pilot)
        await until(pilot, lambda: shown_job(pilot) == job_id, "the job's detail")
        read = await asyncio.to_thread(screen._fetch_detail, job_id)
        assert read is not None
        pane = DetailPane(lang="en", tz="UTC", id="late-pane")
        await screen.mount(pane)
        pane.show(but(read, log_chunk="first-read\n", log_reset=True))
        pane.show(but(read, log_chunk="second-read\n", log_reset=False))
        pane.build()
        await until(pilot, lambda: pane.is_built, "the pane's widgets")
        lines = list(pane.query_one("#log-tail", Log).lines)
        assert "first-read" in lines and "second-read" in lines, lines


# -- seed 003 schedules in the detail pane -------------------------------------------------------------


def info_text(pilot: Pilot[int]) -> str:
    """The info block as drawn, wrapping undone and runs of blanks squeezed, scrolled-out lines included."""
    info = monitor(pilot).query_one("#detail-info", Static)
    strips = info.render_lines(Region(0, 0, *info.outer_size))
    return re.sub(r"\s+", " ", " ".join(strip.text for strip in strips))


async def settled_info(pilot: Pilot[int]) -> str:
    """The info block once laid out: the pane fills it before the screen sizes it to the new lines."""
    await until(pilot, lambda: "Owner:" in info_text(pilot), "the info block to be laid out")
    return info_text(pilot)


def task_lines(pilot: Pilot[int]) -> list[str]:
    """The tasks table as drawn, header first, runs of blanks squeezed."""
    table = monitor(pilot).query_one("#tasks-table", TaskTable)
    lines = ("".join(seg.text for seg in table.render_line(y)) for y in range(table.row_count + 1))
    return [re.sub(r"\s+", " ", line).strip() for line in lines]


WINDOWED = """
name = "nightly-sync"
[schedule]
mode = "window"
timezone = "Europe/Zurich"
window = { from = "22:00", to = "04:00" }
days = ["mon", "tue", "wed", "thu", "fri"]
[[run]]
run = "true"
"""


async def test_the_detail_of_a_windowed_job_shows_its_window_days_zone_and_next_run(
    store: Store, submit: Submit
) -> None:
    job_id = submit(WINDOWED)
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        text = await settled_info(pilot)
        # Monday 10:00 UTC: the window opens tonight at 22:00 in Zurich, 21:00 UTC (the pane's zone).
        assert "Next run 2026-11-23 21:00:00 (in 11 h)" in text
        assert "Expires 2026-11-30 10:00:00 (in 7 d)" in text
        assert (
            "Window 22:00–04:00 mon–fri (Europe/Zurich) · retry every 5m · expires 2026-11-30 10:00 (in 7 d)"
        ) in text
        assert "Replaced by" not in text


async def test_a_job_due_in_2_h_59_min_reads_so_not_in_2_h(store: Store, submit: Submit) -> None:
    """Relative dates keep a second unit: cut to one, "in 2 h" hid most of an hour."""
    job_id = submit('name = "later"\n[schedule]\nat = "+2h59m"\nmax_start = "+3d1h"\n[[run]]\nrun = "true"\n')
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        text = await settled_info(pilot)
        assert "Next run 2026-11-23 12:59:00 (in 2 h 59 min)" in text
        assert "Max Start 2026-11-26 13:59:00 (in 3 d 3 h)" in text  # Max Start counts from the RUN date
        # Too long for the narrow block beside the date, how far it is gets a line of its own, whole.
        info = monitor(pilot).query_one("#detail-info", Static)
        lines = [strip.text.strip() for strip in info.render_lines(Region(0, 0, *info.outer_size))]
        assert lines.count("(in 2 h 59 min)") == 2  # Scheduled and Next run


async def test_a_fire_and_forget_job_shows_rescheduled_tasks_with_attempts_and_next_attempt(
    store: Store, submit: Submit, engine: Engine, clock: FakeClock
) -> None:
    job_id = submit(
        'name = "push-config"\ntargets = ["a", "b"]\n[schedule]\nmode = "now"\nretry_every = "5m"\n'
        '[[run]]\nrun = "exit 1"\nper_target = true\n'
    )

    def both_rescheduled() -> bool:
        with store.read() as s:
            tasks = s.scalars(select(Task).where(Task.job_id == job_id)).all()
        return len(tasks) == 2 and all(task.status == "RESCHEDULED" for task in tasks)

    engine.run_until(lambda: both_rescheduled() and not engine.busy)
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        # Read at once: cells wider than their header must not be cut while the table settles.
        header, *rows = task_lines(pilot)
        assert header == "Target Status Current step Progress Last triggered Attempts Next attempt"
        # Last triggered a moment ago on the test's clock, which stands still: "now".
        assert rows == [
            "a Rescheduled - ░░░░░ 0% now 1 in 5 min",
            "b Rescheduled - ░░░░░ 0% now 1 in 5 min",
        ]
        text = await settled_info(pilot)
        assert "Next run 2026-11-23 10:05:00 (in 5 min)" in text
        assert "Fire-and-forget · retry every 5m until 2026-11-23 10:30 (in 30 min)" in text

        # Nothing changes in the database while the tasks wait: their times still move with the clock.
        clock.advance(0.4)
        monitor(pilot)._tick_clock()  # the second's tick
        assert "Ready for 0s" in info_text(pilot)  # the age of a status in whole seconds, not "0.4s"
        clock.advance(119.6)
        monitor(pilot)._tick_clock()
        assert "Ready for 2m" in info_text(pilot)
        assert task_lines(pilot)[1:] == [
            "a Rescheduled - ░░░░░ 0% 2 min ago 1 in 3 min",
            "b Rescheduled - ░░░░░ 0% 2 min ago 1 in 3 min",
        ]


async def test_a_replaced_job_names_the_job_that_replaced_it(store: Store, submit: Submit) -> None:
    text = 'name = "sync"\n[schedule]\nat = "+1h"\n[[run]]\nrun = "true"\n'
    old = submit(text)
    new = submit(text, keep=False)
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, old)
        text = await settled_info(pilot)
        assert f"Replaced by job {new}" in text
        # A classic job's schedule is one short line, not a block of dashes.
        assert "Schedule: at its RUN date · no retries" in text


@pytest.mark.parametrize(
    ("days", "text"),
    [
        (["mon", "tue", "wed", "thu", "fri"], "mon–fri"),
        (["mon", "wed", "fri"], "mon, wed, fri"),
        (["sat", "sun"], "sat, sun"),
        (["fri", "sat", "sun", "mon"], "fri–mon"),
        (["Monday", "tue", "wed", "sat"], "mon–wed, sat"),
        (["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ""),
    ],
)
def test_weekdays_collapse_to_ranges(days: list[str], text: str) -> None:
    assert days_text(days) == text


def test_schedule_lines_for_each_kind_of_job() -> None:
    now = pendulum.datetime(2026, 11, 23, 10, 0, tz="UTC")
    base = {"timezone": "UTC", "window": None, "days": [], "start": now.isoformat(), "next_run_at": None}
    expires = now.add(minutes=30).isoformat()
    assert schedule_text(None, now, "UTC", "en") is None
    classic = {**base, "mode": "now", "expires": None, "retry_every": "0s"}
    assert schedule_text(classic, now, "UTC", "en") == "Schedule: at its RUN date · no retries"
    no_retry = {**base, "mode": "now", "expires": expires, "retry_every": "0s"}
    assert schedule_text(no_retry, now, "UTC", "en") == (
        "Fire-and-forget · no retries · expires 2026-11-23 10:30 (in 30 min)"
    )
    all_day = {**base, "mode": "window", "days": ["sat", "sun"], "expires": expires, "retry_every": "0s"}
    assert schedule_text(all_day, now, "UTC", "en") == (
        "Window all day sat, sun (UTC) · expires 2026-11-23 10:30 (in 30 min)"
    )
    assert schedule_text(all_day, now, "UTC", "es") == (
        "Ventana todo el día sat, sun (UTC) · expira 2026-11-23 10:30 (dentro de 30 min)"
    )


# -- seed 004 envelopes: the tree, rolling an envelope back, its notifications ------------------------


def messages(pilot: Pilot[int]) -> list[str]:
    return [n.message for n in pilot.app._notifications]


def label_of(node: object) -> str:
    return str(node.label)  # type: ignore[attr-defined]


async def test_the_tree_says_when_it_shows_only_the_newest_envelopes_and_jobs(
    store: Store, submit: Submit, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a review against seed 004 ("a list of all Envelopes"): the tree read the newest 200 of
    each, "(no envelope)  200 jobs" over 970, and never said that older ones exist. (Its sizes are made
    small here: 2 and 2.)"""
    from jobtui.engine.service import envelope_tree

    monkeypatch.setattr(envelope_tree, "ENVELOPES_SHOWN", 2)
    monkeypatch.setattr(envelope_tree, "JOBS_PER_GROUP", 2)
    for n in range(3):
        submit_envelope(actions, tmp_path / f"e{n}", f"rel-{n}", {f"job-{n}": "true"})
    for n in range(2):
        submit(simple(f"loose-{n}"))
    async with app_for(store).run_test(size=SIZE) as pilot:
        tree = await open_envelopes(pilot)
        labels = [label_of(node).split("  ")[0] for node in tree.root.children]
        assert [label.split(" ", 2)[-1] for label in labels[:2]] == ["rel-2", "rel-1"]
        assert labels[2:] == [
            "older envelopes are not shown: `jobtui envelopes` lists every one",
            "(no envelope)",
        ]
        assert label_of(tree.root.children[-1]) == "(no envelope)  2 jobs"  # all of them: no more said
        submit(simple("loose-2"))
        await until(
            pilot,
            lambda: (
                label_of(tree.root.children[-1]) == "(no envelope)  the newest 2 jobs: the jobs view (1) "
                "lists every one"
            ),
            "the loose jobs' count",
        )


async def test_the_tree_lists_each_envelope_s_jobs_in_chain_order_and_folds_from_the_keyboard(
    store: Store, submit: Submit, actions: Actions, engine: Engine, tmp_path: Path
) -> None:
    envelope_id, ids = submit_envelope(
        actions, tmp_path / "r42", "release-42", {"build": "true", "migrate": "true", "deploy": "true"}
    )
    loose = submit(simple("loose"))
    run_until_ended(engine, *ids, loose)
    # Chain order is the envelope position, not the id: make the newest job the first link.
    with store.write() as s:
        for job_id, position in zip(ids, (2, 1, 0), strict=True):
            job = s.get(Job, job_id)
            assert job is not None
            job.envelope_position = position
            s.add(job)
    async with app_for(store).run_test(size=SIZE) as pilot:
        tree = await open_envelopes(pilot)
        envelope, no_envelope = tree.root.children
        assert label_of(envelope) == f"✔ #{envelope_id} release-42  Success · payments · 3 jobs"
        assert [label_of(job).split("  ")[0] for job in envelope.children] == [
            f"#{ids[2]} deploy",
            f"#{ids[1]} migrate",
            f"#{ids[0]} build",
        ]
        assert [child.data["job_id"] for child in no_envelope.children if child.data] == [loose]
        # The cursor starts on the newest envelope, folded.
        assert tree.cursor_node is envelope and not envelope.is_expanded
        await pilot.press("space")
        assert envelope.is_expanded
        await pilot.press("right")  # onto the first job of the chain
        assert tree.cursor_node is envelope.children[0]
        await pilot.press("right")  # unfolds the job: its statistics
        assert envelope.children[0].is_expanded
        assert label_of(envelope.children[0].children[0]) == "1 task · 1 op: 1 done, 0 failed"
        await pilot.press("left")  # folds the job
        assert not envelope.children[0].is_expanded and tree.cursor_node is envelope.children[0]
        await pilot.press("left")  # back to the envelope
        assert tree.cursor_node is envelope
        await pilot.press("left")  # folds it
        assert not envelope.is_expanded
        await pilot.press("enter")
        assert envelope.is_expanded
        assert monitor(pilot).tree_envelope_id == envelope_id
        # A key that reads a job, on the envelope's own line, says so (it said "No envelope selected").
        await pilot.press("u")
        said = "That key reads a job: move to one of the envelope's jobs"
        await until(pilot, lambda: said in messages(pilot), "the hint")


async def test_the_tree_follows_the_engine_without_a_restart(
    store: Store, actions: Actions, tmp_path: Path
) -> None:
    envelope_id, _jobs = submit_envelope(actions, tmp_path / "r1", "r1", {"a": "true", "b": "true"})
    async with app_for(store).run_test(size=SIZE) as pilot:
        tree = await open_envelopes(pilot)
        envelope = tree.root.children[0]
        assert label_of(envelope).startswith(f"▶ #{envelope_id} r1  Success, active")
        await pilot.press("space", "right")
        cursor = tree.cursor_node
        EnvelopeActions(actions).cancel(envelope_id, "not today")
        await until(
            pilot, lambda: "Canceled · payments · 2 jobs" in label_of(envelope), "the cancelled envelope"
        )
        assert "Canceled" in label_of(envelope.children[0])
        # Updated in place: the cursor and what was unfolded stay where they were.
        assert tree.cursor_node is cursor and envelope.is_expanded
        other_id, _ = submit_envelope(actions, tmp_path / "r2", "r2", {"c": "true"})
        await until(pilot, lambda: len(tree.root.children) == 3, "the new envelope")
        assert label_of(tree.root.children[0]).startswith(f"▶ #{other_id} r2")
        assert tree.cursor_node is cursor
        await pilot.press("n")
        await until(pilot, lambda: isinstance(pilot.app.screen, NotificationsScreen), "the notifications")
        assert any("cancelled by tester: not today" in line for line in note_lines(pilot))


def note_lines(pilot: Pilot[int]) -> list[str]:
    """The popup's rows as read: time, level, text."""
    screen = pilot.app.screen
    return [
        "  ".join(str(cell.content) for cell in row.query(Static)) for row in screen.query(".note").results()
    ]


async def test_b_on_an_envelope_asks_for_a_reason_and_refuses_an_older_one_naming_the_newer(
    store: Store, actions: Actions, engine: Engine, tmp_path: Path
) -> None:
    envelopes = EnvelopeActions(actions)
    older, older_jobs = submit_envelope(actions, tmp_path / "r1", "r1", {"one": "true"})
    newer, newer_jobs = submit_envelope(actions, tmp_path / "r2", "r2", {"two": "true", "three": "true"})
    run_until_ended(engine, *older_jobs, *newer_jobs)
    async with app_for(store).run_test(size=SIZE) as pilot:
        tree = await open_envelopes(pilot)
        screen = monitor(pilot)
        await until(pilot, lambda: screen.check_action("rollback", ()) is True, "b enabled on r2")
        await pilot.press("down")  # r2 is folded: the next line is r1
        await until(pilot, lambda: screen.tree_envelope_id == older, "the cursor on r1")
        await until(pilot, lambda: screen.check_action("rollback", ()) is None, "b dimmed on r1")
        await pilot.press("b")
        await until(pilot, lambda: any("is newer" in m for m in messages(pilot)), "the refusal")
        assert any(
            f"envelope {newer} (r2) of project payments is newer and not rolled back; roll it back first" in m
            for m in messages(pilot)
        )
        assert pilot.app.screen is screen  # no dialog: nothing to confirm
        # Titled as every other refusal is.
        assert [n.title for n in pilot.app._notifications if "is newer" in n.message] == [
            "Not allowed: Roll back envelope"
        ]
        assert envelopes.detail(older)["rollback_job"] is None
        # On a job of r2, `b` rolls back its envelope.
        await pilot.press("up", "space", "down")
        assert tree.cursor_node is not None and tree.cursor_node.data is not None
        assert tree.cursor_node.data["job_id"] == newer_jobs[0]
        await until(pilot, lambda: screen.check_action("rollback", ()) is True, "b enabled on r2's job")
        await pilot.press("b")
        await until(pilot, lambda: isinstance(pilot.app.screen, ReasonDialog), "the reason dialog")
        dialog = pilot.app.screen
        assert f"Envelope #{newer} · r2" in "\n".join(str(w.content) for w in dialog.query(Static))
        await pilot.press("enter")  # a blank reason is refused in the dialog
        await pilot.pause(0.1)
        assert pilot.app.screen is dialog and envelopes.detail(newer)["rollback_job"] is None
        await pilot.press(*"bad release", "enter")
        await until(pilot, lambda: envelopes.detail(newer)["rollback_job"] is not None, "the rollback job")
        texts = [n["text"] for n in envelopes.detail(newer)["notifications"]]
        assert "rollback started by tester: bad release" in texts
        await until(pilot, lambda: any(f"envelope #{newer} queued" in m for m in messages(pilot)))
        # The rollback job shows up last in r2's chain.
        r2 = tree.root.children[0]
        await until(pilot, lambda: len(r2.children) == 3, "the rollback job in the tree")
        assert label_of(r2.children[-1]).startswith("#") and "rollback r2" in label_of(r2.children[-1])
    # The refusal is recorded as `jobtui envelope-rollback`'s is (it was only said).
    assert [
        (row["action"], row["who"])
        for row in audit_json(store, 0)
        if row["refused"] and "is newer" in (row["comment"] or "")
    ] == [("envelope-rollback", "tester")]
    rollback_job = envelopes.detail(newer)["rollback_job"]
    run_until_status(engine, rollback_job, "ROLLEDBACK")
    assert envelopes.detail(newer)["status"] == "ROLLEDBACK"
    assert envelopes.detail(older)["rollback_job"] is None


async def test_c_on_an_envelope_s_line_cancels_the_envelope_and_on_one_of_its_jobs_the_job(
    store: Store, actions: Actions, engine: Engine, tmp_path: Path
) -> None:
    """QA: `b` told the operator to "wait for them or cancel the envelope", yet the dashboard had no way to:
    `c` said "No job selected" on an envelope. On an envelope's own line `c` reads "Cancel envelope", asks
    (with an optional comment) and runs `jobtui envelope-cancel`'s service call; refused where that verb
    is (an ended envelope), dimmed, with the reason, audited as the verb's refusal; on a job it cancels the
    job."""
    envelopes = EnvelopeActions(actions)
    done_id, done_jobs = submit_envelope(actions, tmp_path / "r1", "r1", {"one": "true"})
    run_until_ended(engine, *done_jobs)
    live_id, live_jobs = submit_envelope(actions, tmp_path / "r2", "r2", {"two": "true", "three": "true"})
    assert [status_of(store, job) for job in live_jobs] == ["READY", "READY"]
    async with app_for(store).run_test(size=SIZE) as pilot:
        tree = await open_envelopes(pilot)
        screen = monitor(pilot)

        def c_key() -> str:
            return screen.active_bindings["c"].binding.description

        # The newest envelope, r2, is under the cursor, on its own line.
        assert screen.tree_envelope_id == live_id and screen.tree_job_id is None
        await until(pilot, lambda: screen.check_action("cancel", ()) is True, "c enabled on r2")
        assert c_key() == "Cancel envelope"
        palette = {command.title: command for command in screen.palette_commands()}
        assert palette["Cancel envelope (c)"].refusal is None
        # On one of its jobs, `c` is the job's cancel again, as in the jobs view.
        await pilot.press("space", "down")
        assert screen.tree_job_id == live_jobs[0]
        await until(pilot, lambda: c_key() == "Cancel", "c worded for the job")
        await until(pilot, lambda: screen.check_action("cancel", ()) is True, "the job's cancel")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "the job's confirmation")
        shown = "\n".join(str(w.content) for w in pilot.app.screen.query(Static))
        assert f"Job #{live_jobs[0]} · two" in shown
        await pilot.press("escape")
        await until(pilot, lambda: pilot.app.screen is screen, "the monitor again")
        # Back on the envelope's line: cancel it, with a comment.
        await pilot.press("up")
        await until(pilot, lambda: c_key() == "Cancel envelope", "c worded for the envelope again")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "the envelope's confirmation")
        dialog = pilot.app.screen
        shown = "\n".join(str(w.content) for w in dialog.query(Static))
        assert f"Envelope #{live_id} · r2" in shown and "Cancel this envelope?" in shown
        await pilot.press("c", *"not today", "enter")
        await until(pilot, lambda: envelopes.detail(live_id)["status"] == "CANCELLED", "the cancel")
        assert [status_of(store, job) for job in live_jobs] == ["CANCELED", "CANCELED"]
        assert envelopes.detail(live_id)["reason"] == "cancelled by tester: not today"
        await until(pilot, lambda: any(f"Envelope #{live_id} canceled: 2 jobs" in m for m in messages(pilot)))
        # Cancelled, it may not be cancelled again: dimmed, and pressed, refused as the CLI refuses it.
        await until(pilot, lambda: screen.check_action("cancel", ()) is None, "c dimmed on r2")
        await pilot.press("c")
        said = f"envelope-cancel: envelope {live_id} is CANCELLED"
        await until(pilot, lambda: said in messages(pilot), "the refusal")
        assert [n.title for n in pilot.app._notifications if n.message == said] == [
            "Not allowed: Cancel envelope"
        ]
        assert pilot.app.screen is screen  # nothing asked
        # An envelope that ended: nothing left to cancel, the palette says so too.
        tree.move_cursor(tree.root.children[1])
        await until(pilot, lambda: screen.tree_envelope_id == done_id, "the cursor on r1")
        await until(pilot, lambda: screen.check_action("cancel", ()) is None, "c dimmed on r1")
        ended = f"envelope-cancel: envelope {done_id} ended SUCCESS: nothing left to cancel"
        palette = {command.title: command for command in screen.palette_commands()}
        assert palette["Cancel envelope (c)"].refusal == ended
        await pilot.press("c")
        await until(pilot, lambda: ended in messages(pilot), "the refusal of the ended envelope")
    trail = [
        (row["action"], row["comment"])
        for row in audit_json(store, 0)
        if row["refused"] and row["action"] == "envelope-cancel"
    ]
    assert trail == [("envelope-cancel", said), ("envelope-cancel", ended)]
    assert envelopes.detail(done_id)["status"] == "SUCCESS"


async def test_a_job_its_envelope_s_chain_holds_reads_chain_in_waiting_not_a_count(
    store: Store, actions: Actions, engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    """QA: a job waiting for the job before it in its envelope read "○ Ready" with Waiting counting up
    (1, 2, ... 27s), as if it could start any moment (seed 001's Ready). Its status stays READY; Waiting
    says "chain", the pane's reason names the job, and the needs-attention view leaves it out, until the
    chain releases it."""
    from jobtui.widgets.job_table import COLUMNS

    _envelope, (first, second) = submit_envelope(
        actions, tmp_path, "release-3", {"build": "true", "ship": "true"}
    )
    wait = next(column for column in COLUMNS if column.key == "wait")

    async with app_for(store).run_test(size=SIZE) as pilot:
        screen = monitor(pilot)
        table = screen.query_one(JobTable)

        def waiting(job_id: int) -> str:
            row = next(r for r in (table.row_at(i) for i in range(table.total)) if r and r.id == job_id)
            return str(wait.cell(row, "en", "UTC", table.now))

        await until(pilot, lambda: table.total == 2, "the two jobs")
        clock.advance(27)
        await until(pilot, lambda: waiting(first) == "27s", "the released job's wait to count")
        assert waiting(second) == "chain"
        assert status_of(store, second) == "READY"
        await until(pilot, lambda: " chain " in painted(screen)[0], "chain on screen")
        await select_job(pilot, second)
        info = str(screen.query_one("#detail-info", Static).render())
        assert f"waits for job {first} of envelope release-3" in info
        await pilot.press("exclamation_mark")  # what needs a person: not a job its chain holds
        await until(pilot, lambda: table.total == 0, "the needs-attention view, empty")
        await pilot.press("exclamation_mark")
        await until(pilot, lambda: table.total == 2, "every job again")
        run_until_status(engine, first, "FINISHED")  # the chain releases the second (the engine may run it)
        await until(pilot, lambda: waiting(second) != "chain", "the released job's row")


async def test_n_shows_the_notifications_of_the_envelope(
    store: Store, submit: Submit, actions: Actions, engine: Engine, tmp_path: Path
) -> None:
    envelope_id, ids = submit_envelope(
        actions, tmp_path / "r9", "r9", {"build": "true", "deploy": "false", "smoke": "true"}
    )
    loose = submit(simple("loose"))
    run_until_ended(engine, *ids, loose)
    async with app_for(store).run_test(size=SIZE) as pilot:
        # The jobs view: the selected job's envelope (loose is the newest job, on top).
        await select_job(pilot, loose)
        await pilot.press("n")
        await until(pilot, lambda: f"job {loose} is not in an envelope" in messages(pilot))
        assert pilot.app.screen is monitor(pilot)
        await select_job(pilot, ids[1])
        await pilot.press("n")
        await until(pilot, lambda: isinstance(pilot.app.screen, NotificationsScreen), "the notifications")
        lines = note_lines(pilot)
        assert lines[0] == "2026-11-23 10:00:00  info  envelope r9 submitted by tester"
        failed = f"2026-11-23 10:00:00  error  job {ids[1]} (deploy) ended ERROR"
        assert any(line.startswith(failed) for line in lines)
        assert lines[-1].endswith("envelope r9 finished: ERRORS")
        error = pilot.app.screen.query(".note-level.level-error").first(Static)
        assert str(error.content) == "error"
        await pilot.press("escape")
        await until(pilot, lambda: pilot.app.screen is monitor(pilot), "the monitor again")
        # The envelopes view: the envelope under the cursor.
        await open_envelopes(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(pilot.app.screen, NotificationsScreen), "the notifications")
        assert note_lines(pilot) == lines
        assert f"envelope #{envelope_id} r9" in str(
            pilot.app.screen.query_one(".dialog-title", Static).content
        )


@pytest.mark.parametrize(
    ("lang", "jobs_b", "envelopes_b", "n"),
    [
        ("en", "Rollback", "Roll back envelope", "Notifications"),
        ("es", "Rollback", "Rollback del sobre", "Notificaciones"),
    ],
)
async def test_the_footer_and_help_say_what_b_and_n_do_in_each_view(
    store: Store, lang: str, jobs_b: str, envelopes_b: str, n: str
) -> None:
    async with app_for(store, lang=lang).run_test(size=SIZE) as pilot:
        screen = monitor(pilot)
        await pilot.pause(0.1)

        def footer() -> dict[str, str]:
            return {key: screen.active_bindings[key].binding.description for key in ("b", "n")}

        assert footer() == {"b": jobs_b, "n": n}
        await open_envelopes(pilot)
        assert footer() == {"b": envelopes_b, "n": n}
        await pilot.press("1")
        assert footer() == {"b": jobs_b, "n": n}
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "the help screen")
        help_screen = pilot.app.screen
        assert isinstance(help_screen, HelpScreen)
        rows = dict(help_screen.bindings)
        assert rows["b"] == BY_ID["rollback"].description_in(lang)
        assert rows["n"] == BY_ID["notifications"].description_in(lang)


async def test_system_jobs_are_hidden_until_S_shows_them(store: Store, submit: Submit) -> None:
    visible = submit(simple("visible"))
    hidden = submit(simple("cert-refresh", "system = true"))
    async with app_for(store).run_test(size=SIZE) as pilot:
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: table.total == 1, "one row")
        assert table.selected_job_id() == visible
        await pilot.press("S")
        await until(pilot, lambda: table.total == 2, "the system job too")
        assert table.selected_job_id() in (visible, hidden)
        await pilot.press("S")
        await until(pilot, lambda: table.total == 1, "the system job hidden again")


async def test_a_held_down_key_carries_the_cursor_past_the_fetched_rows(store: Store) -> None:
    """Keys arrive faster than windows are read: the table scrolls with the cursor, a read begun before
    the latest keys never pulls the cursor back, and the rows and the detail catch up."""
    from jobtui.demo.bulk import bulk_load

    bulk_load(store, 400, seed=3)
    async with app_for(store).run_test(size=SIZE) as pilot:
        screen = monitor(pilot)
        table = screen.query_one(JobTable)
        await until(pilot, lambda: screen.first_paint_at is not None and table.total > 0, "the first rows")
        target = 250  # past the first window (three screens of rows)
        for n in range(target):
            pilot.app.simulate_key("down")  # as a terminal repeats a held key: no waiting for the screen
            if n % 25 == 0:
                await pilot.pause(0.02)  # reads finish in between, some begun before the latest keys
        await until(pilot, lambda: table.cursor == target and table.row_at(target) is not None, "the row")
        assert table.scroll_y <= target < table.scroll_y + table.rows_visible
        row = table.row_at(target)
        assert row is not None
        await until(pilot, lambda: shown_job(pilot) == row.id, "the detail of the row under the cursor")
        assert table.cursor == target


async def test_a_long_target_keeps_the_steps_title_to_one_line_ending_in_an_ellipsis(
    store: Store, submit: Submit
) -> None:
    """A pane title is one line: a target longer than the pane ends in "…" rather than wrapping onto the
    lines of the steps table below it."""
    target = "edge-router-" + "x" * 300
    job_id = submit(simple("long-target", f'targets = ["{target}"]'), at="+1h")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        title = monitor(pilot).query_one("#steps-title", Label)
        await until(pilot, lambda: "edge-router-" in str(title.render()), "the target in the steps title")
        await pilot.pause()
        region = title.region
        assert region.height == 1
        lines = painted(pilot.app.screen)[0].splitlines()
        shown = lines[region.y][region.x : region.right]
        assert "edge-router-xxx" in shown and shown.rstrip().endswith("…"), shown
        assert "xxx" not in lines[region.y + 1][region.x : region.right], "the title wrapped"
