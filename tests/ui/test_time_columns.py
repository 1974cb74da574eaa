"""Time on screen: Elapsed (running) / how long it took (ended), Waiting (queued and ready), moving with the
clock; a running op's time set against its last run's (an ETA) or its timeout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from textual.widgets import DataTable

from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.read.listing import JobRow
from jobtui.engine.service.actions import Actions
from jobtui.engine.worker.loop import Engine
from jobtui.widgets.detail import DetailPane
from jobtui.widgets.job_table import COLUMNS, JobTable, elapsed_text, wait_text
from tests.support.ops_running import wait_op_started
from tests.support.pilot import app_for, monitor, run_until_ended, select_job, simple, until

Submit = Callable[..., int]
SIZE = (200, 40)


def cell(table: JobTable, job_id: int, key: str) -> str:
    """What the table shows in column `key` of job `job_id`'s row."""
    for index in range(table.total):
        row = table.row_at(index)
        if row is not None and row.id == job_id:
            column = next(c for c in COLUMNS if c.key == key)
            return str(column.cell(row, "en", "UTC", table.now)).strip()
    raise AssertionError(f"job {job_id} is not in the table")


def took_of(pilot: object, op: str) -> str:
    steps = monitor(pilot).query_one(DetailPane).query_one("#steps-table", DataTable)  # type: ignore[arg-type]
    for key in steps.rows:
        row = steps.get_row(key)
        if str(row[0]) == op:
            return str(row[3])
    return ""


async def test_elapsed_and_waiting_move_with_the_clock_and_a_running_op_shows_its_eta(
    store: Store, submit: Submit, actions: Actions, engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    wait = f"while [ ! -f {gate} ]; do sleep 0.02; done"
    nightly = f'name = "nightly"\n[[run]]\nname = "backup"\nrun = "{wait}"\n'
    first = submit(nightly)
    wait_op_started(engine, store, first)
    clock.advance(40)  # the first night's backup takes 40 s
    gate.touch()
    run_until_ended(engine, first)
    gate.unlink()
    second = submit(nightly)
    wait_op_started(engine, store, second)
    actions.queue_pause("maintenance")
    queued = submit(simple("queued"))  # ready now, held by the paused queue

    async with app_for(store).run_test(size=SIZE) as pilot:
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: table.total == 3, "the three jobs")
        assert cell(table, first, "elapsed") == "40s"  # ended: how long it took
        assert cell(table, second, "elapsed") == "0s\u2026"  # running: so far
        assert cell(table, queued, "wait") == "0s" and cell(table, queued, "elapsed") == ""
        assert cell(table, second, "wait") == ""
        await select_job(pilot, second)
        await until(pilot, lambda: took_of(pilot, "backup") == "0s\u2026 of ~40s", "the op's ETA")

        clock.advance(90)  # no job changes: only the clock moves, and the screen with it
        await until(pilot, lambda: cell(table, second, "elapsed") == "1m30s\u2026", "elapsed to move")
        assert cell(table, queued, "wait") == "1m30s"
        assert cell(table, first, "elapsed") == "40s"
        await until(pilot, lambda: took_of(pilot, "backup") == "1m30s\u2026 of ~40s", "the op's time to move")
        drawn = pilot.app.export_screenshot()
        assert "1m30s\u2026" in drawn
    gate.touch()


async def test_an_op_run_for_the_first_time_shows_its_time_against_its_timeout(
    store: Store, submit: Submit, engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    job_id = submit(
        f'name = "first-time"\n[[run]]\nname = "migrate"\ntimeout = "5m"\n'
        f'run = "while [ ! -f {gate} ]; do sleep 0.02; done"\n'
    )
    wait_op_started(engine, store, job_id)
    clock.advance(12)
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await until(pilot, lambda: took_of(pilot, "migrate") == "12s\u2026 of 5m max", "the time and timeout")
    gate.touch()


def _row(
    name: str, status: str, started: datetime, status_since: datetime, due_at: datetime | None
) -> JobRow:
    """A listing row of a job in RUN, half done, started (and scheduled) at `started`."""
    return JobRow(
        id=1,
        name=name,
        type="job",
        project="default",
        status=status,
        step="RUN",
        progress=50,
        natures=(),
        scheduled_at=started,
        max_start_at=None,
        started_at=started,
        ended_at=None,
        owner="tester",
        envelope_id=None,
        seq=1,
        status_since=status_since,
        due_at=due_at,
    )


def test_a_job_waiting_for_a_failed_task_s_next_attempt_is_not_counted_as_waiting() -> None:
    """It is not due until then: Waiting counted from its last failed attempt, as if no worker came."""
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    row = _row(
        "flaky-sync",
        "READY",
        started=now - timedelta(minutes=10),
        status_since=now - timedelta(seconds=16),  # its last attempt failed then
        due_at=now + timedelta(seconds=4),  # the next one
    )
    assert wait_text(row, now) == ""
    assert wait_text(row, now + timedelta(seconds=34)) == "30s"  # due, and no worker has taken it


def test_a_long_elapsed_fits_its_column_in_its_two_largest_units() -> None:
    """Found by an operator: at 50,000 jobs the table's Elapsed read `89d23h1m4…`, a number cut in two."""
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    started = now - timedelta(days=89, hours=23, minutes=1, seconds=4)
    row = _row("long-haul", "RUNNING", started=started, status_since=started, due_at=None)
    assert elapsed_text(row, now) == "89d23h\u2026"
    finished = replace(row, status="FINISHED", ended_at=now)
    assert elapsed_text(finished, now) == "89d23h"
