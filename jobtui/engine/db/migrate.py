"""Schema upgrades with the Alembic migrations shipped in the package."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from jobtui.engine.db.revision import MIGRATIONS_DIR, current_revision
from jobtui.engine.errors import StoreError


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine: Engine, url: str, seen_revision: str | None) -> None:
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    known = {rev.revision for rev in script.walk_revisions()}
    head = script.get_current_head()
    if seen_revision is not None and seen_revision not in known:
        raise StoreError(
            f"database {url} has schema version {seen_revision}, newer than this jobtui "
            f"understands (up to {head}); upgrade jobtui or use another database"
        )
    # Hold the write lock while upgrading so two processes opening a fresh database don't race.
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(740251)")
        current = current_revision(conn)
        if current == head:
            return
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
