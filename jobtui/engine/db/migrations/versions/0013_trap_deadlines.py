"""trap deadlines: the once-a-second trap-timeout sweep walks the trapped jobs whose timer runs, by
deadline, not every trapped job (a demo history holds thousands, most waiting forever)

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Spelled as engine/worker/sweeps.py's query spells it: a partial index serves a literal condition only.
TRAPPED = "status = 'TRAPPED'"


def upgrade() -> None:
    op.create_index(
        "ix_jobs_trap_deadline",
        "jobs",
        ["trap_deadline_at"],
        postgresql_where=sa.text(TRAPPED),
        sqlite_where=sa.text(TRAPPED),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_trap_deadline", table_name="jobs")
