"""The monitor's reads: a filtered, sorted window of jobs, a job's position in that order, status counts
and what changed since a feed sequence. Plain SQL on the driver (engine/reader.py), served by indexes, so a
window costs the same with a million jobs, and none of it waits for SQLAlchemy to import."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from jobtui.engine.db import counts
from jobtui.engine.db.driver import SCHEMA_HEAD, Reader
from jobtui.engine.domain.alerting import Entered
from jobtui.engine.domain.engine_kinds import DASHBOARD_ENGINE
from jobtui.engine.domain.ids import typed_id
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.domain.processes import is_same_process
from jobtui.engine.domain.states import NEEDS_ATTENTION, SEVERITY, Perm, Step

# Which projects' jobs a listing shows: every project, or only those named (none at all when empty).
ALL_PROJECTS: Final = "all"
Scope = frozenset[str] | Literal["all"]


def scope_of(actor: Actor) -> Scope:
    """The projects whose jobs `actor` may see (action.job.view_monitor): all of them in single-user mode
    or for a role granting it on '*', else the projects the actor's roles name with it."""
    policy = actor.policy
    if policy is None or actor.may(Perm.VIEW, "*"):
        return ALL_PROJECTS
    projects: set[str] = set()
    for name in policy.roles_of(actor.user):
        role = policy.roles.get(name)
        if role is not None and Perm.VIEW.value in role.actions:
            projects |= role.projects
    return frozenset(projects)


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
    "elapsed": "started_at",  # sorted by TIMED below
    "wait": "status_since",  # sorted by TIMED below
}
# Orders a view asks for that no column of the table offers: "waiting" is how long a job has been in its
# status (the needs-attention view, oldest first). The set it sorts is small (jobs waiting for a person):
# no sort index of its own, which every status change of the engine would have to keep.
ORDERS: dict[str, str] = {**SORTABLE, "waiting": "status_since"}


def _ranked(column: str, order: Sequence[str]) -> str:
    cases = " ".join(f"WHEN '{value}' THEN {rank}" for rank, value in enumerate(order))
    return f"(CASE {column} {cases} ELSE {len(order)} END)"


# Columns that sort by meaning, not by their text: a status by its severity (needs attention first), a step
# in pipeline order. Migration 0011 indexes these very expressions (SQLite), so they sort by index.
RANKED: dict[str, str] = {
    "status": _ranked("jobs.status", SEVERITY),
    "step": _ranked("jobs.step", tuple(Step)),
}


# Columns that sort by a length of time, bigger meaning longer, with no clock in them (so an index can hold
# them: migration 0012 indexes the SQLite ones). "elapsed": a job still going (started, not ended) counts as
# longer than any that ended, the earliest start longest; an ended job by how long it took; a job never
# started, or queued again (READY: waiting for its RUN date or a retry, not running), is NULL.
# "wait": a queued (READY) job by how long it has been ready (since it entered READY or its RUN date, the
# later), the earliest longest; any other job is NULL.
TIMED: dict[tuple[str, bool], str] = {
    ("elapsed", True): (
        "(CASE WHEN jobs.started_at IS NULL OR jobs.status = 'READY' THEN NULL "
        "WHEN jobs.ended_at IS NULL THEN 1e9 - julianday(jobs.started_at) "
        "ELSE julianday(jobs.ended_at) - julianday(jobs.started_at) END)"
    ),
    ("wait", True): (
        "(CASE WHEN jobs.status = 'READY' THEN "
        "-julianday(max(coalesce(jobs.scheduled_at, ''), coalesce(jobs.status_since, ''))) END)"
    ),
    ("elapsed", False): (
        "(CASE WHEN jobs.started_at IS NULL OR jobs.status = 'READY' THEN NULL "
        "WHEN jobs.ended_at IS NULL THEN 1e9 - extract(epoch FROM jobs.started_at) / 86400.0 "
        "ELSE extract(epoch FROM jobs.ended_at - jobs.started_at) / 86400.0 END)"
    ),
    ("wait", False): (
        "(CASE WHEN jobs.status = 'READY' THEN "
        "-extract(epoch FROM greatest(jobs.scheduled_at, jobs.status_since)) / 86400.0 END)"
    ),
}


def sort_expression(column: str, sqlite: bool = True) -> str:
    """What the table sorts by for `column` (a key of ORDERS), in SQLite's SQL or PostgreSQL's."""
    return RANKED.get(column) or TIMED.get((column, sqlite)) or f"jobs.{ORDERS[column]}"


@dataclass(frozen=True)
class JobFilter:
    text: str = ""
    statuses: frozenset[str] = frozenset()
    show_system: bool = False


@dataclass(frozen=True)
class JobSort:
    column: str = "id"
    descending: bool = True


# Columns that sort A to Z (or in their meaning's order) when chosen: names, statuses (what needs a person
# first), steps (pipeline order). The others (ids, dates, times, progress) sort the newest, the latest or the
# longest first, as the table opens by id.
ASCENDING_FIRST = frozenset({"name", "type", "project", "status", "step", "natures", "owner"})


def first_order(column: str) -> JobSort:
    """How `column` sorts when an operator picks it (a sort key, a header click): what they look for first."""
    return JobSort(column, descending=column not in ASCENDING_FIRST)


@dataclass(frozen=True)
class JobRow:
    """One row of the job table: light, immutable, no ORM session attached."""

    id: int
    name: str
    type: str
    project: str
    status: str
    step: str
    progress: int | None  # None: not a percentage (a value changed by hand)
    natures: tuple[str, ...]
    scheduled_at: datetime | None
    max_start_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    owner: str
    envelope_id: int | None
    seq: int
    status_since: datetime | None = None
    # When the engine may next claim it: a queued job waiting for a failed task's next attempt is not due
    # before then (its Waiting column stays empty).
    due_at: datetime | None = None
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
    "due_at",
)
_TIME_COLUMNS = {"scheduled_at", "max_start_at", "started_at", "ended_at", "status_since", "due_at"}
_TEXT_COLUMNS = ("name", "type", "project", "status", "step", "owner")


def utc_of(value: str | datetime | None) -> datetime | None:
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
        data[key] = _readable_time(data[key])
    try:
        natures = json.loads(data["natures"] or "[]")
    except (ValueError, TypeError):
        natures = None
    # A value written outside jobtui (SQLite keeps any text in any column) shows blank, as does a status
    # jobtui does not know (its code with a "?"): one such row must not empty the table. Its detail names
    # the row and the field.
    data["natures"] = tuple(str(n) for n in natures) if isinstance(natures, list) else ()
    progress = data["progress"]
    data["progress"] = progress if type(progress) is int and 0 <= progress <= 100 else None
    for key in _TEXT_COLUMNS:
        data[key] = shown_text(data[key])
    return JobRow(**data)


def shown_text(value: object) -> str:
    """A stored text as the dashboard draws it: a blob, which SQLite keeps in any column when written by
    hand, reads "?" (its detail names the row and the field)."""
    return value if isinstance(value, str) else "?"


def _readable_time(value: Any) -> datetime | None:
    try:
        return utc_of(value)
    except (ValueError, TypeError, AttributeError):
        return None


_SELECT_ROWS = "SELECT " + ", ".join(f"jobs.{name}" for name in _ROW_COLUMNS) + " FROM jobs"


@dataclass(frozen=True)
class Where:
    """A WHERE condition ("" for none) and its parameters."""

    sql: str
    params: dict[str, Any]

    def and_(self, sql: str, params: dict[str, Any] | None = None) -> Where:
        return Where(f"{self.sql} AND {sql}" if self.sql else sql, {**self.params, **(params or {})})

    @property
    def clause(self) -> str:
        return f" WHERE {self.sql}" if self.sql else ""


class JobListing:
    def __init__(self, reader: Reader, scope: Scope = ALL_PROJECTS) -> None:
        """`scope`: the projects whose jobs the rows, positions and counts include (`scope_of(actor)`)."""
        self.reader = reader
        self.scope = scope

    @property
    def scoped(self) -> bool:
        return self.scope != ALL_PROJECTS

    def _in_scope(self, where: Where, column: str = "jobs.project") -> Where:
        if self.scope == ALL_PROJECTS:
            return where
        if not self.scope:
            return where.and_("1 = 0")
        names = sorted(self.scope)
        marks = ", ".join(f":scope_{n}" for n in range(len(names)))
        return where.and_(f"{column} IN ({marks})", {f"scope_{n}": p for n, p in enumerate(names)})

    @property
    def is_sqlite(self) -> bool:
        return self.reader.is_sqlite

    def ready(self) -> bool:
        """Whether this database can be listed as it is: at the schema this code knows and, on SQLite,
        with the count triggers in place. If not, the Store must open it first (it migrates and heals)."""
        if self.reader.schema_revision() != SCHEMA_HEAD:
            return False
        if not self.is_sqlite:
            return True
        names = {f"trigger_{n}": name for n, name in enumerate(counts.TRIGGER_NAMES)}
        found = self.reader.value(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN ("
            + ", ".join(f":{key}" for key in names)
            + ")",
            names,
        )
        return found == len(names)

    def in_scope(self, clause: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """`clause` (a condition on jobs) limited to the jobs the reader may see: (" WHERE …", params)."""
        where = self._in_scope(Where("", {}).and_(clause, params))
        return where.clause, where.params

    def listed(self, clause: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The same, system jobs apart (the jobs the table lists by default)."""
        where = self._where(JobFilter()).and_(clause, params)
        return where.clause, where.params

    def _where(self, flt: JobFilter) -> Where:
        where = self._in_scope(Where("", {}))
        if not flt.show_system:
            # Literally `system = 0` (`= false` on PostgreSQL): the partial index ix_jobs_listed serves only
            # queries that carry its own condition.
            where = where.and_("jobs.system = 0" if self.is_sqlite else "jobs.system = false")
        if flt.statuses:
            names = sorted(flt.statuses)
            marks = ", ".join(f":status_{n}" for n in range(len(names)))
            where = where.and_(f"jobs.status IN ({marks})", {f"status_{n}": s for n, s in enumerate(names)})
        text = flt.text.strip()
        if text:
            like = self._ilike
            # The jobs with a matching target are found once, not looked up for every job tested.
            matches = [
                like("jobs.name"),
                like("jobs.project"),
                like("jobs.owner"),
                f"jobs.id IN (SELECT tasks.job_id FROM tasks WHERE {like('tasks.target')})",
            ]
            params: dict[str, Any] = {"like": f"%{_like_literal(text)}%"}
            text_id = typed_id(text)
            if text_id is not None:
                matches.append("jobs.id = :text_id")
                params["text_id"] = text_id
            where = where.and_("(" + " OR ".join(matches) + ")", params)
        return where

    def _ilike(self, column: str) -> str:
        # SQLite's LIKE ignores case already (ASCII letters, as its lower() does): lower() on both sides
        # would only cost a third more per row scanned.
        like = "LIKE" if self.is_sqlite else "ILIKE"
        return f"{column} {like} :like ESCAPE '\\'"

    def count(self, flt: JobFilter) -> int:
        if not flt.text.strip() and self.is_sqlite:
            counts_now = self.status_counts(flt.show_system)
            wanted = flt.statuses or set(counts_now)
            return sum(n for status, n in counts_now.items() if status in wanted)
        where = self._where(flt)
        return int(self.reader.value("SELECT count(*) FROM jobs" + where.clause, where.params))

    def window(self, flt: JobFilter, order: JobSort, offset: int, limit: int) -> list[JobRow]:
        sql, params = self.window_query(flt, order)
        return [_row(r) for r in self.reader.rows(sql, {**params, "limit": limit, "offset": offset})]

    def window_query(self, flt: JobFilter, order: JobSort) -> tuple[str, dict[str, Any]]:
        """The SQL of `window` (with :limit and :offset to bind) and its other parameters."""
        column = sort_expression(order.column, self.is_sqlite)
        # NULL counts as the smallest value: SQLite's own order, so its indexes serve the sort (an explicit
        # NULLS clause there forces a full sort). PostgreSQL's default is the opposite, so say it there; but
        # not of the id, never NULL: there a NULLS clause made PostgreSQL sort every job for each window of
        # the table's opening order (310 ms at 200,000 jobs) instead of walking its index.
        if column == "jobs.id":
            keys = f"jobs.id {'DESC' if order.descending else 'ASC'}"
        elif order.descending:
            keys = f"{column} DESC{'' if self.is_sqlite else ' NULLS LAST'}, jobs.id DESC"
        else:
            keys = f"{column} ASC{'' if self.is_sqlite else ' NULLS FIRST'}, jobs.id ASC"
        where = self._where(flt)
        return f"{_SELECT_ROWS}{where.clause} ORDER BY {keys} LIMIT :limit OFFSET :offset", where.params

    def position_of(self, flt: JobFilter, order: JobSort, job_id: int) -> int | None:
        """Where a job stands in the filtered, sorted list (None when the filter hides it)."""
        column = sort_expression(order.column, self.is_sqlite)
        where = self._where(flt)
        shown = where.and_("jobs.id = :job_id", {"job_id": job_id})
        found = self.reader.rows(f"SELECT {column} FROM jobs{shown.clause}", shown.params)
        if not found:
            return None
        ranges, params = _ahead_of(column, found[0][0], job_id, order.descending)
        counts_ahead = [where.and_(sql, params) for sql in ranges]
        query = " + ".join(f"(SELECT count(*) FROM jobs{ahead.clause})" for ahead in counts_ahead)
        return int(self.reader.value(f"SELECT {query}", counts_ahead[0].params))

    def status_counts(self, show_system: bool = False) -> dict[str, int]:
        """Jobs per status in scope. On SQLite: the trigger-kept totals of the projects in scope; otherwise
        a GROUP BY over the visible projects' jobs."""
        if self.is_sqlite:
            # Kept by triggers (db/counts.py): the header costs nothing however many jobs there are.
            where = self._in_scope(Where("" if show_system else "NOT system", {}), "job_counts.project")
            query = f"SELECT status, sum(n) FROM job_counts{where.clause} GROUP BY status"
            rows = self.reader.rows(query, where.params)
            return {str(status): int(n) for status, n in rows if n}
        if self.scoped:
            return self._counts_where(self._where(JobFilter(show_system=show_system)))
        query = "SELECT status, count(*) FROM jobs" + ("" if show_system else " WHERE system = false")
        return {str(status): int(n) for status, n in self.reader.rows(query + " GROUP BY status")}

    def attention_count(self, counts_with_system: Mapping[str, int] | None = None) -> int:
        """Jobs in scope waiting for a person (NEEDS_ATTENTION), system jobs too, whatever the filter shows:
        the header's "! N need attention" (a trapped system job went unseen while system jobs were hidden).
        From `counts_with_system` when the caller read them (`status_counts(show_system=True)`), else the
        trigger-kept totals on SQLite (free), else one count over the status index."""
        if counts_with_system is None and self.is_sqlite:
            counts_with_system = self.status_counts(show_system=True)
        if counts_with_system is not None:
            return sum(counts_with_system.get(status.value, 0) for status in NEEDS_ATTENTION)
        flt = JobFilter(statuses=frozenset(status.value for status in NEEDS_ATTENTION), show_system=True)
        where = self._where(flt)
        return int(self.reader.value(f"SELECT count(*) FROM jobs{where.clause}", where.params) or 0)

    def shown_counts(self, flt: JobFilter) -> dict[str, int] | None:
        """Jobs per status among those `flt` shows (text, statuses, system jobs); None when it narrows
        nothing but system jobs (then `status_counts` says it, for free on SQLite)."""
        if not flt.text.strip() and not flt.statuses:
            return None
        return self._counts_where(self._where(flt))

    def _counts_where(self, where: Where) -> dict[str, int]:
        query = f"SELECT status, count(*) FROM jobs{where.clause} GROUP BY status"
        rows = self.reader.rows(query, where.params)
        return {str(status): int(n) for status, n in rows if n}

    def queue_flags(self) -> tuple[bool, str | None]:
        """Whether the queue is paused and why, as `Actions.queue_state` says, in one read."""
        rows = self.reader.rows(
            "SELECT key, value FROM settings WHERE key IN ('queue_paused', 'queue_paused_reason')"
        )
        values = {str(key): json.loads(value) for key, value in rows}
        paused = bool(values.get("queue_paused"))
        reason = values.get("queue_paused_reason") if paused else None
        return paused, None if reason is None else str(reason)

    def last_seq(self) -> int:
        return int(self.reader.value("SELECT max(seq) FROM changes") or 0)

    def entered(self, statuses: frozenset[str], after_seq: int, since: datetime) -> list[Entered]:
        """The jobs in scope (system jobs too: one trapped waits for a person as much) that changed after
        `after_seq` and are in one of `statuses`, entered at `since` or later: what the dashboard alerts
        about."""
        if not statuses:
            return []
        where = self._where(JobFilter(statuses=statuses, show_system=True)).and_(
            "jobs.seq > :after_seq AND jobs.status_since >= :entered_since",
            {"after_seq": after_seq, "entered_since": self.reader.stored_time(since)},
        )
        rows = self.reader.rows(
            f"SELECT id, name, status, status_since FROM jobs{where.clause} ORDER BY jobs.seq LIMIT 200",
            where.params,
        )
        return [Entered(int(r[0]), str(r[1]), str(r[2]), utc_of(r[3])) for r in rows]

    def changed_since(self, seq: int) -> tuple[int, set[int | None]]:
        """The newest seq and which jobs (None: something global, like the queue) changed after `seq`."""
        rows = self.reader.rows("SELECT seq, job_id FROM changes WHERE seq > :seq", {"seq": seq})
        if not rows:
            return seq, set()
        return max(r[0] for r in rows), {r[1] for r in rows}

    def rows_by_id(self, ids: Sequence[int]) -> dict[int, JobRow]:
        if not ids:
            return {}
        marks = ", ".join(f":id_{n}" for n in range(len(ids)))
        where = self._in_scope(Where(f"jobs.id IN ({marks})", {f"id_{n}": i for n, i in enumerate(ids)}))
        rows = self.reader.rows(f"{_SELECT_ROWS}{where.clause}", where.params)
        return {row.id: row for row in map(_row, rows)}

    def fresh_workers(self, fresh_since: datetime) -> list[WorkerBeat]:
        """The workers not stopped (nor stopping: they claim nothing more) with a heartbeat since
        `fresh_since`: the candidates for a live daemon (live_daemon decides). Daemons before dashboards'
        engines (a dashboard embedding an engine hands over to a daemon found first), each the one serving
        longest first: newest heartbeat first, the header named whichever of two daemons had beaten last,
        flipping between their hosts."""
        rows = self.reader.rows(
            "SELECT id, host, pid, pid_create_time, pid_start, heartbeat_at, kind FROM workers "
            "WHERE stopped_at IS NULL AND stopping_at IS NULL AND heartbeat_at >= :fresh "
            "ORDER BY CASE WHEN kind = :dashboard THEN 1 ELSE 0 END, started_at, id",
            {"fresh": self.reader.stored_time(fresh_since), "dashboard": DASHBOARD_ENGINE},
        )
        return [
            WorkerBeat(str(id_), str(host), int(pid or 0), float(created or 0.0), utc_of(beat), started, kind)
            for id_, host, pid, created, started, beat, kind in rows
        ]

    def stopping_daemon(self, fresh_since: datetime) -> WorkerBeat | None:
        """A daemon beating since `fresh_since` that is stopping (it claims nothing more, its ops in flight
        finishing), if any: what a dashboard opened meanwhile says instead of "no daemon"."""
        rows = self.reader.rows(
            "SELECT id, host, pid, pid_create_time, pid_start, heartbeat_at, kind FROM workers "
            "WHERE stopped_at IS NULL AND stopping_at IS NOT NULL AND heartbeat_at >= :fresh "
            "AND (kind IS NULL OR kind <> :dashboard) ORDER BY heartbeat_at DESC LIMIT 1",
            {"fresh": self.reader.stored_time(fresh_since), "dashboard": DASHBOARD_ENGINE},
        )
        return next(
            (
                WorkerBeat(str(i), str(h), int(p or 0), float(c or 0.0), utc_of(b), started, kind)
                for i, h, p, c, started, b, kind in rows
            ),
            None,
        )

    def worker_left_as(self, worker_id: str, fresh_since: datetime) -> str:
        """Why a worker serves the queue no more: "stopped", "stopping" (it claims nothing more, beating
        still) or "stale" (silent since before `fresh_since`, or gone)."""
        rows = self.reader.rows(
            "SELECT stopped_at, stopping_at, heartbeat_at FROM workers WHERE id = :id", {"id": worker_id}
        )
        if not rows:
            return "stale"
        stopped, stopping, beat = rows[0]
        if stopped is not None:
            return "stopped"
        fresh = beat is not None and (utc_of(beat) or fresh_since) >= fresh_since
        return "stopping" if stopping is not None and fresh else "stale"

    def daemon_host(
        self, fresh_since: datetime, exclude: str | None = None, this_host: str | None = None
    ) -> str | None:
        """The host of the live daemon serving longest, beating since `fresh_since` (see live_daemon);
        `this_host` defaults to the name engines here register under."""
        found = self.live_engine(fresh_since, exclude, this_host)
        return None if found is None else found.host

    def live_engine(
        self, fresh_since: datetime, exclude: str | None = None, this_host: str | None = None
    ) -> WorkerBeat | None:
        """The worker row of that daemon (its host, and its kind: a dashboard's engine is one too)."""
        host = this_host or socket.gethostname()
        return live_daemon(self.fresh_workers(fresh_since), host, is_same_process, exclude)


@dataclass(frozen=True)
class WorkerBeat:
    """A worker row as far as telling a live daemon goes."""

    id: str
    host: str
    pid: int
    pid_create_time: float
    heartbeat_at: datetime | None
    pid_start: str | None = None
    kind: str | None = None  # domain.engine_kinds; None: another (a script's, an older jobtui's)


def live_daemon(
    candidates: Sequence[WorkerBeat],
    this_host: str,
    alive: Callable[[int, float, str | None], bool],
    exclude: str | None = None,
) -> WorkerBeat | None:
    """The first of `candidates` (fresh, not stopped, daemons before dashboards' engines, the one serving
    longest first) that serves the database, one of this host before one of another of its kind (found by
    a multi-host probe: a dashboard named the other host's daemon while its own host's served too). A
    crashed or killed process never marked its row stopped and its heartbeat stays fresh for a while: on
    this host the process itself is asked (`alive(pid, create time, start)`, which tells a reused pid
    apart). Rows of other hosts can only be judged by their heartbeat. `exclude` is the asker's own engine,
    which is no daemon."""
    ranked = sorted(
        enumerate(candidates),
        key=lambda pair: (pair[1].kind == DASHBOARD_ENGINE, pair[1].host != this_host, pair[0]),
    )
    for _, beat in ranked:
        if beat.id == exclude:
            continue
        if beat.host == this_host and not alive(beat.pid, beat.pid_create_time, beat.pid_start):
            continue
        return beat
    return None


def _ahead_of(column: str, value: Any, job_id: int, descending: bool) -> tuple[list[str], dict[str, Any]]:
    """The rows that sort before (value, job_id), NULL being the smallest value and id the tie-break, as
    disjoint ranges: each one an index range of the sort index, where one condition with OR would make the
    database test every row."""
    same_earlier = f"jobs.id {'>' if descending else '<'} :ahead_id"
    params: dict[str, Any] = {"ahead_id": job_id}
    if column == "jobs.id":
        return [same_earlier], params
    if value is None:
        tie = f"{column} IS NULL AND {same_earlier}"
        return ([f"{column} IS NOT NULL", tie] if descending else [tie]), params
    params["ahead_value"] = value
    tie = f"{column} = :ahead_value AND {same_earlier}"
    if descending:
        return [f"{column} > :ahead_value", tie], params
    return [f"{column} IS NULL", f"{column} < :ahead_value", tie], params


def _like_literal(text: str) -> str:
    """`text` matched as it is by LIKE (with ESCAPE '\\'): a `%` or `_` the operator types is searched
    for, not a wildcard."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
