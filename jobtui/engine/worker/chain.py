"""Envelope chains (seed 004): a job starts only after the one before it FINISHED; when one ends any other
way the rest are cancelled. When the job that stopped the chain is retried (or rerun), the jobs the stop
cancelled come back, waiting in order again ("fix the issue, retry the job, resume processing"), unless
an operator cancelled the envelope or it was rolled back. Notifications record what happened to the envelope.

`Store.change_job` calls `job_status_changed` for every status change of a job in an envelope, so the
chain follows whoever moved the job: the engine, an operator, the expiry sweep.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobtui.engine.db.models import Envelope, Job, Notification
from jobtui.engine.db.store import Store, on_status_change
from jobtui.engine.domain.envelopes import ACTIVE_JOB, STICKY, EnvelopeStatus, derive_status
from jobtui.engine.domain.states import FINAL_STATUSES, ROLLBACK_JOB_TYPE, Status, Step, TaskStatus
from jobtui.engine.worker.pipeline import create_plan, settle_tasks, skip_pending

# Cancelling the rest of a chain changes jobs of the same envelope: don't follow the chain again for those.
_BUSY = "jobtui_chain_busy"


def notify(
    store: Store, s: Session, envelope_id: int, level: str, text: str, job_id: int | None = None
) -> None:
    s.add(Notification(envelope_id=envelope_id, job_id=job_id, at=store.now(), level=level, text=text))


def chain_of(s: Session, envelope_id: int) -> list[Job]:
    """The envelope's jobs in chain order (the rollback job, when there is one, last)."""
    jobs = s.scalars(
        select(Job)
        .where(Job.envelope_id == envelope_id)
        .order_by(Job.envelope_position.is_(None), Job.envelope_position, Job.id)
    ).all()
    return list(jobs)


def job_status_changed(
    store: Store, s: Session, job: Job, src: Status, dst: Status, who: str, action: str
) -> None:
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
    if s.info.get(_BUSY):
        return
    if src in FINAL_STATUSES and dst == Status.READY:
        s.info[_BUSY] = True
        try:
            _resume_chain(store, s, envelope, job, who, action)
        finally:
            s.info.pop(_BUSY, None)
        return
    if dst not in FINAL_STATUSES:
        return
    s.info[_BUSY] = True
    try:
        _follow_chain(store, s, envelope, job, dst, who)
    finally:
        s.info.pop(_BUSY, None)


def waiting_on(s: Session, job: Job) -> list[Job]:
    """The later jobs of `job`'s envelope the chain has not released yet, in chain order: only `job`'s end
    (or an earlier job's) moves them, released or cancelled."""
    if job.envelope_id is None or job.envelope_position is None:
        return []
    return [
        other
        for other in chain_of(s, job.envelope_id)
        if other.envelope_position is not None
        and other.envelope_position > job.envelope_position
        and other.status == Status.READY
        and other.started_at is None
        and other.due_at is None
    ]


def _follow_chain(store: Store, s: Session, envelope: Envelope, job: Job, dst: Status, who: str) -> None:
    later = waiting_on(s, job)
    if later and dst == Status.FINISHED:
        nxt = later[0]
        store.change_job(
            s, nxt, who, "chain", comment=f"job {job.id} finished", due_at=store.now(), reason=None
        )
    elif later:
        why = f"{_stopped_by(envelope, job)} ended {dst.value}"
        for other in later:
            skip_pending(s, other, (Step.PRE.value, Step.RUN.value, Step.POST.value), store.now())
            settle_tasks(s, other, TaskStatus.CANCELLED)
            store.change_job(
                s, other, who, "chain cancel", Status.CANCELED, comment=why, reason=why, ended_at=store.now()
            )
    statuses = [other.status for other in chain_of(s, envelope.id or 0)]
    if not any(status in ACTIVE_JOB for status in statuses):  # a status changed by hand is not active
        derived = derive_status(envelope.status, statuses)
        if derived == EnvelopeStatus.CANCELLED:
            return  # an operator cancelled the envelope, and the cancel notifies that, not errors
        if envelope.status == EnvelopeStatus.ERRORS_ACTIVE:
            # A resumed chain ended: the jobs alone decide again (a later rerun is not "errors").
            envelope.status = EnvelopeStatus.SUCCESS_ACTIVE.value
            s.add(envelope)
        level = "info" if derived == EnvelopeStatus.SUCCESS else "error"
        notify(
            store, s, envelope.id or 0, level, f"envelope {envelope.name} finished: {derived.value}", job.id
        )


def _stopped_by(envelope: Envelope, job: Job) -> str:
    """How the reason of a job cancelled by a chain stop begins (the resume finds them by it)."""
    return f"envelope {envelope.name}: job {job.id} ({job.name})"


# How the trail and the notifications say what brought a job back from its end (`action`, as audited).
_BROUGHT_BACK = {"retry": "retried", "rerun": "rerun", "reschedule": "rescheduled"}


def _resume_chain(store: Store, s: Session, envelope: Envelope, job: Job, who: str, action: str) -> None:
    """`job` left its end for READY (retry, rerun, reschedule: `action`): the jobs its stop cancelled wait
    in order again. The trail and the notification name what was done (a rerun read "was retried")."""
    done = _BROUGHT_BACK.get(action, action)
    if envelope.rollback_job_id is not None or EnvelopeStatus(envelope.status) in STICKY:
        return  # an operator cancelled the envelope, or it was (or is being) rolled back
    if job.envelope_position is None:
        return
    stopped = _stopped_by(envelope, job) + " ended "
    resumed = [
        other
        for other in chain_of(s, envelope.id or 0)
        if other.envelope_position is not None
        and other.envelope_position > job.envelope_position
        and other.status == Status.CANCELED
        and (other.reason or "").startswith(stopped)
    ]
    if not resumed:
        return
    previous = job
    for other in resumed:
        store.change_job(
            s,
            other,
            who,
            "chain resume",
            Status.READY,
            comment=f"resumed after job {job.id} was {done}",
            exec=other.exec + 1,
            step=Step.INIT.value,
            progress=0,
            failed=False,
            failed_step=None,
            outcome=None,
            reason=f"waits for job {previous.id} of envelope {envelope.name}",
            started_at=None,
            run_started_at=None,
            ended_at=None,
            trap_op_run_id=None,
            trap_deadline_at=None,
            trap_left_s=None,
            worker_id=None,
            lease=None,
            due_at=None,
        )
        settle_tasks(s, other, TaskStatus.SCHEDULED, force=True)
        create_plan(s, other, Step.PRE)
        previous = other
    # It had errors: ERRORS_ACTIVE while the chain runs again, SUCCESS if it all ends FINISHED. Unless a
    # failed job of it was deleted (stored ERRORS): that failure stays on record whatever the rest does.
    if envelope.status != EnvelopeStatus.ERRORS:
        envelope.status = EnvelopeStatus.ERRORS_ACTIVE.value
        s.add(envelope)
    ids = ", ".join(str(other.id) for other in resumed)
    waiting = f"job {ids} waits" if len(resumed) == 1 else f"jobs {ids} wait"
    notify(
        store,
        s,
        envelope.id or 0,
        "info",
        f"envelope {envelope.name} resumed: job {job.id} ({job.name}) was {done}; {waiting} in order",
        job.id,
    )
    store.touch(s, None, kind="envelope")


on_status_change(job_status_changed)
