"""The monitor's reads: a filtered, sorted window of jobs, a job's position in that order, status counts
and what changed since a feed sequence. Plain Core SQL, so a window costs the same with a million jobs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import pendulum
from sqlalchemy import ColumnElement, String, Table, and_, exists, false, func, or_, select, type_coerce

from jobtui.engine.models import CHANGES, JOBS, TASKS, Setting
from jobtui.engine.store import Store

SETTINGS = cast(Table, Setting.__table__)  # type: ignore[attr-defined]

# Column key → jobs column it sorts by. Ties always break on id, so the order is total and stable.
SORTABLE: dict[str, str] = {
    "id": "id",
    "name": "name",
    "type": "type",
    "project": "project",
    "status": "status",
    "step": "step",
    "progress": "progress",
    "natures": "natures",
    "scheduled": "scheduled_at",
    "max_start": "max_start_at",
    "start": "started_at",
    "end": "ended_at",
    "owner": "owner",
    "envelope": "envelope_id",
}


@dataclass(frozen=True)
class JobFilter:
    text: str = ""
    statuses: frozenset[str] = frozenset()
    show_system: bool = False


@dataclass(frozen=True)
class JobSort:
    column: str = "id"
    descending: bool = True


@dataclass(frozen=True)
class JobRow:
    """One row of the job table: light, immutable, no ORM session attached."""

    id: int
    name: str
    type: str
    project: str
    status: str
    step: str
    progress: int
    natures: tuple[str, ...]
    scheduled_at: datetime | None
    max_start_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    owner: str
    envelope_id: int | None
    seq: int
    status_since: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


_ROW_COLUMNS = (
    "id",
    "name",
    "type",
    "project",
    "status",
    "step",
    "progress",
    "natures",
    "scheduled_at",
    "max_start_at",
    "started_at",
    "ended_at",
    "owner",
    "envelope_id",
    "seq",
    "status_since",
)
_TIME_COLUMNS = {"scheduled_at", "max_start_at", "started_at", "ended_at", "status_since"}


def _utc(value: str | datetime | None) -> datetime | None:
    """A stored timestamp as an aware UTC datetime. The table shows a few hundred of them per window: the
    standard library parses SQLite's text at a fraction of the cost of a pendulum instance."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _row(values: Sequence[Any]) -> JobRow:
    data = dict(zip(_ROW_COLUMNS, values, strict=True))
    for key in _TIME_COLUMNS:
        data[key] = _utc(data[key])
    data["natures"] = tuple(json.loads(data["natures"] or "[]"))
    return JobRow(**data)


class JobListing:
    def __init__(self, store: Store) -> None:
        self.store = store
        # Timestamps come raw (text on SQLite) and are parsed by _utc, not by the column type.
        self._cols = [
            type_coerce(JOBS.c[name], String()).label(name) if name in _TIME_COLUMNS else JOBS.c[name]
            for name in _ROW_COLUMNS
        ]

    def _where(self, flt: JobFilter) -> ColumnElement[bool]:
        clauses: list[ColumnElement[bool]] = []
        if not flt.show_system:
            # Literally `system = 0` (`= false` on PostgreSQL): the partial index ix_jobs_listed serves only
            # queries that carry its own condition.
            clauses.append(JOBS.c.system == false())
        if flt.statuses:
            clauses.append(JOBS.c.status.in_(sorted(flt.statuses)))
        text = flt.text.strip()
        if text:
            like = f"%{text}%"
            matches: list[ColumnElement[bool]] = [
                JOBS.c.name.ilike(like),
                JOBS.c.project.ilike(like),
                JOBS.c.owner.ilike(like),
                exists().where(TASKS.c.job_id == JOBS.c.id, TASKS.c.target.ilike(like)),
            ]
            if text.lstrip("#").isdigit():
                matches.append(JOBS.c.id == int(text.lstrip("#")))
            clauses.append(or_(*matches))
        return and_(True, *clauses)

    def count(self, flt: JobFilter) -> int:
        if not flt.text.strip() and self.store.is_sqlite:
            counts = self.status_counts(flt.show_system)
            wanted = flt.statuses or set(counts)
            return sum(n for status, n in counts.items() if status in wanted)
        with self.store.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(JOBS).where(self._where(flt))).scalar_one()
            )

    def window(self, flt: JobFilter, order: JobSort, offset: int, limit: int) -> list[JobRow]:
        column = JOBS.c[SORTABLE[order.column]]
        # NULL counts as the smallest value: SQLite's own order, so its indexes serve the sort (an explicit
        # NULLS clause there forces a full sort). PostgreSQL's default is the opposite, so say it there.
        if order.descending:
            key, tie = column.desc(), JOBS.c.id.desc()
            if not self.store.is_sqlite:
                key = key.nulls_last()
        else:
            key, tie = column.asc(), JOBS.c.id.asc()
            if not self.store.is_sqlite:
                key = key.nulls_first()
        keys = (key, tie)
        stmt = select(*self._cols).where(self._where(flt)).order_by(*keys).offset(offset).limit(limit)
        with self.store.engine.connect() as conn:
            return [_row(r) for r in conn.execute(stmt)]

    def position_of(self, flt: JobFilter, order: JobSort, job_id: int) -> int | None:
        """Where a job stands in the filtered, sorted list (None when the filter hides it)."""
        column = JOBS.c[SORTABLE[order.column]]
        with self.store.engine.connect() as conn:
            found = conn.execute(select(column).where(JOBS.c.id == job_id, self._where(flt))).first()
            if found is None:
                return None
            value = found[0]
            ahead = _ahead_of(column, value, job_id, order.descending)
            stmt = select(func.count()).select_from(JOBS).where(self._where(flt), ahead)
            return int(conn.execute(stmt).scalar_one())

    def status_counts(self, show_system: bool = False) -> dict[str, int]:
        if self.store.is_sqlite:
            # Kept by triggers (engine/counts.py): the header costs nothing however many jobs there are.
            query = "SELECT status, sum(n) FROM job_counts" + ("" if show_system else " WHERE NOT system")
            with self.store.engine.connect() as conn:
                rows = conn.exec_driver_sql(query + " GROUP BY status").all()
            return {str(status): int(n) for status, n in rows if n}
        stmt = select(JOBS.c.status, func.count()).group_by(JOBS.c.status)
        if not show_system:
            stmt = stmt.where(JOBS.c.system.is_(False))
        with self.store.engine.connect() as conn:
            return {str(status): int(n) for status, n in conn.execute(stmt)}

    def queue_flags(self) -> tuple[bool, str | None]:
        """Whether the queue is paused and why, as `Actions.queue_state` says, in one Core read (the
        status bar needs no ORM session)."""
        keys = ("queue_paused", "queue_paused_reason")
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(SETTINGS.c.key, SETTINGS.c.value).where(SETTINGS.c.key.in_(keys))
            ).all()
        values = {str(key): json.loads(value) for key, value in rows}
        paused = bool(values.get("queue_paused"))
        reason = values.get("queue_paused_reason") if paused else None
        return paused, None if reason is None else str(reason)

    def last_seq(self) -> int:
        with self.store.engine.connect() as conn:
            return int(conn.execute(select(func.max(CHANGES.c.seq))).scalar() or 0)

    def changed_since(self, seq: int) -> tuple[int, set[int | None]]:
        """The newest seq and which jobs (None: something global, like the queue) changed after `seq`."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(CHANGES.c.seq, CHANGES.c.job_id).where(CHANGES.c.seq > seq)).all()
        if not rows:
            return seq, set()
        return max(r[0] for r in rows), {r[1] for r in rows}

    def rows_by_id(self, ids: Sequence[int]) -> dict[int, JobRow]:
        if not ids:
            return {}
        with self.store.engine.connect() as conn:
            return {
                row.id: row
                for row in (_row(r) for r in conn.execute(select(*self._cols).where(JOBS.c.id.in_(ids))))
            }


def _ahead_of(column: Any, value: Any, job_id: int, descending: bool) -> ColumnElement[bool]:
    """Rows that sort before (value, job_id), NULL being the smallest value and id the tie-break."""
    same_earlier = JOBS.c.id > job_id if descending else JOBS.c.id < job_id
    if column is JOBS.c.id:
        return same_earlier  # one range: counted from the index, not by testing every row
    if value is None:
        tie = and_(column.is_(None), same_earlier)
        return or_(column.is_not(None), tie) if descending else tie
    tie = and_(column == value, same_earlier)
    if descending:
        return or_(column > value, tie)
    return or_(column.is_(None), column < value, tie)


def relative(when: datetime | None, now: pendulum.DateTime) -> str:
    """ "in 12 min", "3 h ago": how people read a date next to its absolute form."""
    if when is None:
        return ""
    seconds = (pendulum.instance(when) - now).total_seconds()
    future = seconds > 0
    span = abs(seconds)
    if span < 60:
        text = f"{int(span)} s"
    elif span < 3600:
        text = f"{int(span // 60)} min"
    elif span < 86400 * 2:
        text = f"{int(span // 3600)} h"
    else:
        text = f"{int(span // 86400)} d"
    return f"in {text}" if future else f"{text} ago"
