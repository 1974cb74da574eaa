"""One job's detail, log, summary and audit trail through the plain driver (`jobtui show`, `log`, `audit`):
what the Store's read path (service.reads.Reads) answers, without SQLAlchemy and the ORM models, whose
import took most of each command's time. What only the Store's path says as it must (a refusal, which it
audits; a job that is not there; a row changed by hand, named) is left to it: NeedsStore."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jobtui.engine.db.driver import Reader, log_file_in, log_folder
from jobtui.engine.domain.logread import LogCursor, LogPiece
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.domain.states import FINAL_STATUSES, Perm, Status
from jobtui.engine.errors import JobtuiError
from jobtui.engine.read import job_log, job_pages
from jobtui.engine.read.engines import engines, worker_json
from jobtui.engine.read.job_document import (
    PREVIOUS_JOBS,
    PREVIOUS_RUNS,
    add_previous_runs,
    detail_json,
    iso,
    job_document,
    running_steps,
    tasks_json,
)
from jobtui.engine.read.job_pages import StoredRow
from jobtui.engine.read.listing import JobListing

_AUDIT = (
    "SELECT at, who, action, from_status, to_status, comment, refused, by_user FROM audit "
    "WHERE job_id = :job ORDER BY id"
)


class NeedsStore(JobtuiError):
    """The plain path cannot answer as the Store's path does: let that one answer (and refuse, audit or
    name what it must). Caught by every caller of the plain path: it never reaches a user."""


class PlainReads:
    """The reads of `service.reads.Reads` that `jobtui jobs`, `show`, `log`, `audit` and `workers` make, as
    `actor`."""

    def __init__(self, listing: JobListing, actor: Actor, now: Callable[[], datetime], log_dir: Path) -> None:
        self.listing = listing
        self.reader: Reader = listing.reader
        self.actor = actor
        self.now = now
        self.log_dir = log_dir

    @classmethod
    def open(cls, listing: JobListing, actor: Actor, explicit_log_dir: str | None) -> PlainReads | None:
        """For the database the listing reads, or None when its logs' folder cannot be told without the
        Store (a database that has not recorded its identity yet: the Store records it)."""
        reader = listing.reader
        found = reader.value("SELECT value FROM settings WHERE key = 'database_id'")
        if found is None:
            return None
        name = None if reader.is_sqlite else str(reader.value("SELECT current_database()"))
        folder = log_folder(reader.url, str(json.loads(found)), name, explicit_log_dir)
        return cls(listing, actor, lambda: database_now(reader), folder)

    def log_file(self, job_id: int) -> str:
        return log_file_in(str(self.log_dir), job_id)

    # -- as service.reads.Reads ---------------------------------------------------------------------------

    def log_path(self, job_id: int, verb: str = "log") -> Path:
        if self._viewable(job_id) is None:
            raise NeedsStore  # "no job N", in the Store's words
        return Path(self.log_file(job_id))

    def log_read(self, job_id: int, cursor: LogCursor | None, max_bytes: int, verb: str = "log") -> LogPiece:
        if self._viewable(job_id) is None:
            return LogPiece(b"", cursor or LogCursor(False, 0))
        return job_log.log_read(self.reader, job_id, self.log_file(job_id), cursor, max_bytes)

    def has_ended(self, job_id: int) -> bool:
        row = self._row(job_id)
        return row is None or Status(row.status) in FINAL_STATUSES

    def job(self, job_id: int, verb: str) -> dict[str, Any] | None:
        row = self._viewable(job_id)
        if row is None:
            return None
        traps = job_pages.trap_ops(self.listing, [row.trap_op_run_id] if row.trap_op_run_id else [])
        return job_document(row, job_pages.trap_of(row, traps, self.now()))

    def audit(self, job_id: int, verb: str = "audit") -> list[dict[str, Any]]:
        rows = self.reader.rows(_AUDIT, {"job": job_id})
        if not rows and job_id != 0:
            raise NeedsStore  # "no job N"
        # The trail of a deleted job is its tombstone's, which names no project: only who may view every
        # project reads it.
        project = self.reader.value("SELECT project FROM jobs WHERE id = :job", {"job": job_id})
        if not self.actor.may(Perm.VIEW, str(project) if project is not None else "*"):
            raise NeedsStore  # refused, and the refusal audited
        try:
            return [
                {
                    "at": iso(job_pages.utc(at)),
                    "who": who,
                    "action": action,
                    "from": from_status,
                    "to": to_status,
                    "comment": comment,
                    "refused": bool(refused),
                    "by": by_user,
                }
                for at, who, action, from_status, to_status, comment, refused, by_user in rows
            ]
        except (ValueError, TypeError, AttributeError):
            raise NeedsStore from None  # a time changed by hand: named by the Store's path

    def detail(self, job_id: int, verb: str = "show", lang: str = "en") -> dict[str, Any]:
        """The `show` JSON of a job (tasks, steps, trap, schedule)."""
        row = self._viewable(job_id)
        if row is None:
            raise NeedsStore  # "no job N"
        definition = self.reader.value("SELECT definition FROM jobs WHERE id = :job", {"job": job_id})
        traps = job_pages.trap_ops(self.listing, [row.trap_op_run_id] if row.trap_op_run_id else [])
        head = job_document(row, job_pages.trap_of(row, traps, self.now()), lang)
        try:
            tasks = [_task(values) for values in self.reader.rows(_TASKS, {"job": job_id})]
            ops = [_op(values) for values in self.reader.rows(_OPS, {"job": job_id, "exec": row.exec})]
            data = detail_json(
                head,
                row,
                tasks_json(tasks, ops),
                len(tasks),
                ops,
                None,
                self.log_file(job_id),
                row.schedule,
                str(definition),
            )
            self._add_previous_runs(row, running_steps(data))
        except (ValueError, TypeError, AttributeError):
            raise NeedsStore from None  # a value changed by hand: the Store's path says what it says of it
        return data

    def workers(self) -> list[dict[str, Any]]:
        """The engines serving the database (`jobtui workers`), as the Store's path lists them."""
        now = self.now()
        return [worker_json(row, now) for row in engines(self.listing)]

    # -- inside -------------------------------------------------------------------------------------------

    def _add_previous_runs(self, row: StoredRow, running: list[dict[str, Any]]) -> None:
        if not running:
            return
        names = sorted({step["name"] for step in running})
        marks = ", ".join(f":op_{n}" for n in range(len(names)))
        system = ("1" if row.system else "0") if self.reader.is_sqlite else str(row.system)
        rows = self.reader.rows(
            PREVIOUS_RUNS.format(system=system, ops=f"({marks})"),
            {
                "name": row.name,
                "project": row.project,
                "jobs": PREVIOUS_JOBS,
                **{f"op_{n}": name for n, name in enumerate(names)},
            },
        )
        parsed = [
            (name, step, job_pages.utc(started), job_pages.utc(done)) for name, step, started, done in rows
        ]
        add_previous_runs(running, parsed)

    def _row(self, job_id: int) -> StoredRow | None:
        rows = self.reader.rows(f"{job_pages.SELECT} WHERE jobs.id = :job", {"job": job_id})
        if not rows:
            return None
        problem, row = job_pages.checked(rows[0])
        if problem is not None:
            raise NeedsStore
        return row

    def _viewable(self, job_id: int) -> StoredRow | None:
        row = self._row(job_id)
        if row is not None and not self.actor.may(Perm.VIEW, row.project):
            raise NeedsStore
        return row


@dataclass(frozen=True)
class _TaskRow:
    id: int
    target: str
    status: str
    last_triggered_at: datetime | None
    current_step: str | None
    progress: int
    attempts: int
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class _OpRow:
    id: int
    task_id: int | None
    name: str
    step: str
    status: str
    started_at: datetime | None
    skipped_at: datetime | None
    completed_at: datetime | None
    exit_code: int | None
    error: str | None
    deadline_at: datetime | None
    position: int
    host: str | None
    pid: int | None


_TASKS = (
    "SELECT id, target, status, last_triggered_at, current_step, progress, attempts, next_attempt_at "
    "FROM tasks WHERE job_id = :job ORDER BY position"
)
_OPS = (
    "SELECT id, task_id, name, step, status, started_at, skipped_at, completed_at, exit_code, error, "
    "deadline_at, position, host, pid FROM op_runs WHERE job_id = :job AND exec = :exec ORDER BY position"
)


def _task(values: Sequence[Any]) -> _TaskRow:
    task_id, target, status, triggered, step, progress, attempts, next_attempt = values
    utc = job_pages.utc
    return _TaskRow(task_id, target, status, utc(triggered), step, progress, attempts, utc(next_attempt))


def _op(values: Sequence[Any]) -> _OpRow:
    op_id, task_id, name, step, status, started, skipped, completed, code, error, deadline, position = values[
        :12
    ]
    host, pid = values[12:]
    utc = job_pages.utc
    return _OpRow(
        op_id,
        task_id,
        name,
        step,
        status,
        utc(started),
        utc(skipped),
        utc(completed),
        code,
        error,
        utc(deadline),
        position,
        host,
        pid,
    )


def database_now(reader: Reader) -> datetime:
    """Now as the engines count it: on PostgreSQL, by the server's clock (trap countdowns, deadlines)."""
    if reader.is_sqlite:
        import pendulum

        return pendulum.now("UTC")
    value = reader.value("SELECT clock_timestamp()")
    assert isinstance(value, datetime)
    return value
