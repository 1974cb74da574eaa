"""log chunks: the engine ships each held job's log file into the database, so `jobtui log` and the
dashboard on any host read a job's output, not only on the host whose engine ran it

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jobtui.engine.db.models import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Jobs logged before this revision have no chunk: readers fall back to the local file for them.
    op.create_table(
        "log_chunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("file_offset", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_log_chunks_job_id_id", "log_chunks", ["job_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_log_chunks_job_id_id", table_name="log_chunks")
    op.drop_table("log_chunks")
