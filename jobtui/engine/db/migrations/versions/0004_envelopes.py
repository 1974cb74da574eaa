"""envelopes: chain positions, rollback job, notifications

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jobtui.engine.db.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("envelope_position", sa.Integer(), nullable=True))
    op.add_column("envelopes", sa.Column("source", sa.String(), nullable=False, server_default=""))
    op.add_column("envelopes", sa.Column("owner", sa.String(), nullable=False, server_default=""))
    op.add_column("envelopes", sa.Column("rollback_job_id", sa.Integer(), nullable=True))
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("envelope_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("level", sa.String(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notifications_envelope_id", "notifications", ["envelope_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_notifications_envelope_id", table_name="notifications")
    op.drop_table("notifications")
    with op.batch_alter_table("envelopes") as batch_op:
        batch_op.drop_column("rollback_job_id")
        batch_op.drop_column("owner")
        batch_op.drop_column("source")
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("envelope_position")
