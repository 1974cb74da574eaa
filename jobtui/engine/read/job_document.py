"""A job as the CLI's JSON contract gives it (`jobtui jobs --json`, the head of `show --json`), from its
stored values: the ORM's rows (service.views) and the plain driver's (read.job_pages) build it here alike,
so the two read paths cannot drift apart."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import pendulum

from jobtui.engine.domain.states import Status, status_label
from jobtui.engine.domain.stored_jobs import natures_of


class StoredJob(Protocol):
    """What a job's document is built from: an ORM Job, or a row the plain driver read."""

    @property
    def id(self) -> int | None: ...
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def project(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def step(self) -> str: ...
    @property
    def progress(self) -> int: ...
    @property
    def natures(self) -> str: ...
    @property
    def owner(self) -> str: ...
    @property
    def envelope_id(self) -> int | None: ...
    @property
    def exec(self) -> int: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def scheduled_at(self) -> datetime | None: ...
    @property
    def max_start_at(self) -> datetime | None: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def ended_at(self) -> datetime | None: ...
    @property
    def system(self) -> bool: ...
    @property
    def status_since(self) -> datetime | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def replaced_by(self) -> int | None: ...
    @property
    def due_at(self) -> datetime | None: ...
    @property
    def run_started_at(self) -> datetime | None: ...


def iso(when: datetime | None) -> str | None:
    return None if when is None else pendulum.instance(when).in_timezone("UTC").isoformat()


def next_run_at(job: StoredJob) -> pendulum.DateTime | None:
    """When the engine will next pick the job up (a window opening, a retry, the RUN date)."""
    if job.status not in (Status.READY, Status.PAUSED) or job.due_at is None:
        return None
    due = pendulum.instance(job.due_at)
    if job.run_started_at is None and job.scheduled_at is not None:
        return max(due, pendulum.instance(job.scheduled_at))
    return due


def job_document(job: StoredJob, trap: dict[str, Any] | None, lang: str = "en") -> dict[str, Any]:
    """The job's JSON; `trap` what its trap is (None: it is not trapped). Its values were checked
    (stored_jobs): a status jobtui does not know raises CorruptRow."""
    return {
        "id": job.id,
        "name": job.name,
        "type": job.type,
        "project": job.project,
        "status": job.status,
        "status_label": status_label(Status(job.status), lang),
        "step": job.step,
        "progress": job.progress,
        "natures": natures_of(f"job {job.id}", job.natures),
        "owner": job.owner,
        "envelope": job.envelope_id,
        "exec": job.exec,
        "created_at": iso(job.created_at),
        "scheduled_at": iso(job.scheduled_at),
        "max_start_at": iso(job.max_start_at),
        "started_at": iso(job.started_at),
        "ended_at": iso(job.ended_at),
        "trap": trap,
        "system": job.system,
        "status_since": iso(job.status_since),
        "reason": job.reason,
        "expires_at": iso(job.expires_at),
        "next_run_at": iso(next_run_at(job)),
        "replaced_by": job.replaced_by,
    }


def trap_document(
    job: StoredJob,
    trap_deadline_at: datetime | None,
    trap_left_s: float | None,
    op: str | None,
    target: str | None,
    now: datetime,
) -> dict[str, Any] | None:
    """What the job's trap is (None: it is not trapped): its op, the op's target, how long is left before
    the trap times out (None: it waits forever), and whether the countdown is paused."""
    if job.status not in (Status.TRAPPED, Status.TRAP_PAUSED):
        return None
    paused = job.status == Status.TRAP_PAUSED
    if paused:
        left = trap_left_s
    elif trap_deadline_at is None:
        left = None  # waits forever
    else:
        left = max(0.0, (trap_deadline_at - now).total_seconds())
    return {"op": op, "target": target, "timeout_left_s": left, "paused": paused}
