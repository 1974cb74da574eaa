"""What the dashboard shows of one job at one moment. Dialogs act on a snapshot: the job id they were
opened for never changes under them, whatever the live table does meanwhile."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from jobtui.engine.db.models import Job
from jobtui.engine.domain.states import status_label
from jobtui.engine.domain.text import trapped_op_text
from jobtui.engine.service.views import trap_view


@dataclass(frozen=True)
class JobSnapshot:
    id: int
    name: str
    project: str
    status: str
    status_label: str
    step: str
    scheduled_at: datetime | None
    max_start_at: datetime | None
    trap_op: str | None = None
    trap_left_s: float | None = None
    trap_paused: bool = False
    failed_step: str | None = None
    started: bool = True  # PRE began in its last run
    expires_at: datetime | None = None  # its schedule's expiry (a rerun past it runs now, as past Max Start)

    @classmethod
    def of(cls, job: Job, session: Session, now: datetime, lang: str = "en") -> JobSnapshot:
        assert job.id is not None
        trap = trap_view(job, session, now)  # type: ignore[arg-type]
        return cls(
            id=job.id,
            name=job.name,
            project=job.project,
            status=job.status,
            status_label=status_label(job.status, lang),
            step=job.step,
            scheduled_at=job.scheduled_at,
            max_start_at=job.max_start_at,
            trap_op=trapped_op_text(trap),
            trap_left_s=trap["timeout_left_s"] if trap else None,
            trap_paused=bool(trap and trap["paused"]),
            failed_step=job.failed_step,
            started=job.started_at is not None,
            expires_at=job.expires_at,
        )
