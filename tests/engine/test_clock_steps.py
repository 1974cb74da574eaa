"""A step of the wall clock (NTP, an operator) makes no healthy engine lost: silence is measured on the
monotonic clock too (issue 14, item 10: a forward step of 1 h used to ABEND a healthy daemon's job), and a
process is told by its start since boot, not by its create time on the wall clock (the boot's wall-clock
time moves with the step: a live engine of this host read as gone, its jobs taken over)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psutil
import psutil._pslinux
import pytest

from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.read.listing import JobListing
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import run_until_status, status_of
from tests.support.ops_running import log_holds, wait_op_started

BACKENDS = ("sqlite", "postgresql")
Submit = Callable[..., int]
# An op that runs until the test creates the file {gate}.
LONG = 'name = "long"\n[[run]]\nrun = "while [ ! -f {gate} ]; do sleep 0.02; done"\n'


@pytest.mark.parametrize("step_hours", [1, -1])
def test_a_wall_clock_step_does_not_make_a_healthy_engine_lost(
    store: Store, submit: Submit, clock: FakeClock, tmp_path: Path, step_hours: int
) -> None:
    gate = tmp_path / "go"
    job_id = submit(LONG.format(gate=gate))
    first, second = Engine(store, host="host-a"), Engine(store, host="host-b")
    try:
        wait_op_started(first, store, job_id)
        second.tick()
        clock.set(clock.now().add(hours=step_hours))  # no time passes: the wall clock is set
        for _ in range(5):
            first.tick()
            second.tick()
        assert status_of(store, job_id) == "RUNNING"
        gate.touch()
        assert run_until_status(first, job_id, "FINISHED", "ABEND").status == "FINISHED"
    finally:
        first.shutdown()
        second.shutdown()


def test_an_engine_silent_for_longer_than_its_lease_is_still_lost(
    store: Store, submit: Submit, clock: FakeClock, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    job_id = submit(LONG.format(gate=gate))
    first, second = Engine(store, host="host-a"), Engine(store, host="host-b")
    try:
        wait_op_started(first, store, job_id)
        second.tick()
        clock.advance(first.lease_s + 1)  # time passes and host A says nothing
        assert run_until_status(second, job_id, "ABEND").status == "ABEND"
    finally:
        gate.touch()
        first.shutdown()
        second.shutdown()


def _step_the_boot_time(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """What a step of the wall clock does to /proc/stat's `btime` (the wall-clock time of the boot, in whole
    seconds: a step of a few milliseconds moves it by one when it crosses a second), as every process reads
    it from then on."""
    before = psutil.Process().create_time()
    stepped = psutil.boot_time() + seconds
    monkeypatch.setattr(psutil._pslinux, "boot_time", lambda: stepped)
    assert abs(psutil.Process().create_time() - before - seconds) < 0.01  # as psutil sees every process now


@pytest.mark.parametrize("step_s", [1.0, -1.0])
def test_a_step_that_moves_the_boot_time_leaves_an_engine_of_this_host_live(
    store: Store,
    submit: Submit,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    step_s: float,
) -> None:
    gate = tmp_path / "go"
    job_id = submit(LONG.format(gate=gate))
    first, second = Engine(store, host="host-a"), Engine(store, host="host-a")
    try:
        wait_op_started(first, store, job_id)
        second.tick()
        _step_the_boot_time(monkeypatch, step_s)
        for _ in range(5):
            clock.advance(second.sweep_s)  # each engine sweeps for lost workers
            first.tick()
            second.tick()
        assert status_of(store, job_id) == "RUNNING"
        assert not log_holds(store, job_id, b"is gone")()
        # A dashboard of this host still sees a live engine to talk to.
        listing = JobListing(store.reader)
        assert listing.daemon_host(clock.now().subtract(minutes=1), this_host="host-a") == "host-a"
        gate.touch()
        assert run_until_status(first, job_id, "FINISHED", "ABEND").status == "FINISHED"
    finally:
        gate.touch()
        first.shutdown()
        second.shutdown()


def test_an_op_is_re_adopted_across_a_step_that_moves_the_boot_time(
    store: Store, submit: Submit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = tmp_path / "go"
    job_id = submit(LONG.format(gate=gate))
    first = Engine(store, host="host-a")
    wait_op_started(first, store, job_id)
    first.shutdown()
    first.mark_stopped()  # its process leaves; its op runs on
    _step_the_boot_time(monkeypatch, 1.0)
    second = Engine(store, host="host-a")
    try:
        second.run_until(log_holds(store, job_id, b"re-adopted op"))
        assert status_of(store, job_id) == "RUNNING"
        gate.touch()
        assert run_until_status(second, job_id, "FINISHED", "ABEND").status == "FINISHED"
    finally:
        gate.touch()
        second.shutdown()
