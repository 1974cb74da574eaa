"""A database outage seen by engines on several hosts (PostgreSQL): silence is counted only over the time
the observer could reach the database itself. Each engine comes back after its own backoff; the first
back must not take the others for lost (a 29 s restart of the server abended healthy daemons' jobs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import job_of, run_until_status, status_of
from tests.support.ops_running import wait_op_started
from tests.support.pg import CutOff, PgCluster

BACKENDS = ("postgresql",)
Submit = Callable[..., int]
LONG = 'name = "long"\n[[run]]\nrun = "while [ ! -f {gate} ]; do sleep 0.02; done"\n'


@pytest.fixture
def cut_off(pg_cluster: PgCluster, db_url: str) -> Iterator[CutOff]:
    cut = CutOff(pg_cluster, db_url)
    yield cut
    cut.restore()


def _cut_off_for(engine: Engine, clock: FakeClock, seconds: float, step: float = 5.0) -> None:
    """Time passes while `engine` cannot reach the database: each of its passes fails."""
    while seconds > 0:
        clock.advance(min(step, seconds))
        seconds -= step
        with pytest.raises(DBAPIError):
            engine.tick()


@pytest.mark.parametrize("then", ["b-comes-back", "b-stays-silent"])
def test_an_engine_back_from_an_outage_gives_the_others_a_lease_before_taking_them_for_lost(
    then: str, store: Store, submit: Submit, clock: FakeClock, tmp_path: Path, cut_off: CutOff
) -> None:
    gate = tmp_path / "go"
    job_id = submit(LONG.format(gate=gate))
    host_b = Engine(store, host="host-b")
    host_a = Engine(Store(cut_off.url, clock=clock), host="host-a")
    try:
        wait_op_started(host_b, store, job_id)
        host_a.tick()  # A sweeps: it has seen B's heartbeat
        assert host_a._sweeps._heartbeats

        # The database goes away for longer than a lease. B is cut off too (it says nothing); A comes
        # back first, B after its own backoff.
        cut_off.cut()
        _cut_off_for(host_a, clock, host_a.lease_s + 10)
        cut_off.restore()
        clock.advance(host_a.sweep_s)
        host_a.tick()
        assert (host_a.back_after_s or 0) >= host_a.lease_s  # how long it was cut off
        for _ in range(2):
            clock.advance(host_a.sweep_s)
            host_a.tick()
        assert host_a.back_after_s is None  # said by the pass that was back only
        assert status_of(store, job_id) == "RUNNING", job_of(store, job_id).reason

        if then == "b-comes-back":
            for _ in range(10):  # two leases, both engines heard from
                clock.advance(host_a.heartbeat_s)
                host_b.tick()
                host_a.tick()
            assert status_of(store, job_id) == "RUNNING"
            gate.touch()
            assert run_until_status(host_b, job_id, "FINISHED", "ABEND").status == "FINISHED"
        else:
            # A worker truly gone is still declared lost, one lease after the observer is back.
            clock.advance(host_a.lease_s - 5)
            host_a.tick()
            assert status_of(store, job_id) == "RUNNING"
            clock.advance(6)
            job = run_until_status(host_a, job_id, "ABEND")
            assert "worker host-b lost" in (job.reason or "")
    finally:
        gate.touch()
        host_a.shutdown()
        host_b.shutdown()
