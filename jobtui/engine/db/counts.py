"""Job counts per (project, status, system) kept by triggers, so the monitor's header and unfiltered totals
cost the same with a million jobs as with ten, for a user who may view every project or a few of them
(migration 0016 added the project). SQLite only for now; other backends count with GROUP BY."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the monitor reads TRIGGER_NAMES before SQLAlchemy is imported
    from sqlalchemy.engine import Connection

TRIGGER_NAMES = ("jobs_count_insert", "jobs_count_delete", "jobs_count_update")

_BUMP = (
    "INSERT INTO job_counts (project, status, system, n) VALUES ({row}.project, {row}.status, {row}.system, "
    "{delta}) ON CONFLICT (project, status, system) DO UPDATE SET n = n + {delta};"
)

CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS job_counts (project VARCHAR NOT NULL, status VARCHAR NOT NULL, "
    "system BOOLEAN NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (project, status, system))"
)

CREATE_TRIGGERS = (
    f"CREATE TRIGGER IF NOT EXISTS {TRIGGER_NAMES[0]} AFTER INSERT ON jobs BEGIN "
    + _BUMP.format(row="NEW", delta=1)
    + " END",
    f"CREATE TRIGGER IF NOT EXISTS {TRIGGER_NAMES[1]} AFTER DELETE ON jobs BEGIN "
    + _BUMP.format(row="OLD", delta=-1)
    + " END",
    f"CREATE TRIGGER IF NOT EXISTS {TRIGGER_NAMES[2]} AFTER UPDATE OF status, system, project ON jobs "
    "WHEN OLD.status IS NOT NEW.status OR OLD.system IS NOT NEW.system OR OLD.project IS NOT NEW.project "
    "BEGIN " + _BUMP.format(row="OLD", delta=-1) + " " + _BUMP.format(row="NEW", delta=1) + " END",
)

RECOUNT = (
    "DELETE FROM job_counts",
    "INSERT INTO job_counts (project, status, system, n) "
    "SELECT project, status, system, count(*) FROM jobs GROUP BY project, status, system",
)

DROP_TRIGGERS = tuple(f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGER_NAMES)


def install(conn: Connection) -> None:
    """Create the table and triggers and count from scratch (inside the caller's transaction)."""
    for statement in (CREATE_TABLE, *CREATE_TRIGGERS, *RECOUNT):
        conn.exec_driver_sql(statement)


def healthy(conn: Connection) -> bool:
    found = conn.exec_driver_sql(
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN (?, ?, ?)", TRIGGER_NAMES
    ).scalar()
    return found == len(TRIGGER_NAMES)
