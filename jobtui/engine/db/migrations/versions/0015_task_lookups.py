"""task lookups: a job's op runs by task and its tasks by status, so the walk of a job of thousands of
targets asks about one task (its progress, whether it has ops left) or its few tasks waiting for a retry
without reading every op or task of the job at each op; and its ops still to run, so finding the next
one does not step over every op done before it


Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Spelled as engine/worker/pipeline.py's query spells it: a partial index serves a literal condition only.
PENDING = "status = 'pending'"


def upgrade() -> None:
    op.create_index("ix_op_runs_job_task", "op_runs", ["job_id", "exec", "task_id"])
    op.create_index("ix_tasks_job_status", "tasks", ["job_id", "status"])
    op.create_index(
        "ix_op_runs_pending",
        "op_runs",
        ["job_id", "exec", "position"],
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_op_runs_pending", table_name="op_runs")
    op.drop_index("ix_tasks_job_status", table_name="tasks")
    op.drop_index("ix_op_runs_job_task", table_name="op_runs")
