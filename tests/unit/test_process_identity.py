"""A recorded process is told by its start since boot: the same process whatever the wall clock did, never
a process that reused its pid, nor one of another boot."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from jobtui.engine.domain.processes import is_same_process, is_unreaped_process, start_of


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "30"])
    yield proc
    proc.kill()
    proc.wait()


def test_a_live_process_is_itself_by_its_start_whatever_its_create_time_reads(
    sleeper: subprocess.Popen[bytes],
) -> None:
    start = start_of(sleeper.pid)
    assert start is not None
    # A create time off by a whole second: what a step of the wall clock makes of the boot time.
    created = 1.0
    assert is_same_process(sleeper.pid, created, start)
    assert is_unreaped_process(sleeper.pid, created, start)


def test_a_reused_pid_or_another_boot_is_not_the_recorded_process(sleeper: subprocess.Popen[bytes]) -> None:
    start = start_of(sleeper.pid)
    assert start is not None
    boot, ticks = start.rsplit(":", 1)
    later = f"{boot}:{int(ticks) + 1}"  # the same pid, started a tick later: another process
    other_boot = f"{'0' * len(boot)}:{ticks}"
    for recorded in (later, other_boot):
        assert not is_same_process(sleeper.pid, 0.0, recorded)
        assert not is_unreaped_process(sleeper.pid, 0.0, recorded)


def test_an_exited_process_is_unreaped_until_its_parent_reaps_it() -> None:
    proc = subprocess.Popen(["true"])
    start = start_of(proc.pid)
    assert start is not None
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    assert not is_same_process(proc.pid, 0.0, start)
    assert is_unreaped_process(proc.pid, 0.0, start)
    proc.wait()
    assert not is_unreaped_process(proc.pid, 0.0, start)
    assert start_of(proc.pid) is None
