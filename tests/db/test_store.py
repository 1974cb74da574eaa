"""The database: schema versions, transactions, settings, pause-on-failure, the change feed."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from jobtui.engine.db import store as store_module
from jobtui.engine.db.driver import SCHEMA_HEAD
from jobtui.engine.db.store import Store, StoreError
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.formats.policy_file import parse_policy
from jobtui.engine.service.actions import Actions
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import run_until_status, status_of

BACKENDS = ("sqlite", "postgresql")

Submit = Callable[..., int]


def test_a_fresh_database_is_created_at_the_current_schema_in_wal_mode(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'new.db'}")
    with sqlite3.connect(store.db_path) as conn:  # type: ignore[arg-type]
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (SCHEMA_HEAD,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"jobs", "tasks", "op_runs", "envelopes", "settings", "workers", "audit", "changes"} <= tables


def test_a_commit_is_durable_before_the_engine_goes_on(store: Store) -> None:
    """A claim is on disk before its op starts: SQLite syncs its WAL at every commit (FULL; NORMAL may lose
    the last commits to a power cut), PostgreSQL waits for its WAL flush (synchronous_commit on)."""
    with store.write() as s:
        if store.is_sqlite:
            assert s.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        else:
            assert s.execute(text("SHOW synchronous_commit")).scalar() == "on"


def test_a_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    Store(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError, match="schema version 9999, newer than this jobtui understands"):
        Store(f"sqlite:///{path}")


def test_an_older_database_is_upgraded_in_place(tmp_path: Path) -> None:
    """A database from before the first migration (no version table, no tables) is brought to head."""
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()
    store = Store(f"sqlite:///{path}")
    actions = Actions(store, Actor("tester"))
    from tests.support.helpers import definition

    assert actions.submit(definition('name = "j"\n')) == 1


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open database"):
        Store(f"sqlite:///{path}")


def test_a_server_that_takes_the_connection_and_never_answers_is_given_up_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A port where something listens but no PostgreSQL answers (a stuck server, another program): the
    store says it cannot open the database once CONNECT_TIMEOUT_S passed, instead of waiting forever."""
    monkeypatch.setattr(store_module, "CONNECT_TIMEOUT_S", 1)
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(4)
        port = mute.getsockname()[1]
        with pytest.raises(StoreError, match=r"cannot open database .*timeout"):
            Store(f"postgresql://nobody@127.0.0.1:{port}/jobs")


def test_another_programs_sqlite_file_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
        conn.execute("INSERT INTO customers VALUES ('ada')")
    before = path.read_bytes()

    with pytest.raises(StoreError, match=r"not a jobtui database: it holds tables of its own \(customers\)"):
        Store(f"sqlite:///{path}")

    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm.db"]  # no log folder, no lock file


def test_a_failed_transaction_leaves_nothing_behind(store: Store, submit: Submit) -> None:
    job_id = submit('name = "j"\n[[run]]\nrun = "true"\n')
    seq = store.last_seq()
    with pytest.raises(RuntimeError), store.write() as s:
        from jobtui.engine.db.models import Job

        job = s.get(Job, job_id)
        assert job is not None
        store.change_job(s, job, "tester", "cancel", None, comment="half", name="renamed")
        raise RuntimeError("crash in the middle")
    from tests.support.helpers import job_of

    assert job_of(store, job_id).name == "j"
    assert store.last_seq() == seq


def test_pause_queue_on_failure_pauses_and_says_why(
    engine: Engine, store: Store, submit: Submit, actions: Actions
) -> None:
    assert actions.settings() == {"pause_queue_on_failure": False, "op_log_cap_mib": 64}
    actions.set_setting("pause_queue_on_failure", True)
    failing = submit('name = "db-load"\n[[run]]\nrun = "exit 1"\n')
    run_until_status(engine, failing, "ERROR")
    state = actions.queue_state()
    assert state.paused and state.reason == f"job {failing} (db-load) ended ERROR"
    waiting = submit('name = "next"\n[[run]]\nrun = "true"\n')
    for _ in range(3):
        engine.tick()
    assert status_of(store, waiting) == "READY"
    actions.queue_resume()
    run_until_status(engine, waiting, "FINISHED")


def test_settings_need_queue_admin(store: Store) -> None:
    policy = parse_policy(
        '[roles.viewer]\nactions = ["action.job.view_monitor"]\n[users]\nbob = ["viewer"]\n', "policy.toml"
    )
    with pytest.raises(PermissionError, match=r"bob lacks action\.queue\.admin"):
        Actions(store, Actor("bob", policy)).set_setting("pause_queue_on_failure", True)
    assert Actions(store, Actor("bob", policy)).settings() == {
        "pause_queue_on_failure": False,
        "op_log_cap_mib": 64,
    }


def test_every_job_write_moves_the_change_feed(
    store: Store, submit: Submit, actions: Actions, clock: FakeClock
) -> None:
    job_id = submit('name = "j"\n[[run]]\nrun = "true"\n', at="+1h")
    from tests.support.helpers import job_of

    before = job_of(store, job_id).seq
    actions.reschedule(job_id, "+3h")
    after = job_of(store, job_id).seq
    assert after > before and store.last_seq() == after
