"""`jobtui jobs` through the plain driver: the jobs the actor may view, newest first, a page at a time, as
the CLI's JSON contract gives them. The same documents as the ORM's read path (service.reads.iter_jobs),
built by the same code (read.job_document), in a fraction of a command's start: no SQLAlchemy, no ORM
models to import."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jobtui.engine.domain.stored_jobs import TEXT_COLUMNS, plain_problem, row_problem
from jobtui.engine.errors import CorruptRow
from jobtui.engine.read.job_document import job_document, trap_document
from jobtui.engine.read.listing import JobListing, Where

# How many jobs a page reads at a time (as service.reads.JOB_PAGE).
JOB_PAGE = 1000
# The jobs table's time columns (db.rows.JOB_TIME_COLUMNS, which a test holds this to), in its order: the
# first that holds no date is the one a corrupt row is named by.
TIME_COLUMNS = (
    "created_at",
    "scheduled_at",
    "max_start_at",
    "started_at",
    "ended_at",
    "status_since",
    "run_started_at",
    "due_at",
    "trap_deadline_at",
    "expires_at",
)
_PLAIN_COLUMNS = (
    "id",
    "name",
    "type",
    "project",
    "status",
    "step",
    "progress",
    "natures",
    "owner",
    "system",
    "envelope_id",
    "exec",
    "reason",
    "replaced_by",
    "schedule",
    "trap_op_run_id",
    "trap_left_s",
)
_COLUMNS = _PLAIN_COLUMNS + TIME_COLUMNS
SELECT = "SELECT " + ", ".join(f"jobs.{name}" for name in _COLUMNS) + " FROM jobs"
_TRAP_OPS = (
    "SELECT op_runs.id, op_runs.name, tasks.target, op_runs.per_target FROM op_runs "
    "LEFT JOIN tasks ON tasks.id = op_runs.task_id WHERE op_runs.id IN ({marks})"
)


@dataclass(frozen=True)
class StoredRow:
    """A job row as read, its dates parsed (a read.job_document.StoredJob)."""

    id: int
    name: str
    type: str
    project: str
    status: str
    step: str
    progress: int
    natures: str
    owner: str
    system: bool
    envelope_id: int | None
    exec: int
    reason: str | None
    replaced_by: int | None
    schedule: str | None
    trap_op_run_id: int | None
    trap_left_s: float | None
    created_at: datetime | None
    scheduled_at: datetime | None
    max_start_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    status_since: datetime | None
    run_started_at: datetime | None
    due_at: datetime | None
    trap_deadline_at: datetime | None
    expires_at: datetime | None


def job_documents(
    listing: JobListing,
    statuses: Sequence[str],
    project: str | None,
    include_system: bool,
    limit: int,
    now: datetime,
    problems: list[CorruptRow],
    lang: str = "en",
) -> Iterator[dict[str, Any]]:
    """The jobs of `statuses` (all: none given) of `project` (all: None) the listing's actor may view,
    newest first, at most `limit` (0: all), system jobs only with `include_system`. A row holding a value
    jobtui does not know is left out and added to `problems` once the last page is read (newest first), as
    service.reads.iter_jobs does."""
    where = _conditions(listing, statuses, project, include_system)
    bad: list[CorruptRow] = []
    below: int | None = None
    left = limit if limit else None
    while left is None or left > 0:
        size = JOB_PAGE if left is None else min(JOB_PAGE, left)
        page = where.and_("jobs.id < :below", {"below": below}) if below is not None else where
        rows = listing.reader.rows(
            f"{SELECT}{page.clause} ORDER BY jobs.id DESC LIMIT :size", {**page.params, "size": size}
        )
        if not rows:
            break
        below = int(rows[-1][0])
        stored: list[StoredRow] = []
        for values in rows:
            problem, row = checked(values)
            if problem is not None:
                bad.append(problem)
            elif row is not None:
                stored.append(row)
        traps = trap_ops(listing, [row.trap_op_run_id for row in stored if row.trap_op_run_id])
        yield from [job_document(row, trap_of(row, traps, now), lang) for row in stored]
        if left is not None:
            left -= len(rows)
    problems.extend(bad)


def _conditions(listing: JobListing, statuses: Sequence[str], project: str | None, system: bool) -> Where:
    clause, params = listing.in_scope("1 = 1", {})
    where = Where(clause.removeprefix(" WHERE "), params)
    if statuses:
        marks = ", ".join(f":status_{n}" for n in range(len(statuses)))
        where = where.and_(f"jobs.status IN ({marks})", {f"status_{n}": s for n, s in enumerate(statuses)})
    if project:
        where = where.and_("jobs.project = :project", {"project": project})
    if not system:
        where = where.and_("jobs.system = 0" if listing.is_sqlite else "jobs.system = false")
    return where


def checked(values: Sequence[Any]) -> tuple[CorruptRow | None, StoredRow | None]:
    """The row with its dates parsed, or the first value jobtui does not know in it (as db.rows names it)."""
    data = dict(zip(_COLUMNS, values, strict=True))
    job_id = int(data["id"])
    times = {name: data[name] for name in TIME_COLUMNS}
    texts = {name: data[name] for name in TEXT_COLUMNS}
    problem = row_problem(job_id, data["status"], data["natures"], times, texts) or plain_problem(
        f"job {job_id}", data["step"], data["progress"], data["schedule"]
    )
    if problem is not None:
        return problem, None
    for name in TIME_COLUMNS:
        data[name] = utc(data[name])
    data["system"] = bool(data["system"])
    return None, StoredRow(**data)


def utc(value: str | datetime | None) -> datetime | None:
    """A stored time, checked already, as an aware UTC datetime (naive ones are UTC, as the Store writes)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def trap_ops(listing: JobListing, op_ids: list[int]) -> dict[int, tuple[str, str | None]]:
    """The trapped ops `op_ids`: their names, and their targets (ops run per target only)."""
    if not op_ids:
        return {}
    marks = ", ".join(f":op_{n}" for n in range(len(op_ids)))
    rows = listing.reader.rows(
        _TRAP_OPS.format(marks=marks), {f"op_{n}": op_id for n, op_id in enumerate(op_ids)}
    )
    return {int(op_id): (name, target if per_target else None) for op_id, name, target, per_target in rows}


def trap_of(row: StoredRow, ops: dict[int, tuple[str, str | None]], now: datetime) -> dict[str, Any] | None:
    op, target = ops.get(row.trap_op_run_id or 0, (None, None))
    return trap_document(row, row.trap_deadline_at, row.trap_left_s, op, target, now)
