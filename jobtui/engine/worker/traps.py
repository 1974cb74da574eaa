"""Resolving a trapped job: retry, skip or abort its failed op, or pause and resume its countdown.

Operators (service.actions) and the engine's trap timeout (worker.sweeps) both resolve traps here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from jobtui.engine.db.models import Job, OpRun, Task
from jobtui.engine.db.store import Store
from jobtui.engine.domain.states import OpStatus, Status
from jobtui.engine.worker import pipeline
from jobtui.engine.worker.pipeline import JobRef


def resolve_trap(store: Store, s: Session, job: Job, what: str, who: str, comment: str | None) -> str:
    """Retry, skip, abort, pause or resume a trap; shared by operators and the trap timeout. Returns the
    line the job's log says it with, once the transaction commits (`trap skip by alice: RUN op "check"
    [n2]; restarted the db`): the log said "waits for an operator" and then nothing of what one did."""
    now = store.now()
    action = f"trap {what}"
    if what == "pause":
        left = (
            None if job.trap_deadline_at is None else max(0.0, (job.trap_deadline_at - now).total_seconds())
        )
        store.change_job(
            s, job, who, action, Status.TRAP_PAUSED, comment=comment, trap_left_s=left, trap_deadline_at=None
        )
        return _logged(action, who, comment)
    if what == "resume":
        deadline = None if job.trap_left_s is None else now.add(seconds=job.trap_left_s)
        store.change_job(
            s, job, who, action, Status.TRAPPED, comment=comment, trap_deadline_at=deadline, trap_left_s=None
        )
        return _logged(action, who, comment)
    op_run = s.get(OpRun, job.trap_op_run_id) if job.trap_op_run_id else None
    clear: dict[str, Any] = dict(trap_op_run_id=None, trap_deadline_at=None, trap_left_s=None, due_at=now)
    if op_run is not None:
        if what == "retry":
            op_run.status = OpStatus.PENDING.value
            op_run.completed_at = None
            op_run.exit_code = None
        elif what == "skip":
            op_run.status = OpStatus.SKIPPED.value
            op_run.skipped_at = now
        else:
            op_run.error = f"{op_run.error or 'failed'}; aborted by {who}"
        s.add(op_run)
    # The trail names the op resolved (and its target): "trap skip" alone left which host never ran it unsaid.
    said = comment if op_run is None else _op_said(s, op_run) + (f"; {comment}" if comment else "")
    # An abort fails the op while the job is still trapped: where that starts the rollback (DESIGN: "fail
    # the op (rollback, then POST)"), the trap's own change moves it to ROLLBACK; otherwise to READY.
    rolls_back = (
        what == "abort"
        and op_run is not None
        and pipeline.apply_op_failure(
            store, s, job, op_run, JobRef(who), rollback_as=pipeline.RollbackStart(action, said, clear)
        )
    )
    if not rolls_back:
        store.change_job(s, job, who, action, Status.READY, comment=said, **clear)
    if what in ("skip", "abort") and op_run is not None:
        # The task goes on past its op, as past one done: its last, it reads SUCCEEDED; a retry keeps it
        # waiting on the op, which runs again.
        pipeline.unpark_trapped_task(s, job, op_run)
    pipeline.refresh_progress(store, s, job, JobRef(who))
    return _logged(action, who, said)


def _logged(action: str, who: str, said: str | None) -> str:
    return f"{action} by {who}" + (f": {said}" if said else "")


def _op_said(s: Session, op_run: OpRun) -> str:
    """`RUN op "deploy" [web-02]`: the op, and the target of a per-target one."""
    task = s.get(Task, op_run.task_id) if op_run.per_target and op_run.task_id is not None else None
    target = f" [{task.target}]" if task is not None else ""
    return f'{op_run.step} op "{op_run.name}"{target}'
