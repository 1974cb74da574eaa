"""job counts per status kept by triggers

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

from jobtui.engine.db import counts

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        counts.install(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in counts.DROP_TRIGGERS:
            op.execute(statement)
        op.execute("DROP TABLE IF EXISTS job_counts")
