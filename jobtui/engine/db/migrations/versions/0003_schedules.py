"""job schedules: resolved schedule, expiry, replacement

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jobtui.engine.db.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("schedule", sa.Text(), nullable=True))
    op.add_column("jobs", sa.Column("expires_at", UTCDateTime(), nullable=True))
    op.add_column("jobs", sa.Column("replaced_by", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("replaced_by")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("schedule")
