"""worker stopping: when a daemon began to stop (its first SIGTERM): it claims nothing from then on while
its ops in flight finish, so it serves the queue no longer, and dashboards say so (and run their own engine)
instead of reading it live while the queue stalls

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import jobtui.engine.db.models

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "workers",
        sa.Column("stopping_at", jobtui.engine.db.models.UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("workers", "stopping_at")
