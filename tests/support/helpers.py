"""Helpers every test group shares: definitions, waits, job lookups."""

from __future__ import annotations

import contextlib
import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
import psutil

from jobtui.engine.db.models import Job
from jobtui.engine.db.store import Store
from jobtui.engine.domain.definitions import Definition
from jobtui.engine.formats.definition_file import parse_definition
from jobtui.engine.worker.loop import Engine

START = pendulum.datetime(2026, 11, 23, 10, 0, tz="UTC")


ROOT = Path(__file__).resolve().parent.parent.parent


def definition(text: str, source: str = "test.toml") -> Definition:
    return parse_definition(textwrap.dedent(text), source)


def job_of(store: Store, job_id: int) -> Job:
    with store.read() as s:
        job = s.get(Job, job_id)
        assert job is not None, f"job {job_id} is gone"
        return job


def status_of(store: Store, job_id: int) -> str:
    return job_of(store, job_id).status


def run_until_status(engine: Engine, job_id: int, *statuses: str, timeout: float = 20.0) -> Job:
    """Drive the engine (waking on op exits) until the job reaches one of `statuses`."""
    engine.run_until(lambda: status_of(engine.store, job_id) in statuses, timeout=timeout)
    return job_of(engine.store, job_id)


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Wait for something another process does (a daemon's progress, a process's death).

    Polls at a short interval on the database or process table; used only where no engine in this
    process can be driven.
    """
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def live_pids_of_group(pgid: int) -> list[int]:
    found = []
    for proc in psutil.process_iter(["pid"]):
        # A process may exit between the listing and the look-up.
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
    return found


def detail(store: Store, job_id: int) -> dict[str, Any]:
    """The `show` JSON of a job: its tasks, steps and their errors."""
    from jobtui.engine.service.views import job_detail_json

    with store.read() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job_detail_json(job, s, store.now())


def job_log(store: Store, job_id: int) -> str:
    """A job's whole log as readers get it (`jobtui log`): from the database, wherever the op ran. A silent
    op's job has no log file; its log holds the engine's lines all the same."""
    from jobtui.engine.domain.permissions import Actor
    from jobtui.engine.service.reads import Reads

    reads, cursor, out = Reads(store, Actor("tester")), None, b""
    while True:
        piece = reads.log_read(job_id, cursor, 1 << 20)
        if not piece.data:
            return out.decode(errors="replace")
        cursor, out = piece.cursor, out + piece.data
