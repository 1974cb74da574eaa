"""Seed 003 schedules on the real engine: fire-and-forget retries until expiry, windows (crossing midnight,
weekdays, closing mid-run, daylight saving), end status from tasks, replacement. The clock is injected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
import pytest
from sqlalchemy import select

from jobtui.engine.db.models import AuditEvent, Job, Task
from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.definitions import DefinitionError
from jobtui.engine.domain.states import Status, TaskStatus
from jobtui.engine.service.actions import Actions
from jobtui.engine.service.views import job_detail_json
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import definition, job_of, run_until_status

# The engine behaves the same on both backends (several hosts share PostgreSQL).
BACKENDS = ("sqlite", "postgresql")

UTC = "UTC"


def tasks_of(store: Store, job_id: int) -> dict[str, Task]:
    with store.read() as s:
        return {t.target: t for t in s.scalars(select(Task).where(Task.job_id == job_id))}


def transitions(store: Store, job_id: int) -> list[tuple[str | None, str | None]]:
    with store.read() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.job_id == job_id).order_by(AuditEvent.id))
        return [(r.from_status, r.to_status) for r in rows if r.from_status != r.to_status]


def detail(store: Store, job_id: int) -> dict[str, object]:
    with store.read() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job_detail_json(job, s, store.now())


def task_steps(store: Store, job_id: int) -> dict[tuple[str, str], str]:
    """Each task's ops' statuses, by (target, op name)."""
    tasks: Any = detail(store, job_id)["tasks"]
    return {(task["target"], step["name"]): step["status"] for task in tasks for step in task["steps"]}


def utc(*args: int) -> pendulum.DateTime:
    return pendulum.datetime(*args, tz=UTC)


def counter_op(path: Path, failures: int) -> str:
    """A shell op that fails its first `failures` runs (counted in a file), then succeeds."""
    return f'n=$(cat {path} 2>/dev/null || echo 0); echo $((n+1)) > {path}; [ "$n" -ge {failures} ]'


def wait_released(engine: Engine, job_id: int) -> Job:
    """Drive the engine until it lets go of the job (waiting for a retry or a window, or ended)."""
    engine.run_until(lambda: job_of(engine.store, job_id).worker_id is None and not engine.busy)
    return job_of(engine.store, job_id)


# -- fire and forget ----------------------------------------------------------------------------------


def test_failing_task_is_retried_every_5_minutes_until_the_30_minute_expiry(
    actions: Actions, engine: Engine, clock: FakeClock, store: Store
) -> None:
    job_id = actions.submit(
        definition(
            """
            name = "flaky"
            targets = ["dev-1"]
            [schedule]
            mode = "now"
            [[run]]
            name = "push"
            run = "exit 3"
            per_target = true
            """
        )
    )
    attempts_at: list[pendulum.DateTime] = []
    while True:
        job = wait_released(engine, job_id)
        task = tasks_of(store, job_id)["dev-1"]
        if job.status != Status.READY:
            break
        attempts_at.append(clock.now())
        # Between attempts: the task says when it is tried next, and the job is due exactly then.
        assert task.status == TaskStatus.RESCHEDULED
        assert task.next_attempt_at == clock.now().add(minutes=5)
        assert job.due_at == task.next_attempt_at
        assert task.attempts == len(attempts_at)
        clock.set(pendulum.instance(task.next_attempt_at))
    start = utc(2026, 11, 23, 10, 0)
    # 10:00, :05, :10, :15, :20 rescheduled; the 10:25 attempt fails for good (10:30 is the expiry).
    assert attempts_at == [start.add(minutes=m) for m in (0, 5, 10, 15, 20)]
    assert clock.now() == start.add(minutes=25)
    assert job.status == Status.ERROR
    assert task.status == TaskStatus.FAILED and task.attempts == 6 and task.next_attempt_at is None
    assert job.expires_at == start.add(minutes=30)


def test_a_task_that_succeeds_on_its_third_attempt_finishes_the_job(
    actions: Actions, engine: Engine, clock: FakeClock, store: Store, tmp_path: Path
) -> None:
    job_id = actions.submit(
        definition(
            f"""
            name = "flaky"
            [schedule]
            retry_every = "2m"
            [[run]]
            name = "push"
            run = '{counter_op(tmp_path / "count", failures=2)}'
            [[post]]
            name = "notify"
            run = "true"
            """
        )
    )
    for _ in range(2):
        job = wait_released(engine, job_id)
        assert job.status == Status.READY
        (task,) = tasks_of(store, job_id).values()
        assert task.status == TaskStatus.RESCHEDULED
        clock.advance(120)
    job = run_until_status(engine, job_id, Status.FINISHED, Status.ERROR)
    (task,) = tasks_of(store, job_id).values()
    assert job.status == Status.FINISHED
    assert (task.status, task.attempts) == (TaskStatus.SUCCEEDED, 3)
    steps = detail(store, job_id)["tasks"][0]["steps"]  # type: ignore[index]
    assert [(s["name"], s["status"]) for s in steps] == [("push", "done"), ("notify", "done")]


def test_retry_every_0_fails_at_once(actions: Actions, engine: Engine, store: Store) -> None:
    job_id = actions.submit(
        definition(
            """
            name = "once"
            [schedule]
            retry_every = "0"
            [[run]]
            run = "exit 1"
            """
        )
    )
    job = run_until_status(engine, job_id, Status.ERROR, Status.READY)
    assert job.status == Status.ERROR


def test_a_job_without_a_seed_003_schedule_keeps_failing_at_once(actions: Actions, engine: Engine) -> None:
    job_id = actions.submit(definition('name = "classic"\n[[run]]\nrun = "exit 1"\n'))
    assert run_until_status(engine, job_id, Status.ERROR, Status.READY).status == Status.ERROR


@pytest.mark.parametrize(
    ("failing", "expected"),
    [("", Status.FINISHED), ("b", Status.PARTIAL), ("a b c", Status.ERROR)],
)
def test_end_status_comes_from_the_tasks(
    failing: str, expected: Status, actions: Actions, engine: Engine, store: Store
) -> None:
    job_id = actions.submit(
        definition(
            f"""
            name = "fan-out"
            targets = ["a", "b", "c"]
            [schedule]
            retry_every = "0"
            [[run]]
            name = "deploy"
            run = 'case " {failing} " in *" $JOBTUI_TARGET "*) exit 1;; esac'
            per_target = true
            """
        )
    )
    job = run_until_status(engine, job_id, Status.FINISHED, Status.PARTIAL, Status.ERROR)
    assert job.status == expected
    statuses = {target: task.status for target, task in tasks_of(store, job_id).items()}
    assert statuses == {
        t: (TaskStatus.FAILED if t in failing.split() else TaskStatus.SUCCEEDED) for t in "abc"
    }


def test_one_rescheduled_task_waits_while_the_others_go_on_then_partial_at_expiry(
    actions: Actions, engine: Engine, clock: FakeClock, store: Store
) -> None:
    job_id = actions.submit(
        definition(
            """
            name = "fan-out"
            targets = ["a", "b"]
            [schedule]
            expires = "+12m"
            retry_every = "5m"
            [[run]]
            name = "deploy"
            run = '[ "$JOBTUI_TARGET" = a ]'
            per_target = true
            [[run]]
            name = "verify"
            run = "true"
            per_target = true
            [[post]]
            name = "report"
            run = "true"
            """
        )
    )
    job = wait_released(engine, job_id)
    tasks = tasks_of(store, job_id)
    assert job.status == Status.READY
    # a walked all its ops: done, whatever the job waits for (it read "Scheduled", promising a run); b
    # waits for its next attempt, none of its ops done yet (its failed attempt is not progress).
    assert (tasks["a"].status, tasks["a"].progress) == (TaskStatus.SUCCEEDED, 100)
    assert (tasks["b"].status, tasks["b"].progress) == (TaskStatus.RESCHEDULED, 0)
    shown = detail(store, job_id)
    steps = {s["name"]: s["status"] for s in shown["tasks"][1]["steps"]}  # type: ignore[index]
    assert steps == {"deploy": "failed", "verify": "pending"}, "b's verify waits for b's deploy"
    assert [(s["name"], s["status"]) for s in shown["steps"]] == [("report", "pending")]  # type: ignore[index]
    clock.advance(310)  # 10:05:10: second attempt, fails again, next 10:10:10
    job = wait_released(engine, job_id)
    assert tasks_of(store, job_id)["b"].attempts == 2
    with store.read() as s:
        said = s.scalars(select(AuditEvent.comment).where(AuditEvent.action == "retry later")).all()
    # To the second: a retry comes `retry_every` after a failure, at any second of a minute.
    assert [text.split("; ")[1] for text in said if text] == [
        "next attempt at 2026-11-23 10:05:00 UTC",
        "next attempt at 2026-11-23 10:10:10 UTC",
    ]
    clock.advance(300)  # 10:10:10: third attempt fails; 10:15:10 is past the 10:12 expiry: b fails for good
    job = run_until_status(engine, job_id, Status.PARTIAL, Status.ERROR, Status.FINISHED)
    tasks = tasks_of(store, job_id)
    assert job.status == Status.PARTIAL
    # a's two ops and the report done, b's two not: 3 of 5 (it read 100%, as if all were done).
    assert (job.progress, tasks["a"].progress, tasks["b"].progress) == (60, 100, 0)
    assert (tasks["a"].status, tasks["b"].status, tasks["b"].attempts) == (
        TaskStatus.SUCCEEDED,
        TaskStatus.FAILED,
        3,
    )


def test_tasks_whose_own_ops_ran_still_wait_for_a_job_wide_run_op(
    actions: Actions, engine: Engine, clock: FakeClock, store: Store
) -> None:
    """A job-wide op runs for every task: a task whose PRE ops ran is not done while it is to come."""
    job_id = actions.submit(
        definition(
            """
            name = "fan-out"
            targets = ["a", "b"]
            [[pre]]
            name = "check"
            run = "true"
            per_target = true
            [[run]]
            name = "switch-over"
            run = "true"
            """
        ),
        at="+1h",
    )
    job = wait_released(engine, job_id)
    assert (job.status, job.step) == (Status.READY, "RUN")  # PRE ran; RUN waits for its date
    assert {task.status for task in tasks_of(store, job_id).values()} == {TaskStatus.SCHEDULED}
    clock.advance(3600)
    run_until_status(engine, job_id, Status.FINISHED)
    assert {task.status for task in tasks_of(store, job_id).values()} == {TaskStatus.SUCCEEDED}


def test_tasks_that_ran_their_pre_ops_are_not_done_while_the_job_waits_for_approval(
    actions: Actions, engine: Engine, store: Store
) -> None:
    """RUN, what the job is for, has not begun: a rejected job's tasks end CANCELLED, never SUCCEEDED."""
    job_id = actions.submit(
        definition(
            """
            name = "fan-out"
            targets = ["a", "b"]
            approval = true
            [[pre]]
            name = "check"
            run = "true"
            per_target = true
            """
        )
    )
    run_until_status(engine, job_id, Status.APPROVAL)
    assert {task.status for task in tasks_of(store, job_id).values()} == {TaskStatus.SCHEDULED}
    actions.reject(job_id)
    run_until_status(engine, job_id, Status.REJECTED)
    assert {task.status for task in tasks_of(store, job_id).values()} == {TaskStatus.CANCELLED}


def test_a_rerun_of_a_job_whose_retries_ran_out_runs_now(
    actions: Actions, engine: Engine, clock: FakeClock, store: Store, tmp_path: Path
) -> None:
    """Past its schedule's expiry the rerun was accepted ("Ready") and the job expired again at once,
    nothing run: the operator's fix did nothing and said it had."""
    fixed = tmp_path / "fixed"
    job_id = actions.submit(
        definition(
            f"""
            name = "flaky-sync"
            [schedule]
            expires = "+6m"
            retry_every = "5m"
            [[run]]
            name = "sync"
            run = "test -f {fixed}"
            """
        )
    )
    wait_released(engine, job_id)
    clock.advance(300)  # the second attempt fails; the next would come after the expiry
    assert run_until_status(engine, job_id, Status.ERROR).status == Status.ERROR
    clock.advance(600)
    fixed.touch()
    actions.rerun(job_id, "RUN")
    ended = run_until_status(engine, job_id, Status.FINISHED, Status.ERROR, Status.EXPIRED)
    assert ended.status == Status.FINISHED
    with store.read() as s:
        reruns = s.scalars(select(AuditEvent.comment).where(AuditEvent.action == "rerun")).all()
    assert reruns == ["from RUN (its schedule's expiry had passed: RUN now)"]


def test_a_reschedule_to_now_of_a_job_waiting_for_a_retry_runs_it_now(
    actions: Actions, engine: Engine, store: Store, tmp_path: Path
) -> None:
    """It said "rescheduled" and the job went on waiting for the attempt five minutes away."""
    fixed = tmp_path / "fixed"
    job_id = actions.submit(
        definition(
            f"""
            name = "mirror"
            targets = ["a", "b"]
            [schedule]
            retry_every = "5m"
            [[pre]]
            name = "fetch"
            run = "test -f {fixed}"
            [[run]]
            name = "push"
            run = "true"
            per_target = true
            """
        )
    )
    wait_released(engine, job_id)
    assert {task.status for task in tasks_of(store, job_id).values()} == {TaskStatus.RESCHEDULED}
    fixed.touch()
    actions.reschedule(job_id, "now")
    assert run_until_status(engine, job_id, Status.FINISHED).status == Status.FINISHED


def test_a_job_that_expired_waiting_for_a_retry_tries_the_failed_op_again_when_rescheduled(
    actions: Actions, engine: Engine, clock: FakeClock, store: Store, tmp_path: Path
) -> None:
    """Its failed PRE op stayed failed: rescheduled, the job went on to RUN and ended FINISHED."""
    fixed = tmp_path / "fixed"
    job_id = actions.submit(
        definition(
            f"""
            name = "mirror"
            [schedule]
            expires = "+6m"
            retry_every = "5m"
            [[pre]]
            name = "fetch"
            run = "test -f {fixed}"
            [[run]]
            name = "push"
            run = "true"
            """
        )
    )
    wait_released(engine, job_id)
    clock.advance(400)  # past the expiry, the next attempt never came (the engine was down, say)
    assert run_until_status(engine, job_id, Status.EXPIRED).status == Status.EXPIRED
    fixed.touch()
    actions.reschedule(job_id, "now")
    assert run_until_status(engine, job_id, Status.FINISHED, Status.ERROR).status == Status.FINISHED
    steps = {name: status for (_target, name), status in task_steps(store, job_id).items()}
    assert steps == {"fetch": "done", "push": "done"}


def test_a_rescheduled_expired_job_leaves_a_task_that_failed_for_good_failed(
    actions: Actions, engine: Engine, clock: FakeClock, store: Store
) -> None:
    """Only what waited for a retry is tried again: a's PRE op, failed for good, went back to pending."""
    job_id = actions.submit(
        definition(
            """
            name = "fleet"
            targets = ["a", "b"]
            [schedule]
            retry_every = "0"
            [[pre]]
            name = "check"
            run = '[ "$JOBTUI_TARGET" = b ]'
            per_target = true
            [[run]]
            name = "apply"
            run = "true"
            per_target = true
            """
        ),
        at="+1h",
        max_start="+30m",
    )
    job = wait_released(engine, job_id)
    assert job.step == "RUN" and tasks_of(store, job_id)["a"].status == TaskStatus.FAILED
    clock.advance(2 * 3600)  # past its Max Start Date: it expires at its RUN gate
    run_until_status(engine, job_id, Status.EXPIRED)
    actions.reschedule(job_id, "now")
    ended = run_until_status(engine, job_id, Status.PARTIAL, Status.FINISHED, Status.ERROR)
    assert ended.status == Status.PARTIAL
    steps = task_steps(store, job_id)
    assert steps[("a", "check")] == "failed" and steps[("b", "apply")] == "done"


# -- windows ------------------------------------------------------------------------------------------


DEFAULT_OPS = '[[run]]\nname = "work"\nrun = "true"'


def window_def(window: str, zone: str = "Europe/Zurich", extra: str = "", ops: str = DEFAULT_OPS) -> str:
    return f"""
        name = "nightly"
        [schedule]
        mode = "window"
        timezone = "{zone}"
        window = {window}
        {extra}
        {ops}
        """


def test_window_crossing_midnight_holds_the_job_scheduled_until_it_opens(
    actions: Actions, engine: Engine, clock: FakeClock, store: Store
) -> None:
    job_id = actions.submit(definition(window_def('{ from = "22:00", to = "04:00" }')))
    job = job_of(store, job_id)
    opens = utc(2026, 11, 23, 21, 0)  # 22:00 in Zurich (CET, UTC+1)
    assert (job.status, job.scheduled_at, job.due_at) == (Status.READY, opens, opens)
    assert detail(store, job_id)["next_run_at"] == opens.isoformat()
    engine.tick()
    assert job_of(store, job_id).status == Status.READY, "nothing runs at 11:00 local"
    clock.set(opens)
    assert run_until_status(engine, job_id, Status.FINISHED).started_at == opens


def test_after_midnight_the_window_opened_the_evening_before_is_still_open(
    actions: Actions, engine: Engine, clock: FakeClock
) -> None:
    clock.set(utc(2026, 11, 24, 1, 30))  # Tuesday 02:30 Zurich, inside Monday's 22:00–04:00
    job_id = actions.submit(
        definition(window_def('{ from = "22:00", to = "04:00" }', extra='days = ["mon"]'))
    )
    assert run_until_status(engine, job_id, Status.FINISHED).started_at == clock.now()


def test_weekdays_skip_the_weekend(actions: Actions, engine: Engine, clock: FakeClock, store: Store) -> None:
    clock.set(utc(2026, 11, 28, 10, 0))  # Saturday
    job_id = actions.submit(
        definition(
            window_def('{ from = "22:00", to = "04:00" }', extra='days = ["mon", "tue", "wed", "thu", "fri"]')
        )
    )
    monday_night = utc(2026, 11, 30, 21, 0)
    assert job_of(store, job_id).due_at == monday_night
    clock.set(utc(2026, 11, 29, 21, 30))  # Sunday 22:30: closed
    engine.tick()
    assert job_of(store, job_id).status == Status.READY
    clock.set(monday_night)
    assert run_until_status(engine, job_id, Status.FINISHED).status == Status.FINISHED
    schedule = detail(store, job_id)["schedule"]
    assert schedule == {
        "mode": "window",
        "timezone": "Europe/Zurich",
        "window": {"from": "22:00", "to": "04:00"},
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "start": utc(2026, 11, 28, 10, 0).isoformat(),
        "expires": utc(2026, 12, 5, 10, 0).isoformat(),
        "retry_every": "5m",
        "next_run_at": None,
    }


def test_window_closing_mid_run_pauses_the_job_until_it_reopens(
    actions: Actions, engine: Engine, clock: FakeClock, store: Store, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    ops = f"""
        [[run]]
        name = "long"
        run = 'while [ ! -f {gate} ]; do sleep 0.02; done'
        [[run]]
        name = "after"
        run = "true"
    """
    clock.set(utc(2026, 11, 23, 21, 0))  # 22:00 Zurich: open until 23:00
    job_id = actions.submit(definition(window_def('{ from = "22:00", to = "23:00" }', ops=ops)))
    engine.run_until(lambda: tasks_of(store, job_id)["nightly"].current_step == "long")
    clock.set(utc(2026, 11, 23, 22, 5))  # the window closed while "long" runs
    gate.touch()
    job = wait_released(engine, job_id)
    reopens = utc(2026, 11, 24, 21, 0)
    assert (job.status, job.due_at) == (Status.PAUSED, reopens)
    assert job.reason == "schedule window closed; reopens 2026-11-24 22:00 CET", "show says why it waits"
    steps = {s["name"]: s["status"] for s in detail(store, job_id)["tasks"][0]["steps"]}  # type: ignore[index]
    assert steps == {"long": "done", "after": "pending"}, "the op in flight finished, no new one started"
    clock.set(utc(2026, 11, 24, 12, 0))
    engine.tick()
    assert job_of(store, job_id).status == Status.PAUSED
    clock.set(reopens)
    assert run_until_status(engine, job_id, Status.FINISHED).reason is None, "it no longer waits"
    moves = transitions(store, job_id)
    assert ("RUNNING", "PAUSED") in moves and ("PAUSED", "RUNNING") in moves


def test_a_job_first_claimed_after_its_window_closed_waits_ready_not_paused(
    actions: Actions, engine: Engine, clock: FakeClock, store: Store
) -> None:
    """No engine (or no free slot) while the window was open: nothing of it ran, so it is not PAUSED (a
    job whose window closed while it ran) with a Start Date, but READY until the window reopens."""
    clock.set(utc(2026, 11, 23, 21, 0))  # 22:00 Zurich: open until 23:00
    job_id = actions.submit(definition(window_def('{ from = "22:00", to = "23:00" }')))
    clock.set(utc(2026, 11, 23, 22, 5))  # closed before any engine took it
    engine.tick()
    job = job_of(store, job_id)
    reopens = utc(2026, 11, 24, 21, 0)
    assert (job.status, job.due_at, job.started_at) == (Status.READY, reopens, None)
    assert job.reason == "schedule window closed; reopens 2026-11-24 22:00 CET"
    clock.set(reopens)
    assert run_until_status(engine, job_id, Status.FINISHED).started_at == reopens


def test_past_expires_with_work_undone_the_tasks_decide_the_end(
    actions: Actions, engine: Engine, clock: FakeClock, store: Store, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    ops = f"""
        [[run]]
        name = "long"
        run = 'while [ ! -f {gate} ]; do sleep 0.02; done'
        [[run]]
        name = "after"
        run = "true"
        [[post]]
        name = "report"
        run = "true"
    """
    clock.set(utc(2026, 11, 23, 21, 0))
    job_id = actions.submit(
        definition(window_def('{ from = "22:00", to = "23:00" }', extra='expires = "+2h"', ops=ops))
    )
    engine.run_until(lambda: tasks_of(store, job_id)["nightly"].current_step == "long")
    clock.set(utc(2026, 11, 23, 22, 5))
    gate.touch()
    job = run_until_status(engine, job_id, Status.ERROR, Status.PARTIAL, Status.FINISHED, Status.PAUSED)
    assert job.status == Status.ERROR, "the window never reopens before expiry: the unfinished task failed"
    steps = {s["name"]: s["status"] for s in detail(store, job_id)["tasks"][0]["steps"]}  # type: ignore[index]
    assert steps == {"long": "done", "after": "skipped", "report": "done"}


def test_a_window_that_never_opened_before_expiry_is_expired(
    actions: Actions, engine: Engine, clock: FakeClock, store: Store
) -> None:
    job_id = actions.submit(
        definition(window_def('{ from = "22:00", to = "23:00" }', extra='expires = "+1d"'))
    )
    # Approval is not involved; the engine was simply down all night.
    clock.set(utc(2026, 11, 24, 10, 30))
    engine.tick()
    job = job_of(store, job_id)
    assert job.status == Status.EXPIRED
    assert all(t.status == TaskStatus.CANCELLED for t in tasks_of(store, job_id).values())


def test_a_max_start_given_at_submission_is_a_window_jobs_expiry(
    actions: Actions, engine: Engine, clock: FakeClock, store: Store
) -> None:
    """A window job's Max Start Date is its expiry: `--max-start` (an envelope's max_start) replaces the
    schedule's, counted from the window's start, and is refused when it is not after that start."""
    nightly = definition(window_def('{ from = "22:00", to = "23:00" }', extra='expires = "+1d"'))
    job_id = actions.submit(nightly, max_start="+3d")
    assert job_of(store, job_id).max_start_at == clock.now().add(days=3)
    clock.set(clock.now().add(days=2, hours=6))  # the schedule's own expiry is past, not the one given
    engine.tick()
    assert job_of(store, job_id).status != Status.EXPIRED  # waiting for its window to open
    clock.set(clock.now().add(days=1))
    engine.tick()
    assert job_of(store, job_id).status == Status.EXPIRED
    with pytest.raises(ValueError, match=r"submit --max-start \S+ is not after the window's start"):
        actions.submit(
            nightly, at="+1d", max_start="2026-11-24T00:00", given_as={"max_start": "submit --max-start"}
        )


def test_a_window_that_never_opens_is_refused_at_submission(actions: Actions) -> None:
    with pytest.raises(ValueError, match='"window": never open between'):
        actions.submit(
            definition(
                window_def('{ from = "22:00", to = "23:00" }', extra='days = ["sat"]\nexpires = "+2d"')
            )
        )


def test_retries_happen_only_inside_open_windows(
    actions: Actions, engine: Engine, clock: FakeClock, store: Store
) -> None:
    clock.set(utc(2026, 11, 23, 21, 50))  # 22:50 Zurich, the window closes at 23:00
    ops = '[[run]]\nname = "push"\nrun = "exit 1"'
    job_id = actions.submit(
        definition(window_def('{ from = "22:00", to = "23:00" }', extra='retry_every = "5m"', ops=ops))
    )
    wait_released(engine, job_id)
    assert tasks_of(store, job_id)["nightly"].next_attempt_at == utc(2026, 11, 23, 21, 55)
    clock.set(utc(2026, 11, 23, 21, 55))
    wait_released(engine, job_id)
    # 23:00 is closed: the next attempt is when the window opens tomorrow.
    assert tasks_of(store, job_id)["nightly"].next_attempt_at == utc(2026, 11, 24, 21, 0)


# -- daylight saving ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "submitted", "window", "opens"),
    [
        # Zurich springs forward 2026-03-29 02:00 CET → 03:00 CEST: 02:30 does not exist.
        (
            "Europe/Zurich",
            utc(2026, 3, 28, 12, 0),
            '{ from = "02:30", to = "05:00" }',
            utc(2026, 3, 29, 1, 0),
        ),
        # New York springs forward 2026-03-08 02:00 EST → 03:00 EDT.
        (
            "America/New_York",
            utc(2026, 3, 7, 12, 0),
            '{ from = "02:15", to = "04:00" }',
            utc(2026, 3, 8, 7, 0),
        ),
    ],
)
def test_a_window_starting_in_the_spring_forward_gap_opens_at_the_first_valid_minute(
    zone: str,
    submitted: pendulum.DateTime,
    window: str,
    opens: pendulum.DateTime,
    actions: Actions,
    engine: Engine,
    clock: FakeClock,
    store: Store,
) -> None:
    clock.set(submitted)
    job_id = actions.submit(definition(window_def(window, zone=zone)))
    assert job_of(store, job_id).due_at == opens
    clock.set(opens.subtract(minutes=1))
    engine.tick()
    assert job_of(store, job_id).status == Status.READY
    clock.set(opens)
    assert run_until_status(engine, job_id, Status.FINISHED).started_at == opens


@pytest.mark.parametrize(
    ("zone", "window", "first_pass", "next_day"),
    [
        # Zurich falls back 2026-10-25 03:00 CEST → 02:00 CET: 02:00–02:30 happens twice.
        (
            "Europe/Zurich",
            '{ from = "02:00", to = "02:30" }',
            utc(2026, 10, 25, 0, 0),
            utc(2026, 10, 26, 1, 0),
        ),
        # New York falls back 2026-11-01 02:00 EDT → 01:00 EST: 01:00–01:30 happens twice.
        (
            "America/New_York",
            '{ from = "01:00", to = "01:30" }',
            utc(2026, 11, 1, 5, 0),
            utc(2026, 11, 2, 6, 0),
        ),
    ],
)
def test_the_fall_back_hour_is_not_run_twice(
    zone: str,
    window: str,
    first_pass: pendulum.DateTime,
    next_day: pendulum.DateTime,
    actions: Actions,
    engine: Engine,
    clock: FakeClock,
    store: Store,
) -> None:
    clock.set(first_pass.subtract(hours=12))
    ops = '[[run]]\nname = "push"\nrun = "exit 1"'
    job_id = actions.submit(
        definition(window_def(window, zone=zone, extra='retry_every = "10m"\nexpires = "+3d"', ops=ops))
    )
    assert job_of(store, job_id).due_at == first_pass
    tried: list[pendulum.DateTime] = []
    clock.set(first_pass)
    while clock.now() < next_day:
        wait_released(engine, job_id)
        tried.append(clock.now())
        clock.set(pendulum.instance(tasks_of(store, job_id)["nightly"].next_attempt_at))
    # Three attempts in the first pass (:00, :10, :20); the repeated half hour an hour later is closed.
    assert tried == [first_pass.add(minutes=m) for m in (0, 10, 20)]
    assert clock.now() == next_day


# -- replacement and system jobs ----------------------------------------------------------------------


REPLACEABLE = """
    name = "sync-devices"
    targets = ["dev-1", "dev-2"]
    [schedule]
    at = "+1h"
    [[run]]
    run = "true"
"""


def test_resubmitting_replaces_a_job_that_has_not_started_run(actions: Actions, store: Store) -> None:
    first = actions.submit(definition(REPLACEABLE))
    second = actions.submit(definition(REPLACEABLE))
    old = job_of(store, first)
    assert (old.status, old.replaced_by) == (Status.REPLACED, second)
    assert job_of(store, second).status == Status.READY
    assert actions.replaced_by(second) == [first]
    assert all(t.status == TaskStatus.CANCELLED for t in tasks_of(store, first).values())
    with store.read() as s:
        audit = s.scalars(
            select(AuditEvent).where(AuditEvent.job_id == first, AuditEvent.action == "replace")
        ).one()
    assert (audit.who, audit.to_status, audit.comment) == ("tester", "REPLACED", f"replaced by job {second}")


def test_keep_and_other_targets_and_started_jobs_are_not_replaced(
    actions: Actions, engine: Engine, store: Store
) -> None:
    first = actions.submit(definition(REPLACEABLE))
    kept = actions.submit(definition(REPLACEABLE), keep=True)
    other_targets = actions.submit(definition(REPLACEABLE.replace('"dev-2"', '"dev-3"')))
    assert [job_of(store, i).status for i in (first, kept, other_targets)] == [Status.READY] * 3
    running = actions.submit(definition(REPLACEABLE.replace('at = "+1h"', 'at = "now"')), keep=True)
    run_until_status(engine, running, Status.FINISHED)
    newest = actions.submit(definition(REPLACEABLE))
    assert job_of(store, running).status == Status.FINISHED, "a job that ran RUN is never replaced"
    assert job_of(store, first).replaced_by == newest and job_of(store, kept).replaced_by == newest


# -- definition checks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('mode = "later"', '[schedule] "mode": expected "now" or "window", got "later"'),
        ('timezone = "Mars/Olympus"', '[schedule] "timezone": "Mars/Olympus" is not a known time zone'),
        (
            'mode = "window"\nwindow = { from = "25:00", to = "04:00" }',
            '"from": "25:00" is not a time of day',
        ),
        ('mode = "window"\ndays = ["fry"]', '"fry" is not a weekday'),
        ('window = { from = "22:00", to = "04:00" }', '"window": is only used with mode = "window"'),
        ('mode = "window"\nat = "+1h"', '"at": is only used with mode = "now"'),
        ('retry_every = "often"', '[schedule] "retry_every": "often" is not a duration'),
        ('expires = "someday"', '[schedule] "expires": "someday" is not a date'),
    ],
)
def test_schedule_mistakes_name_the_file_line_and_field(lines: str, message: str) -> None:
    with pytest.raises(DefinitionError) as info:
        definition(f'name = "x"\n[schedule]\n{lines}\n[[run]]\nrun = "true"\n', "sched.toml")
    (error,) = info.value.errors
    assert error.startswith("sched.toml:") and message in error, error


def test_a_window_that_does_not_reopen_before_expiry_ends_the_job_saying_so(
    actions: Actions, engine: Engine, clock: FakeClock, store: Store, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    clock.set(utc(2026, 12, 7, 10, 13))
    job_id = actions.submit(
        definition(
            f"""
            name = "short-window"
            targets = ["t1", "t2"]
            [schedule]
            mode = "window"
            timezone = "UTC"
            window = {{ from = "10:14", to = "10:16" }}
            expires = "2026-12-07T10:18:00+00:00"
            [[run]]
            name = "deploy"
            run = 'while [ ! -f {gate} ]; do sleep 0.02; done'
            per_target = true
            """
        )
    )
    clock.set(utc(2026, 12, 7, 10, 14))
    engine.run_until(lambda: tasks_of(store, job_id)["t1"].current_step == "deploy")
    clock.set(utc(2026, 12, 7, 10, 16, 15))  # t1's op ran past the close; the next window is tomorrow
    gate.touch()
    job = run_until_status(engine, job_id, Status.ERROR, Status.PARTIAL, Status.FINISHED, Status.PAUSED)
    why = (
        "the schedule window closed at 2026-12-07 10:16 UTC and does not reopen before the job expires "
        "at 2026-12-07 10:18 UTC"
    )
    assert job.status == Status.PARTIAL, "t1 did its work, t2 never could"
    assert job.reason == f"{why}; 1 task that never ran CANCELLED"
    statuses = {target: task.status for target, task in tasks_of(store, job_id).items()}
    assert statuses == {"t1": TaskStatus.SUCCEEDED, "t2": TaskStatus.CANCELLED}, "t2 never ran: not FAILED"
    with store.read() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.job_id == job_id, AuditEvent.action == "expire"))
        (expiry,) = [r.comment or "" for r in rows]
    assert expiry.startswith(why) and "schedule expired" not in expiry
    assert f"{why}: no op starts again" in Path(store.log_file(job_id)).read_text()


def test_a_job_whose_window_closes_after_pre_and_does_not_reopen_runs_post_and_ends_expired(
    actions: Actions, engine: Engine, clock: FakeClock, store: Store, tmp_path: Path
) -> None:
    """Its PRE ran, RUN never could: POST still runs (seed 001), then the job ends EXPIRED."""
    gate, ledger = tmp_path / "go", tmp_path / "ledger"
    clock.set(utc(2026, 12, 7, 10, 13))
    job_id = actions.submit(
        definition(
            f"""
            name = "short-window"
            [schedule]
            mode = "window"
            timezone = "UTC"
            window = {{ from = "10:14", to = "10:16" }}
            expires = "2026-12-07T10:18:00+00:00"
            [[pre]]
            name = "build"
            run = 'while [ ! -f {gate} ]; do sleep 0.02; done'
            [[run]]
            name = "deploy"
            run = "echo deploy >> {ledger}"
            [[post]]
            name = "notify"
            run = "echo notify >> {ledger}"
            """
        )
    )
    clock.set(utc(2026, 12, 7, 10, 14))
    engine.run_until(lambda: job_of(store, job_id).status == Status.RUNNING and engine.busy)
    clock.set(utc(2026, 12, 7, 10, 16, 15))  # PRE ran past the close; the next window is tomorrow
    gate.touch()
    job = run_until_status(engine, job_id, Status.EXPIRED, Status.FINISHED, Status.ERROR)
    assert job.status == Status.EXPIRED
    assert job.reason == (
        "RUN had not started and the schedule window closed at 2026-12-07 10:16 UTC and does not reopen "
        "before the job expires at 2026-12-07 10:18 UTC"
    )
    assert ledger.read_text().split() == ["notify"]


def test_a_window_missed_whole_that_does_not_reopen_before_expiry_expires_the_job_saying_so(
    actions: Actions, engine: Engine, clock: FakeClock, store: Store
) -> None:
    clock.set(utc(2026, 12, 7, 10, 13))
    job_id = actions.submit(
        definition(
            window_def('{ from = "10:14", to = "10:16" }', zone=UTC, extra='expires = "2026-12-07T10:18:00Z"')
        )
    )
    clock.set(utc(2026, 12, 7, 10, 17))  # the engine was down while the window was open
    job = run_until_status(engine, job_id, Status.EXPIRED)
    assert job.reason == (
        "RUN had not started and the schedule window closed at 2026-12-07 10:16 UTC and does not reopen "
        "before the job expires at 2026-12-07 10:18 UTC"
    )
