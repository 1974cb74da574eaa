"""Database tables. Every timestamp is stored in UTC and read back as an aware pendulum DateTime."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import pendulum
from sqlalchemy import Column, DateTime, Index, Table, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


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

    def process_result_value(self, value: Any, dialect: Dialect) -> pendulum.DateTime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return pendulum.instance(value, tz="UTC")
        return pendulum.instance(value).in_timezone("UTC")


def _when(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_due", "status", "due_at"),
        Index("ix_jobs_project_started", "project", "started_at"),
        # and the partial indexes of migration 0005 that claims and sweeps walk.
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    type: str = "job"
    project: str = Field(default="default", index=True)
    status: str = Field(default="READY")
    step: str = "INIT"
    progress: int = 0
    natures: str = "[]"  # JSON list
    owner: str = ""
    system: bool = False
    envelope_id: int | None = Field(default=None, foreign_key="envelopes.id", index=True)
    # Place in the envelope's chain (0 first); a job starts only after the one before it FINISHED.
    envelope_position: int | None = None
    exec: int = 1
    created_at: datetime | None = _when(nullable=False)
    scheduled_at: datetime | None = _when()
    max_start_at: datetime | None = _when()
    started_at: datetime | None = _when()
    ended_at: datetime | None = _when()
    status_since: datetime | None = _when()
    run_started_at: datetime | None = _when()
    # When the engine may pick the job up next; null when it is not waiting for the engine.
    due_at: datetime | None = _when()
    approved: bool = False
    # The end status POST finishes with when something other than the tasks decides it.
    outcome: str | None = None
    failed: bool = False
    failed_step: str | None = None
    reason: str | None = None
    trap_op_run_id: int | None = None
    trap_deadline_at: datetime | None = _when()
    trap_left_s: float | None = None
    worker_id: str | None = Field(default=None, index=True)
    lease: str | None = None
    definition: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    # The schedule resolved at submission (schedules.JobSchedule JSON); null for bulk-loaded rows.
    schedule: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # When retries stop and unfinished tasks fail (seed 003); null when the job never retries.
    expires_at: datetime | None = _when()
    replaced_by: int | None = None
    source: str = ""
    log_path: str = ""
    seq: int = Field(default=0, index=True)


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("job_id", "target"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="jobs.id", index=True)
    target: str
    position: int = 0
    status: str = "SCHEDULED"
    last_triggered_at: datetime | None = _when()
    current_step: str | None = None
    progress: int = 0
    attempts: int = 0
    next_attempt_at: datetime | None = _when()


class OpRun(SQLModel, table=True):
    """One op as executed for one task (a task step); rollback commands are op runs of step ROLLBACK."""

    __tablename__ = "op_runs"
    __table_args__ = (Index("ix_op_runs_job_exec", "job_id", "exec", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="jobs.id")
    task_id: int | None = Field(default=None, foreign_key="tasks.id")
    exec: int = 1
    step: str = "RUN"
    op_index: int = 0
    position: int = 0
    name: str = ""
    per_target: bool = False
    status: str = "pending"
    started_at: datetime | None = _when()
    skipped_at: datetime | None = _when()
    completed_at: datetime | None = _when()
    exit_code: int | None = None
    error: str | None = None
    pid: int | None = None
    pid_create_time: float | None = None
    host: str | None = None
    status_file: str | None = None
    deadline_at: datetime | None = _when()
    rollback: str | None = None
    rolled_back: bool = False
    rollback_of: int | None = None


class Envelope(SQLModel, table=True):
    __tablename__ = "envelopes"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    project: str = "default"
    status: str = "SUCCESS_ACTIVE"
    reason: str | None = None
    created_at: datetime | None = _when(nullable=False)
    source: str = ""
    owner: str = ""
    # The queued job running this envelope's rollback, while or after it runs.
    rollback_job_id: int | None = None


class Notification(SQLModel, table=True):
    """What happened to an envelope while it was processed (seed 004): a job failed, trapped, expired,
    the envelope finished, a rollback started or ended."""

    __tablename__ = "notifications"

    id: int | None = Field(default=None, primary_key=True)
    envelope_id: int = Field(index=True)
    job_id: int | None = None
    at: datetime | None = _when(nullable=False)
    level: str = "info"  # info | warning | error
    text: str = ""


class Setting(SQLModel, table=True):
    __tablename__ = "settings"

    key: str = Field(primary_key=True)
    value: str = "null"  # JSON


class Worker(SQLModel, table=True):
    __tablename__ = "workers"

    id: str = Field(primary_key=True)
    host: str
    pid: int
    pid_create_time: float = 0.0
    slots: int = 2
    started_at: datetime | None = _when(nullable=False)
    heartbeat_at: datetime | None = _when(nullable=False)
    stopped_at: datetime | None = _when()


class AuditEvent(SQLModel, table=True):
    """The audit trail. No foreign key: a deleted job keeps its trail and a tombstone row."""

    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(index=True)
    job_name: str = ""
    at: datetime | None = _when(nullable=False)
    who: str = ""
    action: str = ""
    from_status: str | None = None
    to_status: str | None = None
    comment: str | None = None


class Change(SQLModel, table=True):
    """The change feed viewers poll: one row per job write, in commit order."""

    __tablename__ = "changes"

    seq: int | None = Field(default=None, primary_key=True)
    job_id: int | None = None
    kind: str = "job"
    at: datetime | None = _when(nullable=False)


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


# Core tables for hot-path writes: ORM-enabled UPDATEs would also sync every instance in the session.
JOBS = _table(Job)
TASKS = _table(Task)
OP_RUNS = _table(OpRun)
CHANGES = _table(Change)
AUDIT = _table(AuditEvent)
ENVELOPES = _table(Envelope)
NOTIFICATIONS = _table(Notification)
WORKERS = _table(Worker)
