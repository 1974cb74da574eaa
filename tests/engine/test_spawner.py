"""What a slot's op starter tells the engine: an op that ends as it starts, in one answer (its end with its
pid, nothing left to signal); an op that runs on, by its live pid at once, then by its end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psutil

from jobtui.engine.worker.opjournal import journal_ref
from jobtui.engine.worker.opstarter import HEADER, MessageReader, write_message
from jobtui.engine.worker.runner import read_status_file
from jobtui.engine.worker.spawner import Spawner, starter_command

FIRST_LINE = b"[2026-12-05 12:00:00] run: started\n"


def test_an_op_that_ends_as_it_starts_is_told_with_its_end(tmp_path: Path) -> None:
    # A window no op start on a loaded machine outlasts: `exit 3` ends within it.
    spawner = Spawner(quick_s=30.0)
    status = journal_ref(str(tmp_path), "w1", 1, "w1-00000001")
    try:
        spawned = spawner.spawn(
            ["/bin/sh", "-c", "exit 3"], dict(os.environ), str(tmp_path / "job.log"), status, FIRST_LINE
        )
    finally:
        spawner.close()
    assert spawned.quick and not spawned.running() and spawned.returncode == 3
    assert not spawned.first_line_written and not (tmp_path / "job.log").exists()  # the engine ships it
    assert read_status_file(status) == 3


def test_an_op_that_runs_on_is_told_by_its_live_pid_then_by_its_end(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    spawner = Spawner()
    status = journal_ref(str(tmp_path), "w1", 1, "w1-00000001")
    try:
        spawned = spawner.spawn(
            ["/bin/sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.01; done; echo out; exit 4"],
            dict(os.environ),
            str(tmp_path / "job.log"),
            status,
            FIRST_LINE,
        )
        assert spawned.running() and not spawned.quick
        op = psutil.Process(spawned.pid)
        assert op.cmdline()[:2] == ["/bin/sh", "-c"] and abs(op.create_time() - spawned.create_time) < 0.05
        gate.touch()
        spawned.wait()
    finally:
        spawner.close()
    assert not spawned.running() and spawned.returncode == 4 and spawned.first_line_written
    assert (tmp_path / "job.log").read_bytes() == FIRST_LINE + b"out\n"
    assert read_status_file(status) == 4


def test_answers_read_together_are_each_told_and_one_cut_short_is_none() -> None:
    """The pid and the end of an op that ended meanwhile reach the slot in one read: both are told."""
    read_end, write_end = os.pipe()
    try:
        answers = MessageReader(read_end)
        write_message(write_end, (7, "pid", 123, 1.5, 0))
        write_message(write_end, (7, "exit", 0, True))
        os.write(write_end, HEADER.pack(10) + b"cut")  # the starter died writing it
        os.close(write_end)
        assert answers.next() == (7, "pid", 123, 1.5, 0)
        assert answers.next() == (7, "exit", 0, True)
        assert answers.next() is None
    finally:
        os.close(read_end)


def test_a_starter_runs_from_cached_bytecode_and_imports_no_module_that_would_slow_its_start() -> None:
    """Every engine slot starts one: compiled again as a script, or with `signal`'s enums, `pickle`, `re`
    or `contextlib` imported, a starter cost more than twice the CPU it needs to start."""
    command = [sys.executable, "-S", "-E", "-v", *starter_command(quick_s=0.005)[3:]]
    for _ in range(2):  # the first may write the bytecode (a fresh checkout)
        started = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
        )
    said = started.stderr
    assert started.returncode == 0, said
    assert re.search(r"code object from '.*__pycache__/opstarter\.[^']*\.pyc'", said), said
    imported = set(re.findall(r"^import '([\w.]+)'", said, re.MULTILINE))
    assert "opstarter" in imported
    assert imported.isdisjoint({"signal", "enum", "pickle", "re", "contextlib", "typing", "collections"}), (
        imported
    )
