"""Alembic environment: always run with a connection handed in by jobtui.engine.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import jobtui.engine.db.models  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through jobtui (jobtui.engine.db.migrate), not the alembic CLI")
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
