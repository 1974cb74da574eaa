"""sort by meaning: the job table sorts a status by its severity (needs attention first) and a step in
pipeline order, by index

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The expressions engine/read/listing.py sorts by (RANKED), spelled out: a migration must not change when
# that does. SQLite only, partial like migration 0007's sort indexes (system jobs apart); on PostgreSQL the
# sort stays a top-N sort of the table, as for every column but id.
STATUS_RANK = (
    "(CASE status WHEN 'TRAPPED' THEN 0 WHEN 'ABEND' THEN 1 WHEN 'ERROR' THEN 2 WHEN 'TRAP_PAUSED' THEN 3 "
    "WHEN 'APPROVAL' THEN 4 WHEN 'EXPIRED' THEN 5 WHEN 'PAUSED' THEN 6 WHEN 'PARTIAL' THEN 7 "
    "WHEN 'ROLLBACK' THEN 8 WHEN 'RUNNING' THEN 9 WHEN 'READY' THEN 10 WHEN 'REJECTED' THEN 11 "
    "WHEN 'CANCELED' THEN 12 WHEN 'ROLLEDBACK' THEN 13 WHEN 'REPLACED' THEN 14 WHEN 'FINISHED' THEN 15 "
    "ELSE 16 END)"
)
STEP_RANK = (
    "(CASE step WHEN 'INIT' THEN 0 WHEN 'PRE' THEN 1 WHEN 'RUN' THEN 2 WHEN 'POST' THEN 3 WHEN 'END' THEN 4 "
    "ELSE 5 END)"
)
INDEXES = {"ix_jobs_sort_status_rank": STATUS_RANK, "ix_jobs_sort_step_rank": STEP_RANK}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, expression in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON jobs ({expression}) WHERE system = 0")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")
