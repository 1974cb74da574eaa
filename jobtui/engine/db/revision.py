"""Where the migrations live and which one a database is at, without importing Alembic."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def current_revision(conn: Connection) -> str | None:
    has_table = conn.execute(
        text(
            "SELECT 1 FROM information_schema.tables WHERE table_name = 'alembic_version'"
            if conn.dialect.name != "sqlite"
            else "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'"
        )
    ).first()
    if not has_table:
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return None if row is None else str(row[0])
