"""sort by time: the job table sorts Elapsed (how long a job has run, or ran) and Waiting (how long a queued
job has been ready), by index

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The expressions engine/read/listing.py sorts by (TIMED, SQLite's), spelled out: a migration must not
# change when that does. No clock in them (julianday of a column is deterministic), so an index can hold
# them. SQLite only, partial like migration 0011's; on PostgreSQL the sort stays a top-N sort.
ELAPSED = (
    "(CASE WHEN started_at IS NULL OR status = 'READY' THEN NULL "
    "WHEN ended_at IS NULL THEN 1e9 - julianday(started_at) "
    "ELSE julianday(ended_at) - julianday(started_at) END)"
)
WAIT = (
    "(CASE WHEN status = 'READY' THEN "
    "-julianday(max(coalesce(scheduled_at, ''), coalesce(status_since, ''))) END)"
)
INDEXES = {"ix_jobs_sort_elapsed": ELAPSED, "ix_jobs_sort_wait": WAIT}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, expression in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON jobs ({expression}) WHERE system = 0")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")
