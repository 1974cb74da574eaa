"""audit refusals: a refused action leaves a row (refused = true, no new status), and an action done as
another user (--as) records who really did it (by_user)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Server defaults: rows written before (and the bulk loader's raw inserts) are plain, not refused.
    op.add_column("audit", sa.Column("refused", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("audit", sa.Column("by_user", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("audit", "by_user")
    op.drop_column("audit", "refused")
