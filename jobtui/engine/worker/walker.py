"""The pipeline walker: moves a held job through its steps (INIT, PRE, RUN, POST, END and rollback)
and says which op to start next, or parks, hands back or ends the job when none may start now."""

from __future__ import annotations

from typing import Any, Final

import pendulum
from sqlalchemy.orm import Session

from jobtui.engine.db.models import Job, OpRun
from jobtui.engine.domain.schedules import JobSchedule
from jobtui.engine.domain.states import ROLLBACK_STEP, Status, Step, TaskStatus
from jobtui.engine.worker import launcher, lifecycle, pipeline
from jobtui.engine.worker.pipeline import JobRef
from jobtui.engine.worker.state import EngineState, Held, LaunchSpec


class _Again:
    """The job moved on to another step (or out of its rollback): look again."""


AGAIN: Final = _Again()

# What one look at a job finds: an op to start, None once the job was released or ended, or AGAIN.
Found = OpRun | None | _Again


def walk(state: EngineState, s: Session, job: Job, held: Held) -> LaunchSpec | None:
    """Inside a transaction: mark the next op started and say how to launch it, or let go."""
    ref = JobRef(state.who, held.lease)
    op_run = next_op(state, s, job, ref)
    if op_run is None:
        state.let_go_at_commit(s, held.job_id)
        return None
    pipeline.mark_op_started(state.store, s, job, op_run, ref)
    return launcher.launch_spec(state, s, job, op_run)


def next_op(state: EngineState, s: Session, job: Job, ref: JobRef) -> OpRun | None:
    """The next op to start, or None once the job was released or ended."""
    now = state.store.now()
    while True:
        if job.status == Status.ROLLBACK:
            found = _next_in_rollback(state, s, job, ref)
        else:
            found = _next_in_step(state, s, job, ref, now)
        if not isinstance(found, _Again):
            return found


def _next_in_rollback(state: EngineState, s: Session, job: Job, ref: JobRef) -> Found:
    op_run = pipeline.next_pending(s, job, ROLLBACK_STEP)
    if op_run is not None:
        return op_run
    failed = job.outcome == Status.ERROR.value
    if job.step == Step.END:  # a manual rollback of an ended job
        pipeline.finish_job(
            state.store,
            s,
            job,
            ref,
            Status.ERROR if failed else Status.ROLLEDBACK,
            comment="rollback failed" if failed else "rollback completed",
            # Its tasks had done what they were asked before anyone rolled the job back: undone is not
            # failed (the job's status says it was rolled back).
            settle_as=None if failed else TaskStatus.SUCCEEDED,
        )
        return None
    state.store.change_job(
        s,
        job,
        state.who,
        "rollback done",
        Status.RUNNING,
        held=ref.lease,
        step=Step.POST.value,
        outcome=Status.ERROR.value if failed else Status.ROLLEDBACK.value,
    )
    return AGAIN


def _next_in_step(state: EngineState, s: Session, job: Job, ref: JobRef, now: pendulum.DateTime) -> Found:
    step = _enter_pre(state, s, job, ref, now)
    if _before_run(job, step):
        gate = run_gate(state, s, job, ref, now)
        if gate is not None:
            return AGAIN if gate == Status.RUNNING else None  # RUNNING: expired, on to POST
    if step == Step.END:
        state.store.change_job(s, job, state.who, "release", held=ref.lease, worker_id=None, lease=None)
        return None
    schedule = lifecycle.schedule_of(job) if step in (Step.PRE, Step.RUN) else None
    if schedule is not None and not _in_window(state, s, job, ref, schedule, now):
        return None if job.worker_id is None else AGAIN  # expired: on to POST
    op_run = pipeline.next_pending(s, job, step.value)
    if _waits_for_retries(state, s, job, ref, schedule, op_run):
        return None
    if op_run is not None:
        return op_run
    return _end_step(state, s, job, ref, step)


def _before_run(job: Job, step: Step) -> bool:
    """In RUN, and RUN has not started: its gate decides whether it may."""
    return step == Step.RUN and job.run_started_at is None and not job.failed


def _enter_pre(state: EngineState, s: Session, job: Job, ref: JobRef, now: pendulum.DateTime) -> Step:
    """The job's step, once a job in INIT (or in PRE, not started yet) has started PRE."""
    step = Step(job.step)
    if step == Step.INIT or (step == Step.PRE and job.started_at is None):
        # Start Date is the real start of PRE.
        state.store.change_job(
            s,
            job,
            state.who,
            "step",
            held=ref.lease,
            step=Step.PRE.value,
            started_at=job.started_at or now,
        )
        step = Step.PRE
    return step


def _in_window(
    state: EngineState, s: Session, job: Job, ref: JobRef, schedule: JobSchedule, now: pendulum.DateTime
) -> bool:
    """A scheduled job's PRE/RUN: revive the tasks due for another attempt, then check its window."""
    if schedule.retries:
        lifecycle.revive_due_tasks(s, job, now)
    return lifecycle.window_gate(state.store, s, job, ref, now, log=lambda line: state.log(job, line))


def _waits_for_retries(
    state: EngineState, s: Session, job: Job, ref: JobRef, schedule: JobSchedule | None, op_run: OpRun | None
) -> bool:
    """True when the job was handed back until a rescheduled task's next attempt."""
    if schedule is None or not schedule.retries or (op_run is not None and op_run.per_target):
        return False
    # A job-wide op, or the next step, waits until every rescheduled task had its retries.
    waiting = lifecycle.waiting_tasks(s, job)
    if not waiting:
        return False
    lifecycle.wait_for_retry(state.store, s, job, ref, min(waiting))
    return True


def _end_step(state: EngineState, s: Session, job: Job, ref: JobRef, step: Step) -> Found:
    """No op left in `step`: POST ends the job, PRE and RUN move on to the next step."""
    if step == Step.POST:
        tasks = pipeline.tasks_of(s, job.id or 0)
        end = pipeline.end_status_from_tasks(s, job, tasks)
        pipeline.finish_job(state.store, s, job, ref, end, tasks=tasks)
        return None
    following = Step.POST if step == Step.RUN or job.failed else Step.RUN
    if step == Step.RUN and not job.failed:
        pipeline.settle_done_tasks(s, job)
    state.store.change_job(s, job, state.who, "step", held=ref.lease, step=following.value)
    return AGAIN


def run_gate(state: EngineState, s: Session, job: Job, ref: JobRef, now: pendulum.DateTime) -> Status | None:
    """Before RUN starts: approval, Max Start Date, the scheduled date. Returns where the job parked
    (RUNNING: it expired and goes on to its POST step), None when RUN may start."""
    store, who = state.store, state.who
    release: dict[str, Any] = {"held": ref.lease, "worker_id": None, "lease": None}
    if (
        (pipeline.definition_of(job).approval and not job.approved)
        or (job.max_start_at is not None and now > job.max_start_at)
        or (job.scheduled_at is not None and job.scheduled_at > now)
    ):
        pipeline.park_running_tasks(s, job)
    if pipeline.definition_of(job).approval and not job.approved:
        store.change_job(
            s,
            job,
            who,
            "await approval",
            Status.APPROVAL,
            comment="RUN needs approval",
            due_at=None,
            **release,
        )
        return Status.APPROVAL
    if job.max_start_at is not None and now > job.max_start_at:
        said = "RUN had not started by Max Start Date"
        if pipeline.expire_through_post(store, s, job, ref, now, said, "passed Max Start Date"):
            return Status.RUNNING
        store.change_job(
            s,
            job,
            who,
            "expire",
            Status.EXPIRED,
            comment=said,
            due_at=None,
            reason="passed Max Start Date",
            ended_at=now,
            **release,
        )
        return Status.EXPIRED
    if job.scheduled_at is not None and job.scheduled_at > now:
        store.change_job(
            s,
            job,
            who,
            "wait for schedule",
            Status.READY,
            comment="RUN waits for its scheduled date",
            due_at=job.scheduled_at,
            **release,
        )
        return Status.READY
    store.change_job(s, job, who, "step", held=ref.lease, run_started_at=now)
    return None
