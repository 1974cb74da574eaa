"""The dashboard, driven through its keys with Textual's pilot against a real database and engine."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pendulum
import pytest
from sqlmodel import select
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from jobtui.app import JobtuiApp
from jobtui.engine.actions import Actions
from jobtui.engine.models import Task
from jobtui.engine.permissions import Actor
from jobtui.engine.scheduler import Engine
from jobtui.engine.store import Store
from jobtui.screens.monitor import MonitorScreen
from jobtui.widgets.detail import DetailPane, days_text, schedule_text
from jobtui.widgets.job_table import JobTable
from jobtui.widgets.statusbar import StatusBar
from tests.conftest import run_until_status, status_of

Submit = Callable[..., int]
SIZE = (160, 48)


def app_for(store: Store, **kwargs: object) -> JobtuiApp:
    # The test drives its own engine, so the app never embeds one.
    return JobtuiApp(store, Actor("tester"), embedded=False, tz="UTC", **kwargs)  # type: ignore[arg-type]


def monitor(pilot: Pilot[int]) -> MonitorScreen:
    screen = pilot.app.screen_stack[1]
    assert isinstance(screen, MonitorScreen)
    return screen


async def until(pilot: Pilot[int], predicate: Callable[[], bool], what: str = "the screen") -> None:
    """Let the app's refresh loop run until the screen shows what the test expects."""
    for _ in range(200):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def shown_job(pilot: Pilot[int]) -> int | None:
    detail = monitor(pilot).query_one(DetailPane).detail
    return None if detail is None else int(detail.job["id"])


async def select_job(pilot: Pilot[int], job_id: int) -> None:
    table = monitor(pilot).query_one(JobTable)
    await until(pilot, lambda: table.total > 0, "rows")
    for _ in range(table.total):
        if table.selected_job_id() == job_id:
            break
        await pilot.press("down")
    await until(pilot, lambda: shown_job(pilot) == job_id, f"job {job_id} in the detail pane")


def simple(name: str = "j", extra: str = "") -> str:
    return f'name = "{name}"\n{extra}\n[[run]]\nrun = "echo hello from {name}"\n'


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
        detail = monitor(pilot).query_one(DetailPane).detail
        assert detail is not None and detail.job["status"] == "FINISHED"
        assert "hello from alpha" in detail.log_chunk


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


async def test_approve_key_approves_the_job_in_the_detail_pane(
    store: Store, submit: Submit, engine: Engine
) -> None:
    job_id = submit(simple("needs-ok", "approval = true"))
    run_until_status(engine, job_id, "APPROVAL")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await until(pilot, lambda: monitor(pilot).check_action("approve", ()) is True, "approve enabled")
        await pilot.press("a")
        await until(pilot, lambda: status_of(store, job_id) == "READY", "approval")
    run_until_status(engine, job_id, "FINISHED")


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
        await pilot.press("enter")
        await until(pilot, lambda: status_of(store, job_id) == "READY", "the rerun")
    from tests.conftest import job_of

    assert job_of(store, job_id).exec == 2


async def test_reschedule_dialog_parses_relative_dates(store: Store, submit: Submit) -> None:
    job_id = submit(simple(), at="+1h")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await until(pilot, lambda: monitor(pilot).check_action("reschedule", ()) is True)
        await pilot.press("s")
        await until(pilot, lambda: pilot.app.screen is not monitor(pilot))
        await pilot.press(*"+3h", "enter")
        from tests.conftest import job_of

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
        await pilot.press("p")
        await until(pilot, lambda: status_of(store, paused) == "TRAP_PAUSED", "trap pause")
        await select_job(pilot, trapped)
        await until(pilot, lambda: monitor(pilot).check_action("trap", ()) is True)
        await pilot.press("t")
        await until(pilot, lambda: pilot.app.screen is not monitor(pilot))
        await pilot.press("s")
        await until(pilot, lambda: status_of(store, trapped) == "READY", "trap skip")
    run_until_status(engine, trapped, "FINISHED")


async def test_rollback_asks_for_a_reason(store: Store, submit: Submit, engine: Engine) -> None:
    job_id = submit('name = "r"\n[[run]]\nrun = "true"\nrollback = "true"\n')
    run_until_status(engine, job_id, "FINISHED")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await until(pilot, lambda: monitor(pilot).check_action("rollback", ()) is True)
        await pilot.press("b")
        await until(pilot, lambda: pilot.app.screen is not monitor(pilot))
        await pilot.press(*"bad release", "enter")
        await until(pilot, lambda: status_of(store, job_id) == "ROLLBACK", "the rollback")
        steps = monitor(pilot).query_one("#steps-table", DataTable)
        await until(pilot, lambda: steps.row_count > 1, "the rollback op in the steps table")
        await pilot.pause(0.2)
        # The rollback of the task's op is listed once, not again as a job-wide op.
        assert [steps.get_row_at(i)[:2] for i in range(steps.row_count)] == [
            ["run-1", "RUN"],
            ["rollback run-1", "ROLLBACK"],
        ]
    from jobtui.engine.views import audit_json

    assert any(r["action"] == "rollback" and r["comment"] == "bad release" for r in audit_json(store, job_id))


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
    from tests.test_supervision import wait_op_started

    wait_op_started(engine, store, job_id)  # no engine runs after this: the database stands still
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        log = monitor(pilot).query_one(DetailPane).query_one("#log-tail")
        await until(pilot, lambda: "first-line" in "\n".join(log.lines), "the first output")  # type: ignore[attr-defined]
        gate.touch()
        await until(pilot, lambda: "second-line" in "\n".join(log.lines), "output without a DB change")  # type: ignore[attr-defined]


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
    table = monitor(pilot).query_one("#tasks-table", DataTable)
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


async def test_a_fire_and_forget_job_shows_rescheduled_tasks_with_attempts_and_next_attempt(
    store: Store, submit: Submit, engine: Engine
) -> None:
    job_id = submit(
        'name = "push-config"\ntargets = ["a", "b"]\n[schedule]\nmode = "now"\nretry_every = "5m"\n'
        '[[run]]\nrun = "exit 1"\nper_target = true\n'
    )

    def both_rescheduled() -> bool:
        with store.read() as s:
            tasks = s.exec(select(Task).where(Task.job_id == job_id)).all()
        return len(tasks) == 2 and all(task.status == "RESCHEDULED" for task in tasks)

    engine.run_until(lambda: both_rescheduled() and not engine.busy)
    # Wide enough that the tasks table shows the columns up to "Last triggered" without scrolling.
    async with app_for(store).run_test(size=(240, 48)) as pilot:
        await select_job(pilot, job_id)
        # Read at once: cells wider than their header must not be cut while the table settles.
        header, *rows = task_lines(pilot)
        assert header.startswith("Target Status Attempts Next attempt Last triggered")
        assert [row[: row.index(" ago")] for row in rows] == [
            "a RESCHEDULED 1 11-23 10:05:00 (in 5 min) 0 s",
            "b RESCHEDULED 1 11-23 10:05:00 (in 5 min) 0 s",
        ]
        text = await settled_info(pilot)
        assert "Next run 2026-11-23 10:05:00 (in 5 min)" in text
        assert "Fire-and-forget · retry every 5m until 2026-11-23 10:30 (in 30 min)" in text


async def test_a_replaced_job_names_the_job_that_replaced_it(store: Store, submit: Submit) -> None:
    text = 'name = "sync"\n[schedule]\nat = "+1h"\n[[run]]\nrun = "true"\n'
    old = submit(text)
    new = submit(text, keep=False)
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, old)
        text = await settled_info(pilot)
        assert f"Replaced by job {new}" in text
        # A classic job's schedule is one short line, not a block of dashes.
        assert "Schedule: now · no retries" in text


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
    assert schedule_text(classic, now, "UTC", "en") == "Schedule: now · no retries"
    no_retry = {**base, "mode": "now", "expires": expires, "retry_every": "0s"}
    assert schedule_text(no_retry, now, "UTC", "en") == (
        "Fire-and-forget · no retries · expires 2026-11-23 10:30 (in 30 min)"
    )
    all_day = {**base, "mode": "window", "days": ["sat", "sun"], "expires": expires, "retry_every": "0s"}
    assert schedule_text(all_day, now, "UTC", "en") == (
        "Window all day sat, sun (UTC) · expires 2026-11-23 10:30 (in 30 min)"
    )
    assert schedule_text(all_day, now, "UTC", "es") == (
        "Ventana todo el día sat, sun (UTC) · expira 2026-11-23 10:30 (in 30 min)"
    )
