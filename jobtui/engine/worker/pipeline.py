"""The job pipeline as database state: plans, op results, failures, rollback and the end status.

Both the engine (as ops finish) and operator actions (trap abort, rerun, rollback) change a job's
pipeline; they share these functions so the rules live in one place. Nothing here runs a process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pendulum
from sqlalchemy import (
    ColumnElement,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from jobtui.engine.db.models import OP_RUNS, TASKS, AuditEvent, Job, OpRun, Setting, Task
from jobtui.engine.db.store import Store, on_status_change
from jobtui.engine.domain.definitions import Definition, definition_from_text
from jobtui.engine.domain.states import ROLLBACK_JOB_TYPE, ROLLBACK_STEP, OpStatus, Status, Step, TaskStatus
from jobtui.engine.domain.stored_jobs import DEFINITION_EXPECTED
from jobtui.engine.errors import CorruptRow

STEP_ORDER = {Step.INIT: 0, Step.PRE: 1, Step.RUN: 2, Step.POST: 3, Step.END: 4}
SETTLED_TASK = (TaskStatus.FAILED.value, TaskStatus.CANCELLED.value)


@dataclass(frozen=True)
class JobRef:
    """Who is changing the job and under which lease (None for operators, who go by status)."""

    who: str
    lease: str | None = None


def definition_of(job: Job) -> Definition:
    try:
        return definition_from_text(job.definition)
    except Exception:  # whatever a hand-written value trips on inside, as `show` names it
        raise CorruptRow(f"job {job.id}", "definition", job.definition, DEFINITION_EXPECTED) from None


# Built once: the engine runs these at every op, and building a statement costs more than running it.
_TASKS_OF = (
    select(Task)
    .where(Task.job_id == bindparam("job_id"))
    .order_by(Task.position)
    # Task rows are also changed with Core UPDATEs in the same transaction: never trust loaded copies.
    .execution_options(populate_existing=True)
)
_WAITING_TASKS = select(Task.id).where(
    Task.job_id == bindparam("job_id"), Task.status == TaskStatus.RESCHEDULED.value
)
_NEXT_PENDING = (
    select(OpRun)
    .where(
        OpRun.job_id == bindparam("job_id"),
        OpRun.exec == bindparam("exec"),
        OpRun.step == bindparam("step"),
        # PENDING as a literal: the partial index walked holds those ops only (migration 0015).
        OpRun.status == literal_column(f"'{OpStatus.PENDING.value}'"),
        or_(OpRun.per_target.is_(False), OpRun.task_id.not_in(_WAITING_TASKS)),
    )
    .order_by(OpRun.position)
    .limit(1)
)
_PROGRESS_COUNTS = (
    select(OpRun.task_id, OpRun.status, func.count())
    .where(OpRun.job_id == bindparam("job_id"), OpRun.exec == bindparam("exec"), OpRun.step != ROLLBACK_STEP)
    .group_by(OpRun.task_id, OpRun.status)
)
# One task's counts and the job's totals: at each op of a job of thousands of targets, not a row per task.
_JOB_PROGRESS_COUNTS = (
    select(OpRun.status, func.count())
    .where(OpRun.job_id == bindparam("job_id"), OpRun.exec == bindparam("exec"), OpRun.step != ROLLBACK_STEP)
    .group_by(OpRun.status)
)
_TASK_PROGRESS_COUNTS = (
    select(OpRun.task_id, OpRun.status, func.count())
    .where(
        OpRun.job_id == bindparam("job_id"),
        OpRun.exec == bindparam("exec"),
        OpRun.task_id == bindparam("task_id"),
        OpRun.step != ROLLBACK_STEP,
    )
    .group_by(OpRun.task_id, OpRun.status)
)


# An envelope's rollback job has rollback runs only: they are its progress.
_ROLLBACK_JOB_COUNTS = (
    select(OpRun.status, func.count())
    .where(OpRun.job_id == bindparam("job_id"), OpRun.exec == bindparam("exec"), OpRun.step == ROLLBACK_STEP)
    .group_by(OpRun.status)
)


def tasks_of(session: Session, job_id: int) -> list[Task]:
    return list(session.scalars(_TASKS_OF, params={"job_id": job_id}))


def op_runs_of(session: Session, job: Job, exec_: int | None = None) -> list[OpRun]:
    query = select(OpRun).where(OpRun.job_id == job.id, OpRun.exec == (exec_ or job.exec))
    return list(session.scalars(query.order_by(OpRun.position)))


def plan_rows(
    definition: Definition, job_id: int, exec_: int, task_ids: list[int], from_step: Step
) -> list[dict[str, object]]:
    """The op runs of one execution: each op once, or once per task when per_target, in order."""
    single_task = task_ids[0] if len(task_ids) == 1 else None
    rows: list[dict[str, object]] = []
    for step in (Step.PRE, Step.RUN, Step.POST):
        if STEP_ORDER[step] < STEP_ORDER[from_step]:
            continue
        for op in definition.ops(step.value):
            for task_id in task_ids if op.per_target else [single_task]:
                rows.append(
                    {
                        "job_id": job_id,
                        "task_id": task_id,
                        "exec": exec_,
                        "step": step.value,
                        "op_index": op.index,
                        "position": len(rows),
                        "name": op.name,
                        "per_target": op.per_target,
                        "status": OpStatus.PENDING.value,
                        "rollback": op.rollback,
                        "rolled_back": False,
                    }
                )
    return rows


def create_plan(session: Session, job: Job, from_step: Step) -> None:
    assert job.id is not None
    task_ids = [t.id for t in tasks_of(session, job.id) if t.id is not None]
    rows = plan_rows(definition_of(job), job.id, job.exec, task_ids, from_step)
    if rows:
        session.execute(insert(OP_RUNS), rows)


def next_pending(session: Session, job: Job, step: str) -> OpRun | None:
    """The next op to run in `step`; per-target ops of a task waiting for its next attempt wait too."""
    if step != ROLLBACK_STEP and not definition_of(job).ops(step):
        return None  # plans hold only the definition's ops: nothing to look up
    params = {"job_id": job.id, "exec": job.exec, "step": step}
    return session.scalars(_NEXT_PENDING, params=params).first()


def refresh_progress(
    store: Store, session: Session, job: Job, ref: JobRef, task_id: int | None = None
) -> None:
    """Job progress = ops done / ops of this execution: a job that failed or was cancelled shows where it
    stopped (only a success reaches 100, at its end: `finish_job`). A task's progress is the same share of
    its own ops: a failed, skipped or trapped op is not progress (counted, a cancelled task read 100 % beside
    its job's 0 %), so only a task that succeeds reaches 100.

    Only `task_id`'s progress is recomputed (the task whose op just finished), or every task's when None.
    """
    params = {"job_id": job.id, "exec": job.exec}
    if job.type == ROLLBACK_JOB_TYPE:
        # Its work is its rollback runs (it has no pipeline op: it read 100 from its first run on, and
        # after a failed rollback). Its one task owns none, and reads as its job once it ends.
        totals = [(status, n) for status, n in session.execute(_ROLLBACK_JOB_COUNTS, params=params)]
        total = sum(n for _, n in totals)
        done = sum(n for status, n in totals if status == OpStatus.DONE)
        progress = 100 * done // total if total else (100 if job.step == Step.END else 0)
        if progress != job.progress:
            store.change_job(session, job, ref.who, "progress", held=ref.lease, progress=progress)
        return
    if task_id is None:
        rows = session.execute(_PROGRESS_COUNTS, params=params).all()
        totals = [(status, n) for _, status, n in rows]
    else:
        totals = [(status, n) for status, n in session.execute(_JOB_PROGRESS_COUNTS, params=params)]
        rows = session.execute(_TASK_PROGRESS_COUNTS, params={**params, "task_id": task_id}).all()
    total = sum(n for _, n in totals)
    done = sum(n for status, n in totals if status == OpStatus.DONE)
    progress = 100 if total == 0 and job.step == Step.END else (100 * done // total if total else 0)
    per_task: dict[int, tuple[int, int]] = {}
    for owner, status, n in rows:
        if owner is None:
            continue
        finished, all_ = per_task.get(owner, (0, 0))
        per_task[owner] = (finished + (n if status == OpStatus.DONE else 0), all_ + n)
    for owner, (finished, all_) in per_task.items():
        session.execute(
            update(TASKS).where(TASKS.c.id == owner).values(progress=100 * finished // all_ if all_ else 0)
        )
    if progress != job.progress:
        store.change_job(session, job, ref.who, "progress", held=ref.lease, progress=progress)


def settle_tasks(session: Session, job: Job, status: TaskStatus, force: bool = False) -> None:
    """Every task not already SUCCEEDED or FAILED (every task, with `force`) takes `status`."""
    stmt = update(TASKS).where(TASKS.c.job_id == job.id)
    if not force:
        stmt = stmt.where(TASKS.c.status.not_in([TaskStatus.SUCCEEDED.value, TaskStatus.FAILED.value]))
    values: dict[str, object] = {"status": status.value, "current_step": None, "next_attempt_at": None}
    if force:
        values.update(progress=0, attempts=0)
    session.execute(stmt.values(**values))


def park_running_tasks(session: Session, job: Job) -> None:
    """A job handed back between ops has no task running: they wait, like the job. Once RUN has begun, a
    task with nothing left to run in this execution (its own ops ended, and no job-wide PRE or RUN op,
    which runs for every task, is still to come) reads SUCCEEDED: it runs no more, whatever the job waits
    for (another task's next attempt, a window); "Scheduled" would promise a run. Before RUN (approval,
    RUN's date) a task waits for it even with no op of its own there: a job rejected, expired or
    cancelled then never ran what it was for."""
    session.execute(
        update(TASKS)
        .where(TASKS.c.job_id == job.id, TASKS.c.status == TaskStatus.RUNNING.value)
        .values(status=_parked_status(session, job), current_step=None)
    )


def _parked_status(session: Session, job: Job) -> str | ColumnElement[str]:
    """What a parked task reads (see `park_running_tasks`): SCHEDULED, or SUCCEEDED per task."""
    waits = TaskStatus.SCHEDULED.value
    if not _tasks_may_be_done(session, job):
        return waits
    return case((_own_ops_left(job), waits), else_=TaskStatus.SUCCEEDED.value)


def settle_task_if_done(session: Session, job: Job, op_run: OpRun) -> None:
    """A task whose op (`op_run`, a target's) just succeeded (or was skipped past by a trap skip) and that
    has nothing left to run reads SUCCEEDED at once (as when its job is parked), not RUNNING on that op
    while the job goes on with its other tasks' ops. Only a task's last op in its definition can end it:
    the walk runs a task's ops in plan order, so none is asked of the database for the others (a job of
    thousands of targets)."""
    if op_run.task_id is None or (op_run.step, op_run.op_index) != _last_target_op(job):
        return
    if not _tasks_may_be_done(session, job):
        return
    session.execute(_SETTLE_TASK, {"b_job_id": job.id, "b_exec": job.exec, "b_task_id": op_run.task_id})


def park_trapped_tasks(session: Session, job: Job) -> None:
    """A trapped job runs nothing until an operator (or its trap timeout) answers: no task reads Running
    (the task of the trapped op did, through Trapped and Trap Paused). That task waits, SCHEDULED, like its
    job: its current step still names the trapped op, as the job's `trap` names its target."""
    session.execute(
        update(TASKS)
        .where(TASKS.c.job_id == job.id, TASKS.c.status == TaskStatus.RUNNING.value)
        .values(status=TaskStatus.SCHEDULED.value)
    )


def unpark_trapped_task(session: Session, job: Job, op_run: OpRun) -> None:
    """The trapped op was skipped or aborted: its task, still waiting (not failed by the abort), is past
    that op; its current step no longer names it (it waits for its next op, or for the job's end). A
    skipped last op ends the task as a done one would: SUCCEEDED."""
    if op_run.task_id is None:
        return
    session.flush()
    if op_run.per_target:
        settle_task_if_done(session, job, op_run)
    session.execute(
        update(TASKS)
        .where(TASKS.c.id == op_run.task_id, TASKS.c.status == TaskStatus.SCHEDULED.value)
        .values(current_step=None)
    )


def settle_done_tasks(session: Session, job: Job) -> None:
    """RUN went through: a task that ran ops of its own and has none left (its last was in PRE, or a
    job-wide RUN op came after its own) reads SUCCEEDED, not Running (or Scheduled, parked at RUN's gate)
    on an op long done while POST runs. A task that owns no op (job-wide ops only) waits for the end."""
    waiting = (TaskStatus.RUNNING.value, TaskStatus.SCHEDULED.value)
    session.execute(
        update(TASKS)
        .where(
            TASKS.c.job_id == job.id,
            TASKS.c.status.in_(waiting),
            _own_ops(job, (OpStatus.DONE.value,)),
            ~_own_ops_left(job),
        )
        .values(status=TaskStatus.SUCCEEDED.value, current_step=None)
    )


PLANNED_STEPS = (Step.PRE, Step.RUN, Step.POST)
_UNFINISHED_OP = (OpStatus.PENDING.value, OpStatus.RUNNING.value)
# Built once, as _NEXT_PENDING: statements run at every op of a job cost more to build than to run.
_SETTLE_TASK = (
    update(TASKS)
    .where(
        TASKS.c.id == bindparam("b_task_id"),
        # SCHEDULED: the task of a trapped op, which waits for the operator (park_trapped_tasks).
        TASKS.c.status.in_([TaskStatus.RUNNING.value, TaskStatus.SCHEDULED.value]),
        ~exists().where(
            OP_RUNS.c.job_id == bindparam("b_job_id"),
            OP_RUNS.c.exec == bindparam("b_exec"),
            OP_RUNS.c.task_id == bindparam("b_task_id"),
            OP_RUNS.c.step != ROLLBACK_STEP,
            OP_RUNS.c.status.in_(_UNFINISHED_OP),
        ),
    )
    .values(status=TaskStatus.SUCCEEDED.value, current_step=None)
)
_SHARED_OP_LEFT = (
    select(OP_RUNS.c.id)
    .where(
        OP_RUNS.c.job_id == bindparam("job_id"),
        OP_RUNS.c.exec == bindparam("exec_"),
        OP_RUNS.c.task_id.is_(None),
        OP_RUNS.c.step.in_([Step.PRE.value, Step.RUN.value]),
        OP_RUNS.c.status.in_(_UNFINISHED_OP),
    )
    .limit(1)
)
_PARK_OTHER_TASKS = (
    update(TASKS)
    .where(
        TASKS.c.job_id == bindparam("b_job_id"),
        TASKS.c.status == TaskStatus.RUNNING.value,
        TASKS.c.id != bindparam("b_task_id"),
    )
    .values(status=bindparam("b_rest"), current_step=None)
)
_START_TASK = (
    update(TASKS)
    .where(TASKS.c.id == bindparam("task_id"))
    .values(
        # A task that already failed for good stays failed while POST runs its notifications.
        status=case((TASKS.c.status.in_(SETTLED_TASK), TASKS.c.status), else_=TaskStatus.RUNNING.value),
        last_triggered_at=bindparam("now"),
        current_step=bindparam("op_name"),
        # The first op of a task is its first attempt; later attempts count up on retry.
        attempts=case((TASKS.c.attempts < 1, 1), else_=TASKS.c.attempts),
    )
)


def _last_target_op(job: Job) -> tuple[str, int] | None:
    """The step and index of the last op, in plan order, that runs once per target; None without one."""
    last = None
    for step in PLANNED_STEPS:
        for op in definition_of(job).ops(step.value):
            if op.per_target:
                last = (step.value, op.index)
    return last


def _tasks_may_be_done(session: Session, job: Job) -> bool:
    """RUN has begun and no job-wide PRE or RUN op, which runs for every task, is still to come."""
    if job.run_started_at is None:
        return False
    definition = definition_of(job)
    if all(op.per_target for step in (Step.PRE, Step.RUN) for op in definition.ops(step.value)):
        return True  # there are none
    shared_left = session.execute(_SHARED_OP_LEFT, {"job_id": job.id, "exec_": job.exec}).first()
    return shared_left is None


def _own_ops_left(job: Job) -> ColumnElement[bool]:
    """Whether the task of the row (TASKS) has an op of this execution still to end (rollbacks aside)."""
    return _own_ops(job, _UNFINISHED_OP)


def _own_ops(job: Job, statuses: tuple[str, ...]) -> ColumnElement[bool]:
    """Whether the task of the row (TASKS) has an op of this execution in one of `statuses` (rollbacks
    aside). One uncorrelated set of task ids, read once per statement: a subquery per task row read the
    job's every op for each of its tasks (a job of 20,000 targets, 400 million rows)."""
    return TASKS.c.id.in_(
        select(OP_RUNS.c.task_id).where(
            OP_RUNS.c.job_id == job.id,
            OP_RUNS.c.exec == job.exec,
            OP_RUNS.c.task_id.is_not(None),
            OP_RUNS.c.step != ROLLBACK_STEP,
            OP_RUNS.c.status.in_(statuses),
        )
    )


def mark_op_started(store: Store, session: Session, job: Job, op_run: OpRun, ref: JobRef) -> None:
    now = store.now()
    op_run.status = OpStatus.RUNNING.value
    op_run.started_at = now
    op_run.exit_code = None
    op_run.error = None
    op_run.completed_at = None
    op_run.skipped_at = None
    session.add(op_run)
    # A job runs one op at a time: the task whose op ran before, with ops still to come, waits for them
    # (it read Running on an op long done while the job ran the other targets' ops, or a job-wide op, which
    # belongs to no task).
    rest = _rest_in_rollback(job) if op_run.step == ROLLBACK_STEP else TaskStatus.SCHEDULED.value
    session.execute(_PARK_OTHER_TASKS, {"b_job_id": job.id, "b_task_id": op_run.task_id or 0, "b_rest": rest})
    if op_run.task_id is not None:
        session.execute(_START_TASK, {"task_id": op_run.task_id, "now": now, "op_name": op_run.name})
    store.change_job(session, job, ref.who, "step", held=ref.lease)


def _rest_in_rollback(job: Job) -> str:
    """What a task reads while no rollback op of its runs. A manual rollback undoes an ended job whose
    tasks had done what they were asked: SUCCEEDED, as they end (undone is not failed). An automatic one
    runs inside the failed RUN, whose tasks wait for the job's end, as they did before it began."""
    return TaskStatus.SUCCEEDED.value if job.step == Step.END else TaskStatus.SCHEDULED.value


def skip_pending(
    session: Session, job: Job, steps: tuple[str, ...], now: pendulum.DateTime, task_id: int | None = None
) -> None:
    stmt = update(OP_RUNS).where(
        OP_RUNS.c.job_id == job.id,
        OP_RUNS.c.exec == job.exec,
        OP_RUNS.c.step.in_(steps),
        OP_RUNS.c.status == OpStatus.PENDING.value,
    )
    if task_id is not None:
        stmt = stmt.where(OP_RUNS.c.task_id == task_id, OP_RUNS.c.per_target.is_(True))
    session.execute(stmt.values(status=OpStatus.SKIPPED.value, skipped_at=now))


def expire_through_post(
    store: Store,
    session: Session,
    job: Job,
    ref: JobRef,
    now: pendulum.DateTime,
    comment: str,
    reason: str,
) -> bool:
    """RUN did not start in time (its Max Start Date, its schedule's end). A job through PRE (waiting at
    RUN's gate: its date, its approval, its window) still runs its POST step, then ends EXPIRED: seed
    001's POST "runs in the event of success or failure after a PRE or RUN step" (seed 002: whatever the
    steps before produced), as a rejected job's does; its notifications never said the job expired. True
    when it does so (a job held by an engine goes on to POST; one held by none is due now); False for a
    job that never got through PRE (never started, or expired in PRE: its PRE ops stay pending, and a
    reschedule runs them) or has no POST op left, which the caller expires at once."""
    if not _through_pre(session, job) or next_pending(session, job, Step.POST.value) is None:
        return False
    skip_pending(session, job, (Step.RUN.value,), now)
    held = job.worker_id is not None
    store.change_job(
        session,
        job,
        ref.who,
        "expire",
        Status.RUNNING if held else Status.READY,
        comment=f"{comment}; POST runs",
        held=ref.lease,
        step=Step.POST.value,
        outcome=Status.EXPIRED.value,
        reason=reason,
        due_at=None if held else now,
    )
    return True


def _through_pre(session: Session, job: Job) -> bool:
    """Whether the job got through PRE: at RUN's gate, or in PRE with nothing of it left to run or to try
    again (a window that closed as its last PRE op ended leaves the job in PRE)."""
    if job.started_at is None or job.failed or job.step not in (Step.PRE, Step.RUN):
        return False
    if job.step == Step.RUN:
        return True
    left = session.execute(
        select(OP_RUNS.c.id)
        .where(
            OP_RUNS.c.job_id == job.id,
            OP_RUNS.c.exec == job.exec,
            OP_RUNS.c.step == Step.PRE.value,
            OP_RUNS.c.status.in_([OpStatus.PENDING.value, OpStatus.RUNNING.value]),
        )
        .limit(1)
    ).first()
    return left is None and session.execute(_WAITING_TASKS, {"job_id": job.id}).first() is None


def apply_op_failure(
    store: Store,
    session: Session,
    job: Job,
    op_run: OpRun,
    ref: JobRef,
    rollback_as: RollbackStart | None = None,
) -> bool:
    """An op failed for good (on_error = fail, or a trap aborted): decide what the job does next. True
    when it began the job's rollback.

    A per-target op fails only its task; any other op fails the job: the rest of PRE/RUN is skipped and
    POST runs. A RUN failure with rollback_on_error first rolls back (`rollback_as`: the audited change
    that starts it, when not the engine's automatic one). A failed rollback op ends the rollback with
    "rollback failed".
    """
    now = store.now()
    if op_run.step == ROLLBACK_STEP:
        skip_pending(session, job, (ROLLBACK_STEP,), now)
        store.change_job(
            session,
            job,
            ref.who,
            "step",
            held=ref.lease,
            outcome=Status.ERROR.value,
            reason="rollback failed",
        )
        return False
    if op_run.per_target and op_run.task_id is not None:
        session.execute(
            update(TASKS).where(TASKS.c.id == op_run.task_id).values(status=TaskStatus.FAILED.value)
        )
        skip_pending(session, job, (Step.PRE.value, Step.RUN.value), now, task_id=op_run.task_id)
        return False
    skip_pending(
        session,
        job,
        (Step.PRE.value, Step.RUN.value, Step.POST.value)
        if op_run.step == Step.POST
        else (Step.PRE.value, Step.RUN.value),
        now,
    )
    store.change_job(
        session,
        job,
        ref.who,
        "step",
        held=ref.lease,
        failed=True,
        failed_step=op_run.step,
        reason=f'{op_run.step} op "{op_run.name}" failed',
    )
    if (
        op_run.step != Step.RUN
        or not definition_of(job).rollback_on_error
        or not has_rollback_work(session, job)
    ):
        return False
    if rollback_as is None:
        begin_rollback(store, session, job, ref, comment=f'automatic: RUN op "{op_run.name}" failed')
    else:
        begin_rollback(
            store, session, job, ref, rollback_as.comment, rollback_as.action, **rollback_as.fields
        )
    return True


@dataclass(frozen=True)
class RollbackStart:
    """The audited change that starts a rollback on a failure an operator (or a trap timeout) decided: the
    trap's abort, its comment, and the fields it sets with it."""

    action: str
    comment: str | None
    fields: dict[str, Any]


@dataclass(frozen=True)
class Retried:
    """What a retry of a partially succeeded job runs again: from `step`, the tasks of `targets`."""

    step: Step
    targets: list[str]


def pend_unsucceeded_tasks(session: Session, job: Job) -> Retried:
    """A PARTIAL job retried (seed 004: retry the job that failed): its tasks that did not succeed (FAILED,
    or CANCELLED by an expiry before they ran) run again, in this execution, from where they stopped; the
    tasks that succeeded are left alone, their ops done. Pending again: those tasks' failed PRE/RUN ops
    (not one whose failure was ignored: they went past it) and those the failure or expiry skipped before
    they ran (not one an operator skipped by a trap skip, which ran and failed first); a job-wide PRE/RUN op
    an expiry skipped before it ran; and POST, which runs either way, for those tasks and the job."""
    assert job.id is not None
    retried = session.scalars(
        select(Task)
        .where(
            Task.job_id == job.id,
            Task.status.in_([TaskStatus.FAILED.value, TaskStatus.CANCELLED.value]),
        )
        .order_by(Task.position)
    ).all()
    task_ids = [task.id for task in retried if task.id is not None]
    ignored = {
        (step.value, op.index)
        for step in PLANNED_STEPS
        for op in definition_of(job).ops(step.value)
        if op.on_error == "ignore"
    }
    never_ran = (OP_RUNS.c.status == OpStatus.SKIPPED.value) & OP_RUNS.c.started_at.is_(None)
    mine = OP_RUNS.c.per_target.is_(True) & OP_RUNS.c.task_id.in_(task_ids)
    shared = OP_RUNS.c.per_target.is_(False)
    ops = session.execute(
        select(OP_RUNS.c.id, OP_RUNS.c.step, OP_RUNS.c.op_index, OP_RUNS.c.status).where(
            OP_RUNS.c.job_id == job.id,
            OP_RUNS.c.exec == job.exec,
            or_(
                OP_RUNS.c.step.in_([Step.PRE.value, Step.RUN.value])
                & ((mine & ((OP_RUNS.c.status == OpStatus.FAILED.value) | never_ran)) | (shared & never_ran)),
                (OP_RUNS.c.step == Step.POST.value) & (mine | shared),
            ),
        )
    ).all()
    pend = [
        op_id
        for op_id, step, index, status in ops
        if not (status == OpStatus.FAILED.value and (step, index) in ignored)
    ]
    if pend:
        session.execute(
            update(OP_RUNS)
            .where(OP_RUNS.c.id.in_(pend))
            .values(
                status=OpStatus.PENDING.value,
                started_at=None,
                skipped_at=None,
                completed_at=None,
                exit_code=None,
                error=None,
            )
        )
    pending = set(pend)
    steps = {step for op_id, step, _, _ in ops if op_id in pending}
    first = next((step for step in (Step.PRE, Step.RUN) if step.value in steps), Step.POST)
    if task_ids:
        session.execute(
            update(TASKS)
            .where(TASKS.c.id.in_(task_ids))
            .values(
                status=TaskStatus.SCHEDULED.value,
                current_step=None,
                next_attempt_at=None,
                attempts=TASKS.c.attempts + 1,
            )
        )
    return Retried(first, [task.target for task in retried])


def has_rollback_work(session: Session, job: Job) -> bool:
    return bool(_rollback_candidates(session, job))


def _rollback_candidates(session: Session, job: Job) -> list[OpRun]:
    return list(
        session.scalars(
            select(OpRun)
            .where(
                OpRun.job_id == job.id,
                OpRun.status == OpStatus.DONE.value,
                OpRun.rollback.is_not(None),
                OpRun.rolled_back.is_(False),
                OpRun.step != ROLLBACK_STEP,
            )
            .order_by(OpRun.completed_at.desc(), OpRun.id.desc())
        )
    )


def begin_rollback(
    store: Store,
    session: Session,
    job: Job,
    ref: JobRef,
    comment: str | None,
    action: str = "rollback",
    **fields: Any,
) -> None:
    """Queue the rollback commands of the completed ops, newest first, and move the job to ROLLBACK (with
    `fields` set in the same change)."""
    base = 1_000_000
    for offset, done in enumerate(_rollback_candidates(session, job)):
        session.add(
            OpRun(
                job_id=job.id or 0,
                task_id=done.task_id,
                exec=job.exec,
                step=ROLLBACK_STEP,
                op_index=done.op_index,
                position=base + offset,
                name=f"rollback {done.name}",
                per_target=done.per_target,
                rollback_of=done.id,
                rollback=done.rollback,
            )
        )
    session.flush()
    store.change_job(
        session, job, ref.who, action, Status.ROLLBACK, comment=comment, held=ref.lease, **fields
    )


def end_status_from_tasks(session: Session, job: Job, tasks: list[Task] | None = None) -> Status:
    if job.outcome:
        return Status(job.outcome)
    if job.failed:
        return Status.ERROR
    assert job.id is not None
    tasks = tasks_of(session, job.id) if tasks is None else tasks
    # Tasks still SCHEDULED/RUNNING here walked all their ops; cancelled ones count as not succeeded.
    not_succeeded = (TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.RESCHEDULED)
    succeeded = [t for t in tasks if t.status not in not_succeeded]
    if len(succeeded) == len(tasks):
        return Status.FINISHED
    return Status.PARTIAL if succeeded else Status.ERROR


def finish_job(
    store: Store,
    session: Session,
    job: Job,
    ref: JobRef,
    end: Status,
    comment: str | None = None,
    tasks: list[Task] | None = None,
    settle_as: TaskStatus | None = None,
) -> None:
    """Reach END: settle every task (`tasks`, when the caller just loaded them; as `settle_as` when given,
    else as `end` says), stamp the end date, let go of the job."""
    assert job.id is not None
    now = store.now()
    for task in tasks_of(session, job.id) if tasks is None else tasks:
        if task.status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
            continue
        if settle_as is not None:
            task.status = settle_as.value
        elif end in (Status.CANCELED, Status.REJECTED, Status.EXPIRED):
            task.status = TaskStatus.CANCELLED.value
        elif end == Status.FINISHED or (end == Status.PARTIAL):
            task.status = TaskStatus.SUCCEEDED.value
        else:
            task.status = TaskStatus.FAILED.value
        task.current_step = None
        session.add(task)
    store.change_job(
        session,
        job,
        ref.who,
        "finish",
        end,
        comment=comment or job.reason,
        held=ref.lease,
        step=Step.END.value,
        ended_at=now,
        due_at=None,
        worker_id=None,
        lease=None,
    )
    if end == Status.FINISHED and job.progress != 100 and not _has_unfinished_ops(session, job):
        store.change_job(session, job, ref.who, "progress", progress=100)
    if end in SUCCESSES or settle_as == TaskStatus.SUCCEEDED:
        # A rollback that completed settles its tasks SUCCEEDED: they read 100 too (an envelope's
        # rollback job's task, which owns no op, read 0 beside its job's 100).
        _complete_succeeded_tasks(session, job)


# The ends whose succeeded tasks are complete: every op of theirs ran (or was skipped by a rule, not by a
# failure). The job itself reaches 100 only FINISHED: a PARTIAL one has tasks that failed, whose ops are
# not done, and keeps where it stopped as a failed job does ("100%" read as all done).
SUCCESSES = (Status.FINISHED, Status.PARTIAL)


def _complete_succeeded_tasks(session: Session, job: Job) -> None:
    """A task that succeeded reads 100, as its job does: an op of it skipped by an operator (trap skip)
    or failed with `on_error = "ignore"` is not done, yet the task went on past it; a task that owns no op
    (a job of several targets with job-wide ops only) has no share of its own to count."""
    session.flush()  # the statuses just settled, before the statement that reads them
    mine = (OP_RUNS.c.task_id == TASKS.c.id, OP_RUNS.c.exec == job.exec, OP_RUNS.c.step != ROLLBACK_STEP)
    unfinished = OP_RUNS.c.status.in_([OpStatus.PENDING.value, OpStatus.RUNNING.value])
    session.execute(
        update(TASKS)
        .where(
            TASKS.c.job_id == job.id,
            TASKS.c.status == TaskStatus.SUCCEEDED.value,
            TASKS.c.progress != 100,
            ~select(OP_RUNS.c.id).where(*mine, unfinished).exists(),
        )
        .values(progress=100)
    )


def _has_unfinished_ops(session: Session, job: Job) -> bool:
    return (
        session.scalars(
            select(OpRun.id)
            .where(
                OpRun.job_id == job.id,
                OpRun.exec == job.exec,
                OpRun.status.in_([OpStatus.PENDING.value, OpStatus.RUNNING.value]),
            )
            .limit(1)
        ).first()
        is not None
    )


# The ends that are not a success: with pause_queue_on_failure on, any of them pauses the queue.
PAUSING_ENDS = frozenset({Status.ERROR, Status.ABEND, Status.PARTIAL, Status.EXPIRED})


def _pause_on_failure(
    store: Store, session: Session, job: Job, src: Status, dst: Status, who: str, action: str
) -> None:
    """Whoever ended the job (the engine, the expiry sweep), a failed end pauses the queue when configured."""
    if dst in PAUSING_ENDS:
        pause_queue_if_configured(store, session, job, who)


on_status_change(_pause_on_failure)


def pause_queue_if_configured(store: Store, session: Session, job: Job, who: str) -> None:
    """Pause the queue for the failed `job` when `pause_queue_on_failure` is on, recorded in the queue's
    trail (as an operator's pause is) and the job's: who paused it, and why."""
    if store.get_setting(session, "pause_queue_on_failure", False) and not store.get_setting(
        session, "queue_paused", False
    ):
        reason = f"job {job.id} ({job.name}) ended {job.status}"
        store.set_setting(session, "queue_paused", True)
        store.set_setting(session, "queue_paused_reason", reason)
        store.set_setting(session, "queue_paused_by", "engine")
        session.add(
            AuditEvent(
                job_id=0, job_name="(queue)", at=store.now(), who=who, action="queue pause", comment=reason
            )
        )
        why = "the queue is paused: pause_queue_on_failure is on"
        store.audit(session, job, who, "queue pause", job.status, job.status, why)
        store.touch(session, None, kind="queue")


def queue_paused(store: Store, session: Session) -> bool:
    row = session.get(Setting, "queue_paused")
    return bool(row is not None and json.loads(row.value))
