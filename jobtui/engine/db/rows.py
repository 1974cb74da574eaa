"""A job row's values read as what they stand for, or the row named as corrupt.

SQLite keeps any text in any column: a row changed by hand (`UPDATE jobs SET status='BOGUS'`) holds values
no code of jobtui wrote. Reading one is a problem of the database, named with the row and the field
(`database: job 1: status "BOGUS" is not a job status`), never a crash.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import String, select, type_coerce
from sqlalchemy.orm import Session

from jobtui.engine.db.models import JOBS, Job, UTCDateTime
from jobtui.engine.domain.states import Status
from jobtui.engine.domain.stored_jobs import (
    TEXT_COLUMNS,
    natures_of,
    plain_problem,
    row_problem,
    text_problem,
)
from jobtui.engine.errors import CorruptRow

JOB_TIME_COLUMNS = tuple(column.name for column in JOBS.columns if isinstance(column.type, UTCDateTime))


def job_status(job: Job) -> Status:
    try:
        return Status(job.status)
    except ValueError:
        raise CorruptRow(f"job {job.id}", "status", job.status, "a job status") from None


def check_job(job: Job) -> None:
    """Raise CorruptRow for a loaded job holding a value jobtui does not know (its dates were read)."""
    job_status(job)
    job_natures(job)
    row = f"job {job.id}"
    problem = text_problem(row, {name: getattr(job, name) for name in TEXT_COLUMNS}) or plain_problem(
        row, job.step, job.progress, job.schedule
    )
    if problem is not None:
        raise problem


def job_natures(job: Job) -> list[str]:
    return natures_of(f"job {job.id}", job.natures)


@dataclass(frozen=True)
class BadJobRow:
    """A job row that cannot be read, with what a permission check needs of it."""

    id: int
    name: str
    project: str
    status: str
    problem: CorruptRow


def bad_job_rows(session: Session, ids: Iterable[int]) -> dict[int, BadJobRow]:
    """Of the jobs `ids`, those holding a value jobtui cannot read, by id: their columns read as stored
    (no date parsed on the way), so a row that fails an ordinary read is found and named. The first bad
    field of each row is named."""
    wanted = sorted(set(ids))
    table = JOBS
    found: dict[int, BadJobRow] = {}
    for start in range(0, len(wanted), 500):  # under any driver's limit of bound parameters
        rows = session.execute(
            select(
                table.c.id,
                table.c.name,
                table.c.project,
                table.c.status,
                table.c.natures,
                table.c.step,
                table.c.progress,
                table.c.schedule,
                *(table.c[name] for name in TEXT_COLUMNS),
                *(type_coerce(table.c[name], String()).label(name) for name in JOB_TIME_COLUMNS),
            ).where(table.c.id.in_(wanted[start : start + 500]))
        ).all()
        for row in rows:
            job_id, name, project, status, natures, step, progress, schedule, *rest = row
            texts = dict(zip(TEXT_COLUMNS, rest[: len(TEXT_COLUMNS)], strict=True))
            times = dict(zip(JOB_TIME_COLUMNS, rest[len(TEXT_COLUMNS) :], strict=True))
            problem = row_problem(job_id, status, natures, times, texts) or plain_problem(
                f"job {job_id}", step, progress, schedule
            )
            if problem is not None:
                found[job_id] = BadJobRow(job_id, str(name), str(project), str(status), problem)
    return found
