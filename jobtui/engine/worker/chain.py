"""Envelope chains (seed 004): a job starts only after the one before it FINISHED; when one ends any other
way the rest are cancelled. Notifications record what happened to the envelope.

`Store.change_job` calls `job_status_changed` for every status change of a job in an envelope, so the
chain follows whoever moved the job: the engine, an operator, the expiry sweep.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from jobtui.engine.db.models import Envelope, Job, Notification
from jobtui.engine.db.store import Store, on_status_change
from jobtui.engine.domain.envelopes import ACTIVE_JOB, EnvelopeStatus, derive_status
from jobtui.engine.domain.states import FINAL_STATUSES, Status, Step, TaskStatus
from jobtui.engine.worker.pipeline import settle_tasks, skip_pending

ROLLBACK_JOB_TYPE = "envelope-rollback"
# Cancelling the rest of a chain changes jobs of the same envelope: don't follow the chain again for those.
_BUSY = "jobtui_chain_busy"


def notify(
    store: Store, s: Session, envelope_id: int, level: str, text: str, job_id: int | None = None
) -> None:
    s.add(Notification(envelope_id=envelope_id, job_id=job_id, at=store.now(), level=level, text=text))


def chain_of(s: Session, envelope_id: int) -> list[Job]:
    """The envelope's jobs in chain order (the rollback job, when there is one, last)."""
    jobs = s.exec(
        select(Job)
        .where(Job.envelope_id == envelope_id)
        .order_by(col(Job.envelope_position).is_(None), col(Job.envelope_position), col(Job.id))
    ).all()
    return list(jobs)


def job_status_changed(store: Store, s: Session, job: Job, src: Status, dst: Status, who: str) -> None:
    if job.envelope_id is None:
        return
    assert job.id is not None
    envelope = s.get(Envelope, job.envelope_id)
    if envelope is None:
        return
    label = f"job {job.id} ({job.name})"
    if job.type == ROLLBACK_JOB_TYPE:
        if dst == Status.ROLLEDBACK:
            envelope.status = EnvelopeStatus.ROLLEDBACK.value
            s.add(envelope)
            notify(store, s, envelope.id or 0, "info", f"rollback of envelope {envelope.name} ended", job.id)
        elif dst in (Status.ERROR, Status.ABEND, Status.CANCELED):
            notify(
                store,
                s,
                envelope.id or 0,
                "error",
                f"rollback of envelope {envelope.name} failed: {dst.value}",
                job.id,
            )
        return
    if dst == Status.TRAPPED:
        notify(
            store, s, envelope.id or 0, "warning", f"{label} trapped: {job.reason or 'an op failed'}", job.id
        )
    elif dst in (Status.ERROR, Status.ABEND):
        notify(
            store,
            s,
            envelope.id or 0,
            "error",
            f"{label} ended {dst.value}: {job.reason or 'failed'}",
            job.id,
        )
    elif dst == Status.EXPIRED:
        notify(store, s, envelope.id or 0, "warning", f"{label} expired", job.id)
    if dst not in FINAL_STATUSES or s.info.get(_BUSY):
        return
    s.info[_BUSY] = True
    try:
        _follow_chain(store, s, envelope, job, dst, who)
    finally:
        s.info.pop(_BUSY, None)


def _follow_chain(store: Store, s: Session, envelope: Envelope, job: Job, dst: Status, who: str) -> None:
    later = [
        other
        for other in chain_of(s, envelope.id or 0)
        if other.envelope_position is not None
        and job.envelope_position is not None
        and other.envelope_position > job.envelope_position
        and other.status == Status.READY
        and other.started_at is None
        and other.due_at is None
    ]
    if later and dst == Status.FINISHED:
        nxt = later[0]
        store.change_job(
            s, nxt, who, "chain", comment=f"job {job.id} finished", due_at=store.now(), reason=None
        )
    elif later:
        why = f"envelope {envelope.name}: job {job.id} ({job.name}) ended {dst.value}"
        for other in later:
            skip_pending(s, other, (Step.PRE.value, Step.RUN.value, Step.POST.value), store.now())
            settle_tasks(s, other, TaskStatus.CANCELLED)
            store.change_job(
                s, other, who, "chain cancel", Status.CANCELED, comment=why, reason=why, ended_at=store.now()
            )
    statuses = [other.status for other in chain_of(s, envelope.id or 0)]
    if not any(Status(status) in ACTIVE_JOB for status in statuses):
        derived = derive_status(envelope.status, statuses)
        level = "info" if derived == EnvelopeStatus.SUCCESS else "error"
        notify(
            store, s, envelope.id or 0, level, f"envelope {envelope.name} finished: {derived.value}", job.id
        )


on_status_change(job_status_changed)
