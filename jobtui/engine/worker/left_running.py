"""Whether an op of a job may still run on another host, which retry, rerun, rollback and delete wait for."""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from jobtui.engine.db.models import AuditEvent, Job, OpRun
from jobtui.engine.domain.states import OpStatus
from jobtui.engine.worker.state import (
    HOST_GONE,
    OP_LEFT_RUNNING,
    ORPHAN_ACTIONS,
    engine_who,
    host_gone_said,
)


def op_left_elsewhere(s: Session, job: Job) -> OpRun | None:
    """The op of the job's current execution that may still run on another host: its engine was lost, an
    engine of another host abended the job (it cannot kill an op there), and no engine of the op's host has
    said since that the op is gone: its own engine coming back (it kills the op as it finds its lease gone,
    and says so once the op has died), or an engine of the host starting, which finds that engine dead and
    kills the op, or finds it ended, and says so in the job's trail (`Supervisor.kill_orphans`, before it
    registers). Retry, rerun and rollback wait for it: the job would run twice, or be undone while it
    still runs."""
    op = s.scalars(
        select(OpRun)
        .where(
            OpRun.job_id == job.id,
            OpRun.exec == job.exec,
            # An abend fails the op; a cancel stops it, skipped past (neither with an exit status).
            OpRun.status.in_([OpStatus.FAILED.value, OpStatus.SKIPPED.value]),
            OpRun.exit_code.is_(None),
            OpRun.completed_at.is_not(None),
            OpRun.host.is_not(None),
        )
        .order_by(OpRun.completed_at.desc())
    ).first()
    if op is None or op.host is None or op.completed_at is None or not (op.pid or op.token):
        return None
    # Canceled from a host that could not signal it: only an engine of its host saying it is gone will do
    # (its own, once it has signalled it and seen it end; or one starting there), or an admin's word.
    canceled_elsewhere = s.scalars(
        select(AuditEvent.id).where(
            AuditEvent.job_id == job.id,
            AuditEvent.action == OP_LEFT_RUNNING,
            AuditEvent.at >= op.completed_at,
        )
    ).first()
    if canceled_elsewhere is None:
        ended_by = s.scalars(
            select(AuditEvent.who)
            .where(AuditEvent.job_id == job.id, AuditEvent.action == "abend")
            .order_by(AuditEvent.id.desc())
        ).first()
        if ended_by is None or ended_by == engine_who(op.host):
            return None  # an engine of its own host abended it, and killed what was left of it there
    # Its own engine came back (it found its lease gone: it kills the op and says so once the op is gone,
    # or that it was gone already; its heartbeat alone let a retry run the op again beside one still
    # cleaning up after its SIGTERM), or an engine of its host starting found its engine dead and killed
    # the op, or found it ended; or an admin declared its host gone for good.
    dealt_with = s.scalars(
        select(AuditEvent.id).where(
            AuditEvent.job_id == job.id,
            or_(
                and_(AuditEvent.action.in_(ORPHAN_ACTIONS), AuditEvent.who == engine_who(op.host)),
                and_(
                    AuditEvent.action == HOST_GONE,
                    AuditEvent.comment.startswith(host_gone_said(op.host), autoescape=True),
                ),
            ),
            AuditEvent.at >= op.completed_at,
        )
    ).first()
    return None if dealt_with is not None else op
