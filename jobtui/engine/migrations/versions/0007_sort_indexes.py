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
# like ix_jobs_listed (`system` never changes once a job exists). On SQLite an index entry ends with the
# rowid, which is id, so (column) is already (column, id). PostgreSQL needs id spelled out, and NULLs first
# so that one index serves both directions of the monitor's order: ascending NULLS FIRST, and read
# backwards, descending NULLS LAST.
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
    sqlite = op.get_bind().dialect.name == "sqlite"
    for column in SORTED_COLUMNS:
        name = f"ix_jobs_sort_{column}"
        if sqlite:
            op.create_index(name, "jobs", [column], sqlite_where=sa.text("system = 0"))
        else:
            op.create_index(
                name,
                "jobs",
                [sa.text(f"{column} NULLS FIRST"), "id"],
                postgresql_where=sa.text("system = false"),
            )


def downgrade() -> None:
    for column in SORTED_COLUMNS:
        op.drop_index(f"ix_jobs_sort_{column}", table_name="jobs")
