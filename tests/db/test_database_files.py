"""Each database has its own files: logs never shared, mixed or deleted across databases, and a daemon
whose SQLite file was deleted stops saying so (issue 14, item 4)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.service.actions import Actions
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import definition, job_log, run_until_status

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


def _ran_and_waiting(folder: Path) -> tuple[int, int]:
    """A SQLite database in `folder` (its logs in the default place, beside it) with a job that ran, whose
    log is only in its file (as one logged before logs went to the database), and a job waiting to run."""
    from jobtui.engine.db.models import LOG_CHUNKS

    folder.mkdir()
    store = Store(f"sqlite:///{folder / 'jobs.db'}")
    ran, _log = _run_one(store, SECRET_JOB)
    with store.write() as s:
        s.execute(LOG_CHUNKS.delete().where(LOG_CHUNKS.c.job_id == ran))
    waiting = Actions(store, Actor("tester")).submit(definition(OTHER_JOB), keep=True)
    store.engine.dispose()
    return ran, waiting


def test_a_sqlite_database_moved_with_its_log_folder_runs_its_jobs_and_reads_their_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """Restored from a backup to another folder: the jobs' rows still name the old folder."""
    from jobtui.cli import main

    monkeypatch.delenv("JOBTUI_LOG_DIR", raising=False)
    before, after = tmp_path / "before", tmp_path / "after"
    ran, waiting = _ran_and_waiting(before)
    before.rename(after)

    moved = Store(f"sqlite:///{after / 'jobs.db'}")
    try:
        engine = Engine(moved, workers=1)
        try:
            job = run_until_status(engine, waiting, "FINISHED", "ERROR")
        finally:
            engine.shutdown()
        assert job.status == "FINISHED"
        db = ["--db", moved.url]
        for job_id, said in ((ran, b"password=hunter2\n"), (waiting, b"nothing to see\n")):
            assert main(["log", str(job_id), *db]) == 0
            out, err = capsysbinary.readouterr()
            assert said in out, (job_id, err)
            assert main(["show", str(job_id), "--json", *db]) == 0
            shown = Path(json.loads(capsysbinary.readouterr()[0])["log_path"])
            assert shown.is_relative_to(after) and shown.is_file()
    finally:
        moved.engine.dispose()


def test_a_copy_of_a_sqlite_database_never_writes_or_deletes_the_originals_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOBTUI_LOG_DIR", raising=False)
    original = tmp_path / "original"
    ran, waiting = _ran_and_waiting(original)
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    files = {path: path.read_bytes() for path in original.rglob("*") if path.is_file()}

    copied = Store(f"sqlite:///{copy / 'jobs.db'}")
    try:
        engine = Engine(copied, workers=1)
        try:
            run_until_status(engine, waiting, "FINISHED")
        finally:
            engine.shutdown()
        Actions(copied, Actor("tester")).delete(ran)
        assert "nothing to see" in Path(copied.log_file(waiting)).read_text()
        assert not Path(copied.log_file(ran)).exists()
    finally:
        copied.engine.dispose()
    assert {path: path.read_bytes() for path in original.rglob("*") if path.is_file()} == files


def test_an_engine_writes_a_jobs_log_in_its_own_folder_not_the_submitters(
    db_url: str, tmp_path: Path
) -> None:
    """On PostgreSQL the host that submits and the engine's have log folders of their own; readers read
    the database's copy."""
    submitter = Store(db_url, log_dir=tmp_path / "submitter-host")
    engine_host = Store(db_url, log_dir=tmp_path / "engine-host")
    try:
        job_id = Actions(submitter, Actor("tester")).submit(definition(OTHER_JOB), keep=True)
        shutil.rmtree(submitter.log_dir)  # on another machine: no such folder on the engine's
        engine = Engine(engine_host, workers=1)
        try:
            assert run_until_status(engine, job_id, "FINISHED", "ERROR").status == "FINISHED"
        finally:
            engine.shutdown()
        assert "nothing to see" in (engine_host.log_dir / f"job-{job_id}.log").read_text()
        assert "nothing to see" in job_log(submitter, job_id)
    finally:
        submitter.engine.dispose()
        engine_host.engine.dispose()
