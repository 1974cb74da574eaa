"""Database tables. Every timestamp is stored in UTC and read back as an aware pendulum DateTime."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, cast

import pendulum
from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedAsDataclass, mapped_column
from sqlalchemy.types import TypeDecorator

from jobtui.engine.errors import CorruptValue


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC pendulum datetimes out, whatever the backend stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store; times must be timezone-aware")
        utc = pendulum.instance(value).in_timezone("UTC")
        # SQLite compares timestamps as text, so they must all be naive UTC with the same format.
        if dialect.name == "sqlite":
            return datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond)
        return utc

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], pendulum.DateTime | None]:
        # The stored value as the driver gives it, parsed here alone: SQLite's own DateTime parser would
        # fail first on a value written outside jobtui, with an error naming neither row nor column.
        def process(value: Any) -> pendulum.DateTime | None:
            return self.process_result_value(value, dialect)

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> pendulum.DateTime | None:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                # Written outside jobtui (SQLite keeps any text in any column): the read path names the row.
                raise CorruptValue(value, "a date") from None
        if not isinstance(value, datetime):
            raise CorruptValue(value, "a date")
        if value.tzinfo is None:
            return pendulum.instance(value, tz="UTC")
        return pendulum.instance(value).in_timezone("UTC")


class Base(MappedAsDataclass, DeclarativeBase, kw_only=True, eq=False):
    """The tables' base. Rows are dataclasses: a new row holds its defaults before it is flushed. Plain
    SQLAlchemy, no pydantic: every jobtui process imports these tables, a CLI command's start included.
    Each table says kw_only again: mypy reads it from the table's own class line."""

    # The column types the migrations created (SQLAlchemy 2.1 maps float to DOUBLE otherwise).
    type_annotation_map: ClassVar[dict[Any, Any]] = {float: Float()}


def _when(nullable: bool = True) -> Any:
    return mapped_column(UTCDateTime(), nullable=nullable, default=None)


def _waiting_index(name: str, *columns: str, statuses: str) -> Index:
    """A partial index of the jobs waiting in `statuses` (migration 0005): what claims and sweeps walk."""
    where = text(f"status IN ({statuses})")
    return Index(name, *columns, sqlite_where=where, postgresql_where=where)


# The ops still to run (migration 0015): finding a job's next op steps over none done before it.
_PENDING = text("status = 'pending'")

# Only the jobs the monitor lists by default (system jobs apart); `system` never changes once a job exists.
_LISTED_SQLITE = text("system = 0")
_LISTED_POSTGRESQL = text("system = false")

# The columns the monitor sorts by (all of engine/listing.SORTABLE but id), as migration 0007 spells them.
SORT_INDEX_COLUMNS = (
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
)

# Index.info key naming the only dialect an index exists on (Alembic's autogenerate ignores ddl_if).
ONLY_ON_DIALECT = "jobtui_only_on_dialect"


def _sort_index(column: str) -> Index:
    """Migration 0007's sort index: SQLite only, as on PostgreSQL every index slows the engine's updates."""
    index = Index(
        f"ix_jobs_sort_{column}", column, sqlite_where=_LISTED_SQLITE, info={ONLY_ON_DIALECT: "sqlite"}
    )
    return index.ddl_if(dialect="sqlite")


class Job(Base, kw_only=True):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_due", "status", "due_at"),
        Index("ix_jobs_project_started", "project", "started_at"),
        # Migration 0005: the partial indexes that claims and sweeps walk.
        _waiting_index("ix_jobs_due_to_run", "due_at", "id", statuses="'READY', 'PAUSED'"),
        _waiting_index("ix_jobs_unstarted_max_start", "max_start_at", statuses="'READY', 'APPROVAL'"),
        _waiting_index("ix_jobs_waiting_expires", "expires_at", statuses="'READY', 'PAUSED'"),
        # Migration 0013: the trap-timeout sweep's.
        Index(
            "ix_jobs_trap_deadline",
            "trap_deadline_at",
            sqlite_where=text("status = 'TRAPPED'"),
            postgresql_where=text("status = 'TRAPPED'"),
        ),
        # Migration 0006: the monitor's default order (newest first, system jobs apart).
        Index("ix_jobs_listed", "id", sqlite_where=_LISTED_SQLITE, postgresql_where=_LISTED_POSTGRESQL),
        # Migration 0007: the monitor's sort by any column, on SQLite only.
        *(_sort_index(column) for column in SORT_INDEX_COLUMNS),
    )

    id: Mapped[int | None] = mapped_column(default=None, primary_key=True, nullable=False)
    name: Mapped[str] = mapped_column(index=True)
    type: Mapped[str] = mapped_column(default="job")
    project: Mapped[str] = mapped_column(default="default", index=True)
    status: Mapped[str] = mapped_column(default="READY")
    step: Mapped[str] = mapped_column(default="INIT")
    progress: Mapped[int] = mapped_column(default=0)
    natures: Mapped[str] = mapped_column(default="[]")  # JSON list
    owner: Mapped[str] = mapped_column(default="")
    system: Mapped[bool] = mapped_column(default=False)
    envelope_id: Mapped[int | None] = mapped_column(ForeignKey("envelopes.id"), default=None, index=True)
    # Place in the envelope's chain (0 first); a job starts only after the one before it FINISHED.
    envelope_position: Mapped[int | None] = mapped_column(default=None)
    exec: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime | None] = _when(nullable=False)
    scheduled_at: Mapped[datetime | None] = _when()
    max_start_at: Mapped[datetime | None] = _when()
    started_at: Mapped[datetime | None] = _when()
    ended_at: Mapped[datetime | None] = _when()
    status_since: Mapped[datetime | None] = _when()
    run_started_at: Mapped[datetime | None] = _when()
    # When the engine may pick the job up next; null when it is not waiting for the engine.
    due_at: Mapped[datetime | None] = _when()
    approved: Mapped[bool] = mapped_column(default=False)
    # The end status POST finishes with when something other than the tasks decides it.
    outcome: Mapped[str | None] = mapped_column(default=None)
    failed: Mapped[bool] = mapped_column(default=False)
    failed_step: Mapped[str | None] = mapped_column(default=None)
    reason: Mapped[str | None] = mapped_column(default=None)
    trap_op_run_id: Mapped[int | None] = mapped_column(default=None)
    trap_deadline_at: Mapped[datetime | None] = _when()
    trap_left_s: Mapped[float | None] = mapped_column(default=None)
    worker_id: Mapped[str | None] = mapped_column(default=None, index=True)
    lease: Mapped[str | None] = mapped_column(default=None)
    definition: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    # The schedule resolved at submission (schedules.JobSchedule JSON); null for bulk-loaded rows.
    schedule: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)
    # When retries stop and unfinished tasks fail (seed 003); null when the job never retries.
    expires_at: Mapped[datetime | None] = _when()
    replaced_by: Mapped[int | None] = mapped_column(default=None)
    source: Mapped[str] = mapped_column(default="")
    log_path: Mapped[str] = mapped_column(default="")
    seq: Mapped[int] = mapped_column(default=0, index=True)


class Task(Base, kw_only=True):
    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("job_id", "target"), Index("ix_tasks_job_status", "job_id", "status"))

    id: Mapped[int | None] = mapped_column(default=None, primary_key=True, nullable=False)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    target: Mapped[str]
    position: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(default="SCHEDULED")
    last_triggered_at: Mapped[datetime | None] = _when()
    current_step: Mapped[str | None] = mapped_column(default=None)
    progress: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = _when()


class OpRun(Base, kw_only=True):
    """One op as executed for one task (a task step); rollback commands are op runs of step ROLLBACK."""

    __tablename__ = "op_runs"
    __table_args__ = (
        Index("ix_op_runs_job_exec", "job_id", "exec", "position"),
        Index("ix_op_runs_job_task", "job_id", "exec", "task_id"),
        Index(
            "ix_op_runs_pending",
            "job_id",
            "exec",
            "position",
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        ),
    )

    id: Mapped[int | None] = mapped_column(default=None, primary_key=True, nullable=False)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), default=None)
    exec: Mapped[int] = mapped_column(default=1)
    step: Mapped[str] = mapped_column(default="RUN")
    op_index: Mapped[int] = mapped_column(default=0)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(default="")
    per_target: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(default="pending")
    started_at: Mapped[datetime | None] = _when()
    skipped_at: Mapped[datetime | None] = _when()
    completed_at: Mapped[datetime | None] = _when()
    exit_code: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(default=None)
    pid: Mapped[int | None] = mapped_column(default=None)
    pid_create_time: Mapped[float | None] = mapped_column(default=None)
    pid_start: Mapped[str | None] = mapped_column(default=None)  # domain.processes.start_of (migration 0014)
    host: Mapped[str | None] = mapped_column(default=None)
    status_file: Mapped[str | None] = mapped_column(default=None)
    # The op's identity, recorded before it starts: $JOBTUI_OP_TOKEN in its environment (migration 0009).
    token: Mapped[str | None] = mapped_column(default=None)
    deadline_at: Mapped[datetime | None] = _when()
    rollback: Mapped[str | None] = mapped_column(default=None)
    rolled_back: Mapped[bool] = mapped_column(default=False)
    rollback_of: Mapped[int | None] = mapped_column(default=None)


_EMPTY_TEXT = text("''")


class Envelope(Base, kw_only=True):
    __tablename__ = "envelopes"

    id: Mapped[int | None] = mapped_column(default=None, primary_key=True, nullable=False)
    name: Mapped[str] = mapped_column(index=True)
    project: Mapped[str] = mapped_column(default="default")
    status: Mapped[str] = mapped_column(default="SUCCESS_ACTIVE")
    reason: Mapped[str | None] = mapped_column(default=None)
    created_at: Mapped[datetime | None] = _when(nullable=False)
    # Added by migration 0004 with the server default '' (so envelopes created before it read as ""). Spelled
    # as SQL: the same DDL as server_default="", which Alembic's SQLite comparison misreads as differing.
    source: Mapped[str] = mapped_column(default="", server_default=_EMPTY_TEXT)
    owner: Mapped[str] = mapped_column(default="", server_default=_EMPTY_TEXT)
    # The queued job running this envelope's rollback, while or after it runs.
    rollback_job_id: Mapped[int | None] = mapped_column(default=None)


class Notification(Base, kw_only=True):
    """What happened to an envelope while it was processed (seed 004): a job failed, trapped, expired,
    the envelope finished, a rollback started or ended."""

    __tablename__ = "notifications"

    id: Mapped[int | None] = mapped_column(default=None, primary_key=True, nullable=False)
    envelope_id: Mapped[int] = mapped_column(index=True)
    job_id: Mapped[int | None] = mapped_column(default=None)
    at: Mapped[datetime | None] = _when(nullable=False)
    level: Mapped[str] = mapped_column(default="info")  # info | warning | error
    text: Mapped[str] = mapped_column(default="")


class Setting(Base, kw_only=True):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(primary_key=True)
    value: Mapped[str] = mapped_column(default="null")  # JSON


class Worker(Base, kw_only=True):
    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(primary_key=True)
    host: Mapped[str]
    pid: Mapped[int]
    pid_create_time: Mapped[float] = mapped_column(default=0.0)
    pid_start: Mapped[str | None] = mapped_column(default=None)  # domain.processes.start_of (migration 0014)
    # "daemon", "dashboard" (a dashboard's own engine, gone when it closes), None: another (migration 0014).
    kind: Mapped[str | None] = mapped_column(default=None)
    slots: Mapped[int] = mapped_column(default=2)
    started_at: Mapped[datetime | None] = _when(nullable=False)
    heartbeat_at: Mapped[datetime | None] = _when(nullable=False)
    # When it began to stop (a daemon's first SIGTERM): it claims nothing more (migration 0017).
    stopping_at: Mapped[datetime | None] = _when()
    stopped_at: Mapped[datetime | None] = _when()


class AuditEvent(Base, kw_only=True):
    """The audit trail. No foreign key: a deleted job keeps its trail and a tombstone row."""

    __tablename__ = "audit"

    id: Mapped[int | None] = mapped_column(default=None, primary_key=True, nullable=False)
    job_id: Mapped[int] = mapped_column(index=True)
    job_name: Mapped[str] = mapped_column(default="")
    at: Mapped[datetime | None] = _when(nullable=False)
    who: Mapped[str] = mapped_column(default="")
    action: Mapped[str] = mapped_column(default="")
    from_status: Mapped[str | None] = mapped_column(default=None)
    to_status: Mapped[str | None] = mapped_column(default=None)
    comment: Mapped[str | None] = mapped_column(default=None)
    # A refused action: the job did not change; `comment` holds the reason.
    refused: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    # The real user behind an action done with --as (`who` is the user acted as); None otherwise.
    by_user: Mapped[str | None] = mapped_column(default=None)


class Change(Base, kw_only=True):
    """The change feed viewers poll: one row per job write, in commit order."""

    __tablename__ = "changes"

    seq: Mapped[int | None] = mapped_column(default=None, primary_key=True, nullable=False)
    job_id: Mapped[int | None] = mapped_column(default=None)
    kind: Mapped[str] = mapped_column(default="job")
    at: Mapped[datetime | None] = _when(nullable=False)


class LogChunk(Base, kw_only=True):
    """Bytes a job's log file gained on one host, shipped by the engine holding the job (migration 0010):
    every host reads a job's log from here, in id order."""

    __tablename__ = "log_chunks"
    # Readers ask for one job's chunks after the last one they read.
    __table_args__ = (Index("ix_log_chunks_job_id_id", "job_id", "id"),)

    id: Mapped[int | None] = mapped_column(default=None, primary_key=True, nullable=False)
    job_id: Mapped[int]
    host: Mapped[str]
    # Where in that host's file the chunk began: an engine re-adopting a job resumes after what it shipped.
    file_offset: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary(), nullable=False)
    at: Mapped[datetime | None] = _when(nullable=False)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


# Core tables for hot-path writes: ORM-enabled UPDATEs would also sync every instance in the session.
JOBS = _table(Job)
TASKS = _table(Task)
OP_RUNS = _table(OpRun)
CHANGES = _table(Change)
AUDIT = _table(AuditEvent)
ENVELOPES = _table(Envelope)
NOTIFICATIONS = _table(Notification)
WORKERS = _table(Worker)
LOG_CHUNKS = _table(LogChunk)


# Tables the migrations create that the metadata does not declare, on purpose:
# - alembic_version: Alembic's own record of the schema revision.
# - job_counts: per-status job counts kept by triggers (migration 0002, db/counts.py), SQLite only. Raw DDL
#   creates it with its triggers, which autogenerate cannot see; declared here, create_all would build the
#   table without the triggers that keep it true.
UNDECLARED_TABLES = frozenset({"alembic_version", "job_counts"})
# - migration 0011's sort-by-meaning indexes: on expressions (a status's severity, a step's rank), which
#   autogenerate can neither reflect nor compare; created by raw DDL on SQLite only. Migration 0012's
#   sort-by-time indexes likewise.
UNDECLARED_INDEXES = frozenset(
    {"ix_jobs_sort_status_rank", "ix_jobs_sort_step_rank", "ix_jobs_sort_elapsed", "ix_jobs_sort_wait"}
)


def autogenerate_filter(dialect: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """Alembic's include_object for comparing a `dialect` database with the metadata: leaves out the
    undeclared tables, and the indexes declared for another dialect only (migration 0007's sort indexes)."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table" and reflected and compare_to is None and name in UNDECLARED_TABLES:
            return False
        if type_ == "index" and name in UNDECLARED_INDEXES:
            return False
        if type_ == "index" and not reflected:
            only_on = obj.info.get(ONLY_ON_DIALECT)
            return only_on is None or only_on == dialect
        return True

    return include
