"""Task lifecycles under a schedule (seed 003): retries of failed tasks, windows that pause a job, expiry.

The scheduler calls these between ops while it holds the job; the expiry sweep calls them for jobs
nobody holds. A task waiting for its next attempt is RESCHEDULED; its failed ops go back to pending
when the attempt comes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pendulum
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jobtui.engine.db import raw
from jobtui.engine.db.models import TASKS, Job, OpRun, Task
from jobtui.engine.db.store import Store
from jobtui.engine.domain.schedules import JobSchedule
from jobtui.engine.domain.states import OpStatus, Status, Step, TaskStatus
from jobtui.engine.domain.text import counted
from jobtui.engine.worker import pipeline
from jobtui.engine.worker.alone import JobsAlone
from jobtui.engine.worker.pipeline import JobRef

RETRIED_STEPS = (Step.PRE.value, Step.RUN.value)
# Jobs nobody holds while they wait (for a retry, a window, their date).
WAITING = "jobs.status IN ('READY', 'PAUSED')"
# How a job's reason starts while it waits for its window to reopen (cleared once it is open again).
WINDOW_CLOSED = "schedule window closed"
UNFINISHED_TASK = (TaskStatus.SCHEDULED.value, TaskStatus.RUNNING.value, TaskStatus.RESCHEDULED.value)


def schedule_of(job: Job) -> JobSchedule | None:
    return schedule_from_text(job.schedule)


@functools.lru_cache(maxsize=1024)
def schedule_from_text(text: str | None) -> JobSchedule | None:
    return JobSchedule.from_json(text)


def _fmt(when: pendulum.DateTime, schedule: JobSchedule, seconds: bool = False) -> str:
    # A retry comes `retry_every` after a failure, at any second: to the minute, two attempts of a
    # sub-minute retry_every read the same. Windows open and close on the minute.
    return when.in_tz(schedule.timezone).format(
        "YYYY-MM-DD HH:mm:ss zz" if seconds else "YYYY-MM-DD HH:mm zz"
    )


def reschedule_failed(store: Store, s: Session, job: Job, op_run: OpRun, ref: JobRef) -> bool:
    """A PRE/RUN op failed: if the schedule allows another attempt before it expires, the task (or, for
    a job-wide op, every unfinished task) waits RESCHEDULED for it and this returns True."""
    schedule = schedule_of(job)
    if schedule is None or op_run.step not in RETRIED_STEPS:
        return False
    now = store.now()
    next_attempt = schedule.next_attempt(now)
    if next_attempt is None:
        return False
    tasks = update(TASKS).where(TASKS.c.job_id == job.id)
    if op_run.per_target and op_run.task_id is not None:
        tasks = tasks.where(TASKS.c.id == op_run.task_id)
    else:
        tasks = tasks.where(TASKS.c.status.in_(UNFINISHED_TASK))
    s.execute(
        tasks.values(status=TaskStatus.RESCHEDULED.value, next_attempt_at=next_attempt, current_step=None)
    )
    target = ""
    if op_run.per_target and op_run.task_id is not None:
        task = s.get(Task, op_run.task_id)
        target = f" for {task.target}" if task is not None else ""
    store.change_job(
        s,
        job,
        ref.who,
        "retry later",
        comment=f'{op_run.step} op "{op_run.name}" failed{target}; '
        f"next attempt at {_fmt(next_attempt, schedule, seconds=True)}",
        held=ref.lease,
    )
    return True


def revive_due_tasks(s: Session, job: Job, now: pendulum.DateTime) -> None:
    """Tasks whose next attempt has come: their failed ops go back to pending, one more attempt."""
    due = list(
        s.scalars(
            select(Task).where(
                Task.job_id == job.id,
                Task.status == TaskStatus.RESCHEDULED.value,
                Task.next_attempt_at <= now,
            )
        )
    )
    if not due:
        return
    retried_ops = _retried_op_indexes(job)
    for task in due:
        _reset_failed(s, job, retried_ops, per_target=True, task_id=task.id)
        task.status = TaskStatus.SCHEDULED.value
        task.attempts += 1
        task.next_attempt_at = None
        s.add(task)
    s.flush()
    if not waiting_tasks(s, job):
        # Job-wide ops run for every task, so they are tried again only once no task still waits.
        _reset_failed(s, job, retried_ops, per_target=False, task_id=None)


def pend_failed_retried_ops(s: Session, job: Job) -> None:
    """An Expired job rescheduled: the failed ops of its current step that were waiting for their next
    attempt when it expired go back to pending, so it tries them again (it went on past them, and could
    end FINISHED with its PRE failed). Those of the tasks the expiry cancelled, and the job-wide ones
    unless the job failed: a task that had failed for good stays failed. Called before the cancelled
    tasks are scheduled again."""
    retried_ops = {(step, index) for step, index in _retried_op_indexes(job) if step == job.step}
    cancelled = s.scalars(
        select(Task.id).where(Task.job_id == job.id, Task.status == TaskStatus.CANCELLED.value)
    ).all()
    for task_id in cancelled:
        if task_id is not None:
            _reset_failed(s, job, retried_ops, per_target=True, task_id=task_id)
    if not job.failed:
        _reset_failed(s, job, retried_ops, per_target=False, task_id=None)


def _retried_op_indexes(job: Job) -> set[tuple[str, int]]:
    """Ops whose failure is retried: on_error = "fail" (ignored ones do not matter, traps go to people)."""
    definition = pipeline.definition_of(job)
    return {
        (op.step, op.index) for step in RETRIED_STEPS for op in definition.ops(step) if op.on_error == "fail"
    }


def _reset_failed(
    s: Session, job: Job, retried: set[tuple[str, int]], per_target: bool, task_id: int | None
) -> None:
    query = select(OpRun).where(
        OpRun.job_id == job.id,
        OpRun.exec == job.exec,
        OpRun.step.in_(RETRIED_STEPS),
        OpRun.status == OpStatus.FAILED.value,
        OpRun.per_target == per_target,
    )
    if task_id is not None:
        query = query.where(OpRun.task_id == task_id)
    for op_run in s.scalars(query):
        if (op_run.step, op_run.op_index) not in retried:
            continue
        op_run.status = OpStatus.PENDING.value
        op_run.started_at = None
        op_run.completed_at = None
        op_run.exit_code = None
        s.add(op_run)


def waiting_tasks(s: Session, job: Job) -> list[pendulum.DateTime]:
    """Next attempt times of the job's RESCHEDULED tasks."""
    rows = s.scalars(
        select(Task.next_attempt_at).where(Task.job_id == job.id, Task.status == TaskStatus.RESCHEDULED.value)
    ).all()
    return [pendulum.instance(when) for when in rows if when is not None]


def wait_for_retry(store: Store, s: Session, job: Job, ref: JobRef, when: pendulum.DateTime) -> None:
    """Nothing to run until a rescheduled task's next attempt: hand the job back, due then."""
    pipeline.park_running_tasks(s, job)
    store.change_job(
        s,
        job,
        ref.who,
        "wait for retry",
        Status.READY,
        comment=f"next attempt at {when.isoformat()}",
        held=ref.lease,
        worker_id=None,
        lease=None,
        due_at=when,
    )


def window_gate(
    store: Store,
    s: Session,
    job: Job,
    ref: JobRef,
    now: pendulum.DateTime,
    log: Callable[[str], None] | None = None,
) -> bool:
    """Before a PRE/RUN op: True when the job may go on now. A closed window parks it until it
    reopens (PAUSED once it has started); a window that does not reopen before the schedule expires
    ends its unfinished work now. `log` writes a line to the job's log."""
    schedule = schedule_of(job)
    if schedule is None or not schedule.windowed:
        return True
    if schedule.is_open(now):
        if job.reason and job.reason.startswith(WINDOW_CLOSED):
            store.change_job(s, job, ref.who, "window open", held=ref.lease, reason=None)
        return True
    reopens = schedule.next_open(now)
    if reopens is None:
        # Waiting until `expires` would change nothing but when POST runs and people learn the end.
        why = schedule.closed_for_good(now)
        if log is not None:
            log(f"{why}: no op starts again")
        expire_unfinished(store, s, job, ref, now, why=why)
        return False
    # PAUSED once an op of this run started; before, it is READY, and its PRE has not begun (no Start Date).
    ran = job.started_at is not None and _an_op_started(s, job)
    parked = Status.PAUSED if ran else Status.READY
    pipeline.park_running_tasks(s, job)
    reason = f"{WINDOW_CLOSED}; reopens {_fmt(reopens, schedule)}"
    if log is not None:
        log(f"{reason}: {'paused' if parked == Status.PAUSED else 'waits'} until then")
    store.change_job(
        s,
        job,
        ref.who,
        "window closed",
        parked,
        comment=reason,
        held=ref.lease,
        worker_id=None,
        lease=None,
        due_at=reopens,
        reason=reason,
        **({} if ran else {"started_at": None}),
    )
    return False


def _an_op_started(s: Session, job: Job) -> bool:
    started = select(OpRun.id).where(
        OpRun.job_id == job.id, OpRun.exec == job.exec, OpRun.started_at.is_not(None)
    )
    return s.scalars(started.limit(1)).first() is not None


def expire_unfinished(
    store: Store, s: Session, job: Job, ref: JobRef, now: pendulum.DateTime, why: str | None = None
) -> None:
    """The schedule ran out (`why`: its window does not reopen before it expires; else it expired).
    Nothing of RUN started: EXPIRED. Otherwise the tasks that ran and still had work left are FAILED,
    those that never ran CANCELLED, and POST runs; the end status then comes from the tasks."""
    schedule = schedule_of(job)
    when = _fmt(schedule.expires, schedule) if schedule and schedule.expires else now.isoformat()
    ended = why or f"schedule expired at {when}"
    if job.run_started_at is None:
        expired = f"RUN had not started and {why}" if why else f"{ended} before RUN started"
        reason = expired if why else "schedule expired"
        if pipeline.expire_through_post(store, s, job, ref, now, expired, reason):
            return
        # Ops stay pending: a reschedule brings the job back where it stood.
        pipeline.settle_tasks(s, job, TaskStatus.CANCELLED)
        store.change_job(
            s,
            job,
            ref.who,
            "expire",
            Status.EXPIRED,
            comment=expired,
            held=ref.lease,
            reason=expired if why else "schedule expired",
            ended_at=now,
            due_at=None,
            worker_id=None,
            lease=None,
        )
        return
    unfinished = _tasks_with_work_left(s, job)
    never_ran = _tasks_never_run(s, job, unfinished)
    failed = [task_id for task_id in unfinished if task_id not in never_ran]
    pipeline.skip_pending(s, job, RETRIED_STEPS, now)
    for task_ids, status in ((failed, TaskStatus.FAILED), (never_ran, TaskStatus.CANCELLED)):
        s.execute(
            update(TASKS)
            .where(TASKS.c.id.in_(task_ids), TASKS.c.status.in_(UNFINISHED_TASK))
            .values(status=status.value, current_step=None, next_attempt_at=None)
        )
    settled = [
        f"{counted(len(failed), 'task')} with work left FAILED" if failed else "",
        f"{counted(len(never_ran), 'task')} that never ran CANCELLED" if never_ran else "",
    ]
    outcome = "; ".join(part for part in (ended, *settled) if part)
    held = job.worker_id is not None
    store.change_job(
        s,
        job,
        ref.who,
        "expire",
        Status.RUNNING if held else Status.READY,
        comment=f"{outcome}; POST runs",
        held=ref.lease,
        step=Step.POST.value,
        due_at=None if held else now,
        reason=outcome,
    )
    pipeline.refresh_progress(store, s, job, ref)


def _tasks_never_run(s: Session, job: Job, task_ids: list[int]) -> set[int]:
    """Of `task_ids`, those no PRE/RUN op of this execution ran for: none of their own (per-target)
    ops started and no job-wide op did, nor did a failed attempt wait for a retry."""
    if not task_ids:
        return set()
    ran = s.execute(
        select(OpRun.task_id, OpRun.per_target).where(
            OpRun.job_id == job.id,
            OpRun.exec == job.exec,
            OpRun.step.in_(RETRIED_STEPS),
            OpRun.status != OpStatus.PENDING.value,
        )
    ).all()
    if any(not per_target for _, per_target in ran):
        return set()
    started = {task_id for task_id, _ in ran}
    tasks = s.execute(select(Task.id, Task.status, Task.attempts).where(Task.id.in_(task_ids))).all()
    return {
        task_id
        for task_id, status, attempts in tasks
        if task_id is not None
        and task_id not in started
        and status != TaskStatus.RESCHEDULED.value
        and attempts <= 1
    }


def _tasks_with_work_left(s: Session, job: Job) -> list[int]:
    """Tasks that would still have run a PRE/RUN op: waiting for a retry, or with ops pending."""
    pending = s.execute(
        select(OpRun.task_id, OpRun.per_target).where(
            OpRun.job_id == job.id,
            OpRun.exec == job.exec,
            OpRun.step.in_(RETRIED_STEPS),
            OpRun.status == OpStatus.PENDING.value,
        )
    ).all()
    tasks = s.execute(select(Task.id, Task.status).where(Task.job_id == job.id)).all()
    if any(not per_target for _, per_target in pending):
        return [task_id for task_id, _ in tasks if task_id is not None]
    left = {task_id for task_id, _ in pending}
    return [
        task_id
        for task_id, status in tasks
        if task_id is not None and (task_id in left or status == TaskStatus.RESCHEDULED.value)
    ]


def sweep_expired_schedules(store: Store, who: str, now: pendulum.DateTime, alone: JobsAlone) -> None:
    """Jobs nobody holds (waiting for a retry or a window) whose schedule ran out."""
    with store.read() as s:
        # WAITING as a literal: the partial index walked holds those jobs only (migration 0005).
        found = raw.rows(
            s,
            f"SELECT id FROM jobs{raw.index_hint(s, 'ix_jobs_waiting_expires')} WHERE {WAITING} "
            "AND step IN :steps AND expires_at <= :now AND worker_id IS NULL",
            {"steps": list(RETRIED_STEPS), "now": now},
        )
    for job_id in (int(row["id"]) for row in found):
        with alone.job("schedule's end", job_id), store.write() as s:
            job = store.lock_job(s, job_id)
            if job is None or job.worker_id is not None or job.status not in (Status.READY, Status.PAUSED):
                continue
            if job.step not in RETRIED_STEPS:
                continue
            expire_unfinished(store, s, job, JobRef(who), now)


def mark_replaced(store: Store, s: Session, old: Job, new_id: int, who: str) -> None:
    """An earlier submission that had not started RUN gives way to a new one of the same definition."""
    now = store.now()
    pipeline.skip_pending(s, old, (Step.PRE.value, Step.RUN.value, Step.POST.value), now)
    pipeline.settle_tasks(s, old, TaskStatus.CANCELLED)
    store.change_job(
        s,
        old,
        who,
        "replace",
        Status.REPLACED,
        comment=f"replaced by job {new_id}",
        replaced_by=new_id,
        reason=f"replaced by job {new_id}",
        step=Step.END.value,
        ended_at=now,
        due_at=None,
    )


__all__ = [
    "expire_unfinished",
    "mark_replaced",
    "reschedule_failed",
    "revive_due_tasks",
    "schedule_of",
    "sweep_expired_schedules",
    "wait_for_retry",
    "waiting_tasks",
    "window_gate",
]
