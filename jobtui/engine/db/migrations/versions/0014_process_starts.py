"""process starts: workers and op runs record their process's start ("<boot id>:<clock ticks since boot>")
beside its create time, which moves with every step of the wall clock and made live engines read as gone;
and a worker says what kind of engine it is (a daemon, or a dashboard's own, which leaves with it)

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows written before (and by an engine of an older jobtui) are judged by their create time.
    op.add_column("workers", sa.Column("pid_start", sa.String(), nullable=True))
    op.add_column("op_runs", sa.Column("pid_start", sa.String(), nullable=True))
    op.add_column("workers", sa.Column("kind", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("workers", "kind")
    op.drop_column("op_runs", "pid_start")
    op.drop_column("workers", "pid_start")
