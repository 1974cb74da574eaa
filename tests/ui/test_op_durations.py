"""The steps table says how long each op took (or has been running)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.widgets import DataTable

from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import run_until_status
from tests.support.ops_running import running_op
from tests.support.pilot import app_for, monitor, shown_job, until

Submit = Callable[..., int]


async def test_the_steps_table_shows_each_ops_duration(
    store: Store, submit: Submit, engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    job = submit(
        f'name = "timed"\n[[pre]]\nname = "quick"\nrun = "true"\n'
        f'[[run]]\nname = "slow"\nrun = "while [ ! -f {gate} ]; do sleep 0.02; done"\n'
    )

    def slow_running() -> bool:
        op = running_op(store, job)
        return op is not None and op.name == "slow" and op.pid is not None

    engine.run_until(slow_running)
    clock.advance(95)
    gate.touch()
    run_until_status(engine, job, "FINISHED")
    async with app_for(store).run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: shown_job(pilot) == job, "the job's detail")
        steps = monitor(pilot).query_one("#steps-table", DataTable)
        await until(pilot, lambda: steps.row_count == 2, "its two ops")
        took = {str(steps.get_row_at(n)[0]): str(steps.get_row_at(n)[3]) for n in range(2)}
        assert took == {"quick": "0s", "slow": "1m35s"}
