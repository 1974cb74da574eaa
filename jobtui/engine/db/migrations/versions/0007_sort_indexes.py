"""sort indexes: the monitor sorted by any column reads a window by index, however many jobs

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The job table sorts by any column with id breaking ties (engine/listing.py), system jobs apart. Without
# an index, every refresh sorted the million rows: 0.5-1.9 s for the first screen at a million jobs. Partial
# like ix_jobs_listed (`system` never changes once a job exists). An index entry ends with the rowid, which
# is id, so (column) is already (column, id).
#
# SQLite only. SQLite's UPDATE touches only the indexes of the columns it changes, so these cost the engine
# nothing measurable (10,000 noop jobs drained as fast). PostgreSQL writes a new entry into every index of
# the table on each update that is not HOT, and the engine's updates (status, step, progress, seq) never
# are: with these thirteen indexes four daemons drained 16% slower (66 against 79 jobs/s). There the
# monitor's sort stays a top-N sort of the table (parallel scan), and the queue keeps its throughput.
# The columns behind engine/listing.SORTABLE but id, spelled out: a migration must not change when that does.
SORTED_COLUMNS = (
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


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for column in SORTED_COLUMNS:
        op.create_index(f"ix_jobs_sort_{column}", "jobs", [column], sqlite_where=sa.text("system = 0"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for column in SORTED_COLUMNS:
        op.drop_index(f"ix_jobs_sort_{column}", table_name="jobs")
