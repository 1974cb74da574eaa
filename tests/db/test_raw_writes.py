"""The engine's set-based writes (db/raw.py): many rows in one statement over a VALUES list (SQLite) or over
arrays (PostgreSQL) store exactly what one statement per row would."""

from __future__ import annotations

import pendulum
import pytest
from sqlalchemy import select

from jobtui.engine.db import raw
from jobtui.engine.db.models import AUDIT, LOG_CHUNKS, TASKS
from jobtui.engine.db.raw import AUDIT_ROWS, execute_many, rows
from jobtui.engine.db.store import Store
from jobtui.engine.service.actions import Actions
from jobtui.engine.worker.logship import _CHUNK
from tests.support.helpers import definition

BACKENDS = ("sqlite", "postgresql")

_TASK_SEEN = "UPDATE tasks SET status = :status, last_triggered_at = :now, current_step = NULL WHERE id = :id"


def test_rows_are_inserted_in_the_order_given_nulls_and_times_included(
    store: Store, actions: Actions
) -> None:
    (job_id,) = actions.submit_many(definition('name = "x"\n'), 1)
    at = pendulum.datetime(2026, 12, 5, 7, 30, 0, 123456, tz="Europe/Madrid")
    audit = [
        {
            "job_id": job_id,
            "job_name": "x",
            "at": at,
            "who": "engine@here",
            "action": f"step-{n}",
            "from_status": None,
            "to_status": "RUNNING" if n % 2 else None,
            "comment": None,
            "refused": n == 3,
            "by_user": None,
        }
        for n in range(50)
    ]
    chunks = [
        {"job_id": job_id, "host": "h", "file_offset": n, "data": bytes([n]) * 3, "at": at} for n in range(50)
    ]
    with store.write() as s:
        assert execute_many(s, AUDIT_ROWS, audit) == 50
        execute_many(s, _CHUNK, chunks)
    with store.read() as s:
        stored = s.execute(
            select(AUDIT.c.action, AUDIT.c.at, AUDIT.c.to_status, AUDIT.c.refused)
            .where(AUDIT.c.job_id == job_id, AUDIT.c.action.like("step-%"))
            .order_by(AUDIT.c.id)
        ).all()
        data = s.execute(
            select(LOG_CHUNKS.c.data).where(LOG_CHUNKS.c.job_id == job_id).order_by(LOG_CHUNKS.c.id)
        )
        assert [bytes(d) for (d,) in data] == [bytes([n]) * 3 for n in range(50)], "chunks read back in order"
    assert [a for a, *_ in stored] == [f"step-{n}" for n in range(50)]
    assert {when for _, when, *_ in stored} == {at.in_timezone("UTC")}
    assert [(to, refused) for _, _, to, refused in stored][:4] == [
        (None, False),
        ("RUNNING", False),
        (None, False),
        ("RUNNING", True),
    ]


def test_an_update_counts_the_rows_it_changed_and_the_last_row_for_a_key_wins(
    store: Store, actions: Actions
) -> None:
    (job_id,) = actions.submit_many(definition('name = "x"\ntargets = ["a", "b", "c"]\n'), 1)
    with store.read() as s:
        ids = [
            i for (i,) in s.execute(select(TASKS.c.id).where(TASKS.c.job_id == job_id).order_by(TASKS.c.id))
        ]
    now = pendulum.datetime(2026, 12, 5, tz="UTC")
    updates = [
        {"id": ids[0], "status": "RUNNING", "now": now},
        {"id": ids[1], "status": "RUNNING", "now": now},
        {"id": 10**6, "status": "RUNNING", "now": now},  # no such task
    ]
    again = [
        {"id": ids[0], "status": "FAILED", "now": now},
        {"id": ids[0], "status": "SUCCEEDED", "now": now.add(seconds=1)},  # the same task again: it wins
    ]
    with store.write() as s:
        changed = execute_many(s, _TASK_SEEN, updates)
        assert execute_many(s, _TASK_SEEN, again) == 1, "one task changed (the last of its rows wins)"
        found = rows(
            s,
            "SELECT id, status, last_triggered_at FROM tasks WHERE id IN :ids",
            {"ids": ids},
            ("last_triggered_at",),
        )
    assert changed == 2
    by_id = {row["id"]: (row["status"], row["last_triggered_at"]) for row in found}
    assert by_id[ids[0]] == ("SUCCEEDED", now.add(seconds=1))
    assert by_id[ids[1]] == ("RUNNING", now)
    assert by_id[ids[2]] == ("SCHEDULED", None)


def test_many_rows_go_in_bounded_statements_in_order(
    store: Store, actions: Actions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(raw, "SET_ROWS", 7)  # PostgreSQL: 20 rows in three statements
    monkeypatch.setattr(raw, "SQLITE_ROWS", 7)  # SQLite likewise
    (job_id,) = actions.submit_many(definition('name = "x"\n'), 1)
    at = pendulum.datetime(2026, 12, 5, tz="UTC")
    chunks = [
        {"job_id": job_id, "host": "h", "file_offset": n, "data": b"%d," % n, "at": at} for n in range(20)
    ]
    with store.write() as s:
        assert execute_many(s, _CHUNK, chunks) == 20
        others = rows(s, "SELECT id FROM jobs WHERE id NOT IN :ids", {"ids": [job_id]})
    assert others == []
    with store.read() as s:
        data = s.execute(
            select(LOG_CHUNKS.c.data).where(LOG_CHUNKS.c.job_id == job_id).order_by(LOG_CHUNKS.c.id)
        )
        assert b"".join(bytes(d) for (d,) in data) == b"".join(b"%d," % n for n in range(20))


def test_text_is_stored_exactly_whatever_characters_it_holds(store: Store, actions: Actions) -> None:
    """On PostgreSQL the rows go as the text of arrays: quotes, backslashes, braces, commas, blanks, the
    word NULL and the empty string in it are values like any other (a comment is an operator's text)."""
    (job_id,) = actions.submit_many(definition('name = "x"\n'), 1)
    at = pendulum.datetime(2026, 12, 5, 7, 30, tz="UTC")
    comments = [
        'say "hi"',
        "back\\slash\\",
        "{braces}, commas",
        "  blanks\tand\nlines  ",
        "NULL",
        "null",
        "",
        None,
        "ünïcode ✓ \u3000",
        '\\"{,}"\\',
    ]
    audit = [
        {
            "job_id": job_id,
            "job_name": "x",
            "at": at,
            "who": "op",
            "action": f"say-{n}",
            "from_status": None,
            "to_status": None,
            "comment": comment,
            "refused": False,
            "by_user": None,
        }
        for n, comment in enumerate(comments)
    ]
    with store.write() as s:
        assert execute_many(s, AUDIT_ROWS, audit) == len(comments)
    with store.read() as s:
        stored = s.execute(
            select(AUDIT.c.comment)
            .where(AUDIT.c.job_id == job_id, AUDIT.c.action.like("say-%"))
            .order_by(AUDIT.c.id)
        ).all()
    assert [comment for (comment,) in stored] == comments


_CLAIM_LIKE = (
    "UPDATE tasks SET status = CASE WHEN status = 'SCHEDULED' THEN :status ELSE status END, "
    "current_step = :step WHERE id = :id AND status <> :status"
)


@pytest.mark.backends("sqlite")
def test_an_update_may_read_the_row_it_changes_and_use_a_parameter_twice(
    store: Store, actions: Actions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As SQLite's claim does (a status kept when it is ROLLBACK): each row's expressions read that row's
    own columns, and a parameter named twice has one value a row. (PostgreSQL's statements over arrays
    take parameters and literals only: its claim is a statement of its own.)"""
    monkeypatch.setattr(raw, "SQLITE_VARIABLES", 7)  # SQLite: two rows (three parameters each) a statement
    (job_id,) = actions.submit_many(definition('name = "x"\ntargets = ["a", "b", "c", "d", "e"]\n'), 1)
    with store.read() as s:
        ids = [
            i for (i,) in s.execute(select(TASKS.c.id).where(TASKS.c.job_id == job_id).order_by(TASKS.c.id))
        ]
    with store.write() as s:
        execute_many(s, _TASK_SEEN, [{"id": ids[0], "status": "FAILED", "now": pendulum.now("UTC")}])
        changed = execute_many(s, _CLAIM_LIKE, [{"id": i, "status": "RUNNING", "step": "RUN"} for i in ids])
        again = execute_many(s, _CLAIM_LIKE, [{"id": i, "status": "RUNNING", "step": "POST"} for i in ids])
        found = rows(s, "SELECT id, status, current_step FROM tasks WHERE id IN :ids", {"ids": ids})
    assert changed == 5
    assert again == 1, "only the FAILED task is not RUNNING yet"
    by_id = {row["id"]: (row["status"], row["current_step"]) for row in found}
    assert by_id[ids[0]] == ("FAILED", "POST")
    assert [by_id[i] for i in ids[1:]] == [("RUNNING", "RUN")] * 4


@pytest.mark.backends("sqlite")
def test_sqlite_writes_many_rows_in_one_statement(store: Store, actions: Actions) -> None:
    """One statement, one step of SQLite's, for all the rows: executemany binds and steps once a row,
    giving the interpreter lock away at each (no-op drains: 2,900-3,300 → 4,100-4,500 jobs/s)."""
    (job_id,) = actions.submit_many(definition('name = "x"\ntargets = ["a", "b", "c"]\n'), 1)
    with store.read() as s:
        ids = [i for (i,) in s.execute(select(TASKS.c.id).where(TASKS.c.job_id == job_id))]
    at = pendulum.datetime(2026, 12, 5, tz="UTC")
    chunks = [{"job_id": job_id, "host": "h", "file_offset": n, "data": b"x", "at": at} for n in range(100)]
    statements: list[str] = []
    with store.write() as s:
        driver = s.connection().connection.driver_connection
        assert driver is not None
        driver.set_trace_callback(statements.append)
        try:
            execute_many(s, _CHUNK, chunks)
            execute_many(s, _TASK_SEEN, [{"id": i, "status": "RUNNING", "now": at} for i in ids])
        finally:
            driver.set_trace_callback(None)
    assert [statement.split()[0] for statement in statements] == ["INSERT", "UPDATE"]
