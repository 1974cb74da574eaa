"""A step of the wall clock (NTP, an operator) makes no healthy engine lost: silence is measured on the
monotonic clock too (issue 14, item 10: a forward step of 1 h used to ABEND a healthy daemon's job)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import run_until_status, status_of
from tests.support.ops_running import wait_op_started

BACKENDS = ("sqlite", "postgresql")
Submit = Callable[..., int]


@pytest.mark.parametrize("step_hours", [1, -1])
def test_a_wall_clock_step_does_not_make_a_healthy_engine_lost(
    store: Store, submit: Submit, clock: FakeClock, tmp_path: Path, step_hours: int
) -> None:
    gate = tmp_path / "go"
    job_id = submit(f'name = "long"\n[[run]]\nrun = "while [ ! -f {gate} ]; do sleep 0.02; done"\n')
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
    job_id = submit(f'name = "long"\n[[run]]\nrun = "while [ ! -f {gate} ]; do sleep 0.02; done"\n')
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
