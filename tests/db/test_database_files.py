"""Each database has its own files: logs never shared, mixed or deleted across databases, and a daemon
whose SQLite file was deleted stops saying so (issue 14, item 4)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.service.actions import Actions
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import definition, run_until_status

BACKENDS = ("sqlite", "postgresql")
SECRET_JOB = 'name = "deploy"\n[[run]]\nrun = "echo password=hunter2"\n'
OTHER_JOB = 'name = "other"\n[[run]]\nrun = "echo nothing to see"\n'


def _second_url(db_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'staging.db'}"
    return str(request.getfixturevalue("pg_cluster").new_database())


def _run_one(store: Store, text: str) -> tuple[int, Path]:
    job_id = Actions(store, Actor("tester")).submit(definition(text), keep=True)
    engine = Engine(store, workers=1)
    try:
        job = run_until_status(engine, job_id, "FINISHED")
    finally:
        engine.shutdown()
    return job_id, Path(job.log_path)


def test_two_databases_never_share_a_log_file(
    db_url: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both in the default places: the user data folder for PostgreSQL.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("JOBTUI_LOG_DIR", raising=False)
    prod, staging = Store(db_url), Store(_second_url(db_url, request, tmp_path))
    assert prod.log_dir != staging.log_dir
    prod_id, prod_log = _run_one(prod, SECRET_JOB)
    staging_id, staging_log = _run_one(staging, OTHER_JOB)
    assert prod_id == staging_id  # the same job number in both: the case that used to share a file
    assert prod_log != staging_log
    assert "hunter2" in prod_log.read_text()
    assert "hunter2" not in staging_log.read_text()
    # Deleting staging's job leaves prod's log alone.
    Actions(staging, Actor("tester")).delete(staging_id)
    assert not staging_log.exists()
    assert prod_log.exists() and "hunter2" in prod_log.read_text()


@pytest.mark.backends("sqlite")
def test_a_sqlite_database_created_again_at_the_same_path_starts_with_fresh_logs(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOBTUI_LOG_DIR", raising=False)
    first = Store(db_url)
    _job_id, old_log = _run_one(first, SECRET_JOB)
    first.engine.dispose()
    path = Path(db_url.removeprefix("sqlite:///"))
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    again = Store(db_url)
    _job_id, new_log = _run_one(again, OTHER_JOB)
    assert new_log != old_log
    assert "hunter2" not in new_log.read_text()


@pytest.mark.backends("sqlite")
def test_a_daemon_stops_when_its_sqlite_file_is_deleted(db_url: str, tmp_path: Path) -> None:
    Store(db_url).engine.dispose()
    env = {k: v for k, v in os.environ.items() if k != "JOBTUI_DB"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobtui.cli", "daemon", "--db", db_url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        started = proc.stderr.readline()
        assert "jobtui engine" in started, started
        path = Path(db_url.removeprefix("sqlite:///"))
        path.unlink()
        code = proc.wait(timeout=30)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 2
    assert f"jobtui engine stopping: database {path} was deleted" in err
