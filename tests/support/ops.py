"""`call` ops used by tests: importable as tests.support.ops:NAME by engines in other processes."""

from __future__ import annotations

import sqlite3
import threading
import time

from jobtui.engine.worker.runner import OpContext


def record_once(context: OpContext) -> None:
    """Insert one row per (job, exec, step); the unique constraint proves no op ran twice. With OPS_WORK_S,
    the op then works (sleeps) that many seconds."""
    path = context.env["OPS_LEDGER"]
    with sqlite3.connect(path, timeout=30) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS ledger (job_id INTEGER, exec INTEGER, step TEXT, "
            "UNIQUE (job_id, exec, step))"
        )
        conn.execute("INSERT INTO ledger VALUES (?, ?, ?)", (context.job_id, context.exec, context.step))
    time.sleep(float(context.env.get("OPS_WORK_S", "0")))


def fail(context: OpContext) -> int:
    return 3


def boom(context: OpContext) -> None:
    raise RuntimeError("boom from a call op")


_ledgers = threading.local()


def record_once_pg(context: OpContext) -> None:
    """record_once in a PostgreSQL table of the ops' own (OPS_LEDGER_DSN, created by the test).

    Each engine worker thread keeps its connection: a new PostgreSQL backend per op would cost more
    than the engine's own work for the op.
    """
    import psycopg

    conn = getattr(_ledgers, "conn", None)
    if conn is None or conn.closed:
        conn = _ledgers.conn = psycopg.connect(context.env["OPS_LEDGER_DSN"], autocommit=True)
    conn.execute("INSERT INTO ledger VALUES (%s, %s, %s)", (context.job_id, context.exec, context.step))
