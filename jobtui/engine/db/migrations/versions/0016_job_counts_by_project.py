"""job counts per project too, so the header of a user who may view a few projects costs the same with a
million jobs as an unrestricted one's (it counted their jobs with a GROUP BY: seconds a refresh)

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from alembic import op

from jobtui.engine.db import counts

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# The table and triggers of revision 0002, as they were (counts.py now makes 0016's).
_COUNTS_0002 = (
    "CREATE TABLE job_counts (status VARCHAR NOT NULL, system BOOLEAN NOT NULL, n INTEGER NOT NULL, "
    "PRIMARY KEY (status, system))",
    "CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN INSERT INTO job_counts (status, system, n) "
    "VALUES (NEW.status, NEW.system, 1) ON CONFLICT (status, system) DO UPDATE SET n = n + 1; END",
    "CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN INSERT INTO job_counts (status, system, n) "
    "VALUES (OLD.status, OLD.system, -1) ON CONFLICT (status, system) DO UPDATE SET n = n + -1; END",
    "CREATE TRIGGER jobs_count_update AFTER UPDATE OF status, system ON jobs "
    "WHEN OLD.status IS NOT NEW.status OR OLD.system IS NOT NEW.system BEGIN "
    "INSERT INTO job_counts (status, system, n) VALUES (OLD.status, OLD.system, -1) "
    "ON CONFLICT (status, system) DO UPDATE SET n = n + -1; "
    "INSERT INTO job_counts (status, system, n) VALUES (NEW.status, NEW.system, 1) "
    "ON CONFLICT (status, system) DO UPDATE SET n = n + 1; END",
    "INSERT INTO job_counts (status, system, n) SELECT status, system, count(*) FROM jobs "
    "GROUP BY status, system",
)


def _drop() -> None:
    for statement in counts.DROP_TRIGGERS:
        op.execute(statement)
    op.execute("DROP TABLE IF EXISTS job_counts")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _drop()
        counts.install(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _drop()
        for statement in _COUNTS_0002:
            op.execute(statement)
