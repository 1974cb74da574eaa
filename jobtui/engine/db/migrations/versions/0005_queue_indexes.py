"""queue indexes: claims and sweeps walk the waiting jobs only, however many jobs have ended

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Partial indexes: each holds only the jobs waiting in the statuses its queries name (as literals).
INDEXES = (
    ("ix_jobs_due_to_run", ["due_at", "id"], "status IN ('READY', 'PAUSED')"),
    ("ix_jobs_unstarted_max_start", ["max_start_at"], "status IN ('READY', 'APPROVAL')"),
    ("ix_jobs_waiting_expires", ["expires_at"], "status IN ('READY', 'PAUSED')"),
)


def upgrade() -> None:
    for name, columns, where in INDEXES:
        op.create_index(name, "jobs", columns, postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def downgrade() -> None:
    for name, _, _ in INDEXES:
        op.drop_index(name, table_name="jobs")
