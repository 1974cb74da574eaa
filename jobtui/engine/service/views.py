"""Jobs as plain data: the JSON contract of the CLI, and what the dashboard reads."""

from __future__ import annotations

from typing import Any

import pendulum
from sqlalchemy import String, bindparam, func, or_, select, text
from sqlalchemy.orm import Session

from jobtui.engine.db.models import AuditEvent, Job, OpRun, Task, UTCDateTime
from jobtui.engine.db.rows import check_job
from jobtui.engine.db.store import Store
from jobtui.engine.domain.states import Status
from jobtui.engine.read.job_document import (
    PREVIOUS_JOBS,
    PREVIOUS_RUNS,
    add_previous_runs,
    detail_json,
    iso,
    job_document,
    running_steps,
    tasks_json,
    trap_document,
)


def trap_view(job: Job, session: Session, now: pendulum.DateTime) -> dict[str, Any] | None:
    if job.status not in (Status.TRAPPED, Status.TRAP_PAUSED):
        return None
    op = session.get(OpRun, job.trap_op_run_id) if job.trap_op_run_id else None
    task = session.get(Task, op.task_id) if op is not None and op.per_target and op.task_id else None
    return trap_document(
        job,
        job.trap_deadline_at,
        job.trap_left_s,
        op.name if op else None,
        task.target if task is not None else None,
        now,
    )


def job_json(job: Job, session: Session, now: pendulum.DateTime, lang: str = "en") -> dict[str, Any]:
    """Raises CorruptRow, naming the job and the field, for a row holding a value jobtui does not know."""
    check_job(job)
    return job_document(job, trap_view(job, session, now), lang)


def task_window(
    job: Job, session: Session, start: int = 0, count: int | None = None
) -> tuple[list[dict[str, Any]], int, list[OpRun]]:
    """The job's tasks by position from `start` (at most `count` of them; all: None), each with its
    steps of the job's exec; how many tasks the job has in all; and the ops read: those of these tasks
    and those of no task."""
    task_query = select(Task).where(Task.job_id == job.id).order_by(Task.position)
    if start:
        task_query = task_query.offset(start)
    if count is not None:
        task_query = task_query.limit(count)
    tasks = list(session.scalars(task_query))
    total = len(tasks)
    if start or (count is not None and total == count):
        total = int(
            session.scalars(select(func.count()).select_from(Task).where(Task.job_id == job.id)).one()
        )
    op_query = select(OpRun).where(OpRun.job_id == job.id, OpRun.exec == job.exec)
    if total > len(tasks):
        shown_ids = [task.id for task in tasks]
        op_query = op_query.where(or_(OpRun.task_id.in_(shown_ids), OpRun.task_id.is_(None)))
    ops = list(session.scalars(op_query.order_by(OpRun.position)))
    return tasks_json(tasks, ops), total, ops


def job_detail_json(
    job: Job,
    session: Session,
    now: pendulum.DateTime,
    lang: str = "en",
    max_tasks: int | None = None,
    first_task: int = 0,
    log_file: str | None = None,
) -> dict[str, Any]:
    """The `show` JSON. `max_tasks`: only that many tasks from position `first_task` on (the dashboard's
    pane of a job with thousands of targets: `tasks_start` says where they begin); `tasks_total` always
    counts them all. `log_file`: where the job's log is on this host (Store.log_file), else the one its
    row names."""
    tasks, total, ops = task_window(job, session, first_task, max_tasks)
    data = detail_json(
        job_json(job, session, now, lang),
        job,
        tasks,
        total,
        ops,
        first_task if max_tasks is not None else None,
        job.log_path if log_file is None else log_file,
        job.schedule,
        job.definition,
    )
    _add_previous_runs(job, session, running_steps(data))
    return data


def _add_previous_runs(job: Job, session: Session, running: list[dict[str, Any]]) -> None:
    """Give each running op how long its last successful run took ("previous_took_s"): the same op of a
    recent job of the same name and project (this job's other targets and earlier runs included), an ETA
    to set its elapsed time against. Of the job's own project only: whoever may see this job may see
    those."""
    if not running:
        return
    # The job's own kind only: the sort index on name covers listed (non-system) jobs.
    system = ("1" if job.system else "0") if session.get_bind().dialect.name == "sqlite" else str(job.system)
    rows = session.execute(
        text(PREVIOUS_RUNS.format(system=system, ops=":ops"))
        .bindparams(bindparam("ops", expanding=True))
        .columns(name=String(), step=String(), started_at=UTCDateTime(), completed_at=UTCDateTime()),
        {
            "name": job.name,
            "project": job.project,
            "jobs": PREVIOUS_JOBS,
            "ops": sorted({step["name"] for step in running}),
        },
    ).all()
    add_previous_runs(running, rows)


def audit_json(store: Store, job_id: int) -> list[dict[str, Any]]:
    with store.read() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.job_id == job_id).order_by(AuditEvent.id))
        return [
            {
                "at": iso(row.at),
                "who": row.who,
                "action": row.action,
                "from": row.from_status,
                "to": row.to_status,
                "comment": row.comment,
                "refused": bool(row.refused),
                "by": row.by_user,
            }
            for row in rows
        ]
