"""A log folder is shared by a group (README), so any member can plant a symbolic link or a FIFO where
the engine writes or reads a job's files: a job's log, its natures file, the database's writer lock. The
engine never writes, reads or ships through one (found by a security review: it appended an op's output to
the link's target, read a root-only file as a job's natures, and overwrote a file's first bytes with its
pid)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.read.job_log import file_end, file_read
from jobtui.engine.service.actions import Actions
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import definition, detail, run_until_status

Submit = Callable[..., int]


@pytest.mark.parametrize("planted", ["a symbolic link", "a FIFO"])
def test_an_op_whose_log_is_not_a_regular_file_is_not_run_and_says_why(
    planted: str, engine: Engine, store: Store, submit: Submit, tmp_path: Path
) -> None:
    victim, ran = tmp_path / "victim", tmp_path / "ran"
    victim.write_text("victim-original\n")
    job_id = submit(f'name = "j"\n[[run]]\nrun = "touch {ran}; echo INJECTED"\n')
    log = Path(store.log_file(job_id))
    log.parent.mkdir(parents=True, exist_ok=True)
    if planted == "a symbolic link":
        log.symlink_to(victim)
    else:
        os.mkfifo(log)
    run_until_status(engine, job_id, "ERROR")
    step = detail(store, job_id)["tasks"][0]["steps"][0]
    assert step["exit_code"] == 127
    assert "not a regular file (a symbolic link is never written through)" in step["error"]
    assert str(log) in step["error"]
    assert not ran.exists()  # its output would have gone through the link: it never ran
    assert victim.read_text() == "victim-original\n"


def test_a_local_log_that_is_a_symbolic_link_reads_as_nothing(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("root-only token\n")
    log = tmp_path / "job-1.log"
    log.symlink_to(secret)
    assert file_read(str(log), 0, 1000).data == b""
    assert file_end(str(log), 1000).data == b""


def test_a_natures_file_planted_as_a_link_is_not_read(
    engine: Engine, store: Store, submit: Submit, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("rootonlytoken\n")
    job_id = submit('name = "j"\n[[pre]]\nrun = "true"\n[[run]]\nrun = "true"\n')
    natures = store.log_dir / f"job-{job_id}.natures"
    natures.parent.mkdir(parents=True, exist_ok=True)
    natures.symlink_to(secret)
    job = run_until_status(engine, job_id, "FINISHED")
    assert json.loads(job.natures or "[]") == []


@pytest.mark.backends("sqlite")  # the writer lock is SQLite's
def test_a_writer_lock_planted_as_a_link_is_refused_and_its_target_kept(
    store: Store, submit: Submit, tmp_path: Path
) -> None:
    job_id = submit('name = "j"\n[[run]]\nrun = "true"\n')
    victim = tmp_path / "victim"
    victim.write_text("IMPORTANT-FILE\n")
    assert store.db_path is not None
    lock = Path(f"{store.db_path}.writelock")
    lock.unlink(missing_ok=True)
    lock.symlink_to(victim)
    cancel = subprocess.run(
        [sys.executable, "-m", "jobtui", "--db", store.url, "cancel", str(job_id)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cancel.returncode == 2
    assert "a symbolic link, never opened" in cancel.stderr and str(lock) in cancel.stderr
    assert "Traceback" not in cancel.stderr
    assert victim.read_text() == "IMPORTANT-FILE\n"


@pytest.fixture
def full_folder(tmp_path: Path) -> Iterator[Path]:
    """A log folder on a filesystem with no room left (a 64 KiB tmpfs, filled)."""
    folder = tmp_path / "full"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        with contextlib.suppress(OSError), (folder / "filler").open("wb") as filler:
            while True:
                filler.write(b"x" * 4096)
                filler.flush()
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.backends("sqlite")  # the log folder's disk, not the database's
def test_output_a_full_disk_kept_from_the_log_is_said_with_the_op_s_end(
    db_url: str, clock: FakeClock, full_folder: Path
) -> None:
    """Found by review: on a full log folder a job's whole output was lost, and nothing (the daemon, the
    audit trail, `show`) said so: `jobtui log` printed nothing and exited 0."""
    store = Store(db_url, clock=clock, log_dir=full_folder)
    job_id = Actions(store, Actor("tester")).submit(
        definition('name = "j"\n[[run]]\nname = "say"\nrun = "echo hello-output"\n')
    )
    engine = Engine(store, workers=1)
    try:
        run_until_status(engine, job_id, "FINISHED")  # the op did what it does: its output is what is lost
    finally:
        engine.shutdown()
    step = detail(store, job_id)["tasks"][0]["steps"][0]
    assert step["exit_code"] == 0
    assert step["error"] == "done; output lost, not written to its log: No space left on device"
