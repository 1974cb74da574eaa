"""The envelopes view's data: envelope → its jobs in chain order → per-job statistics, with the
envelope's derived status, as one actor may see it.

Only reads, so the monitor's poll worker runs it off the UI thread.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobtui.engine.domain.envelopes import EnvelopeStatus, derive_status
from jobtui.engine.read.listing import ALL_PROJECTS, Scope, shown_text

if TYPE_CHECKING:
    from jobtui.engine.db.store import Store

ENVELOPES_SHOWN = 200
JOBS_PER_GROUP = 200


@dataclass(frozen=True)
class JobLine:
    id: int
    name: str
    status: str
    progress: int


@dataclass(frozen=True)
class JobStats:
    tasks: int = 0
    ops: int = 0
    done: int = 0
    failed: int = 0


@dataclass(frozen=True)
class EnvelopeLine:
    id: int
    name: str
    project: str
    status: EnvelopeStatus
    reason: str | None
    jobs: tuple[JobLine, ...]  # chain order, the rollback job last


@dataclass(frozen=True)
class TreeData:
    """Everything the tree shows, read in one go."""

    envelopes: tuple[EnvelopeLine, ...]  # newest first
    loose: tuple[JobLine, ...]  # jobs in no envelope, newest first
    stats: dict[int, JobStats] = field(default_factory=dict)
    # There are older ones than those read (ENVELOPES_SHOWN, JOBS_PER_GROUP): the tree says so (it read
    # "(no envelope)  200 jobs" over 970, and left older envelopes unsaid).
    more_envelopes: bool = False
    more_loose: bool = False


def load_tree(store: Store, scope: Scope = ALL_PROJECTS) -> TreeData:
    """Read the tree's data. `scope`: the projects the actor may view; an envelope shows when they may
    view its project and every job's, as `jobtui envelopes` lists it."""
    # Imported here: the monitor paints its first rows before SQLAlchemy is loaded.
    from sqlalchemy import select

    from jobtui.engine.db.models import ENVELOPES, JOBS

    scoped = scope != ALL_PROJECTS
    projects = sorted(scope) if scope != ALL_PROJECTS else []
    with store.engine.connect() as conn:
        query = select(ENVELOPES).order_by(ENVELOPES.c.id.desc()).limit(ENVELOPES_SHOWN + 1)
        if scoped:
            query = query.where(ENVELOPES.c.project.in_(projects))
        envelopes = conn.execute(query).all()
        more_envelopes = len(envelopes) > ENVELOPES_SHOWN
        envelopes = envelopes[:ENVELOPES_SHOWN]
        chains: dict[int, list[JobLine]] = defaultdict(list)
        hidden: set[int] = set()  # envelopes with a job of a project the actor may not view
        if envelopes:
            # Same order as the engine's chain: position, the positionless rollback job last, then id.
            rows = conn.execute(
                select(
                    JOBS.c.id, JOBS.c.name, JOBS.c.status, JOBS.c.progress, JOBS.c.envelope_id, JOBS.c.project
                )
                .where(JOBS.c.envelope_id.in_([e.id for e in envelopes]))
                .order_by(
                    JOBS.c.envelope_id,
                    JOBS.c.envelope_position.is_(None),
                    JOBS.c.envelope_position,
                    JOBS.c.id,
                )
            )
            for row in rows:
                chains[row.envelope_id].append(_job_line(row))
                if scoped and row.project not in scope:
                    hidden.add(row.envelope_id)
        envelopes = [e for e in envelopes if e.id not in hidden]
        loose_query = (
            select(JOBS.c.id, JOBS.c.name, JOBS.c.status, JOBS.c.progress)
            .where(JOBS.c.envelope_id.is_(None), JOBS.c.system.is_(False))
            .order_by(JOBS.c.id.desc())
            .limit(JOBS_PER_GROUP + 1)
        )
        if scoped:
            loose_query = loose_query.where(JOBS.c.project.in_(projects))
        loose = [_job_line(row) for row in conn.execute(loose_query)]
        more_loose = len(loose) > JOBS_PER_GROUP
        loose = loose[:JOBS_PER_GROUP]
        lines = tuple(
            EnvelopeLine(
                id=e.id,
                name=e.name,
                project=e.project,
                status=derive_status(e.status, [job.status for job in chains[e.id]]),
                reason=e.reason,
                jobs=tuple(chains[e.id]),
            )
            for e in envelopes
        )
        job_ids = [job.id for e in envelopes for job in chains[e.id]] + [job.id for job in loose]
        return TreeData(lines, tuple(loose), _stats(conn, job_ids), more_envelopes, more_loose)


def _job_line(row: Any) -> JobLine:
    """A job of the tree as read; a value SQLite holds in place of text (a blob written by hand) reads "?",
    as in the job table: one such row must not take the tree down. Its detail names the row and field."""
    progress = row.progress if type(row.progress) is int else 0
    return JobLine(row.id, shown_text(row.name), shown_text(row.status), progress)


def _stats(conn: Any, job_ids: list[int]) -> dict[int, JobStats]:
    from sqlalchemy import func, select

    from jobtui.engine.db.models import JOBS, OP_RUNS, TASKS

    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if not job_ids:
        return {}
    for job_id, count in conn.execute(
        select(TASKS.c.job_id, func.count()).where(TASKS.c.job_id.in_(job_ids)).group_by(TASKS.c.job_id)
    ):
        counts[job_id]["tasks"] = count
    # The ops of each job's current execution (a rerun's earlier ones were counted too: "2 ops" for one).
    for job_id, status, count in conn.execute(
        select(OP_RUNS.c.job_id, OP_RUNS.c.status, func.count())
        .join(JOBS, (JOBS.c.id == OP_RUNS.c.job_id) & (JOBS.c.exec == OP_RUNS.c.exec))
        .where(OP_RUNS.c.job_id.in_(job_ids))
        .group_by(OP_RUNS.c.job_id, OP_RUNS.c.status)
    ):
        counts[job_id]["ops"] = counts[job_id].get("ops", 0) + count
        if status in ("done", "failed"):
            counts[job_id][status] = count
    return {job_id: JobStats(**values) for job_id, values in counts.items()}
