"""Alembic environment: always run with a connection handed in by jobtui.engine.db.migrate."""

from __future__ import annotations

from alembic import context

from jobtui.engine.db.models import Base, autogenerate_filter

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through jobtui (jobtui.engine.db.migrate), not the alembic CLI")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    # Autogenerate (alembic check, new revisions) must neither drop job_counts nor add SQLite-only indexes
    # on other backends.
    include_object=autogenerate_filter(connection.dialect.name),
    compare_server_default=True,
)
with context.begin_transaction():
    context.run_migrations()
