"""op tokens: each op run records, before its op starts, the token put in the op's environment
($JOBTUI_OP_TOKEN), so an engine that never saw its pid finds it, and cancel finds what it started

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: op runs written before (and the bulk loader's raw inserts) have no token.
    op.add_column("op_runs", sa.Column("token", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("op_runs", "token")
