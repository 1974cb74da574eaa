"""A job's log keeps at most op_log_cap_mib of one op's output and says how much it cut (issue 14)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from jobtui.engine.db.store import Store
from jobtui.engine.service.actions import Actions
from jobtui.engine.worker.logcap import RUNNING_SLACK
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import job_of, run_until_status

Submit = Callable[..., int]


def test_an_op_writing_past_the_cap_is_cut_with_a_marker_and_the_next_op_logs_in_full(
    store: Store, submit: Submit, actions: Actions
) -> None:
    actions.set_setting("op_log_cap_mib", 1)
    # 3 MiB of "y\n", then the next op's line.
    job_id = submit(
        'name = "loud"\n[[run]]\nrun = "yes | head -c 3145728"\n[[post]]\nrun = "echo after-the-flood"\n'
    )
    engine = Engine(store, workers=1)
    try:
        job = run_until_status(engine, job_id, "FINISHED")
    finally:
        engine.shutdown()
    log = Path(job.log_path).read_bytes()
    assert log.count(b"y\n") == (1 << 20) // 2, "exactly the cap of the op's output is kept"
    assert len(log) < (1 << 20) + 4096
    text = log.decode()
    assert "2,097,152 bytes of this op's output skipped" in text
    assert "after-the-flood" in text


def test_the_cap_is_a_setting_with_a_default(actions: Actions) -> None:
    assert actions.settings()["op_log_cap_mib"] == 64


def test_a_runaway_op_is_cut_while_it_runs_and_the_marker_says_at_least(
    store: Store, submit: Submit, actions: Actions, tmp_path: Path
) -> None:
    actions.set_setting("op_log_cap_mib", 1)
    flooded, gate = tmp_path / "flooded", tmp_path / "gate"
    flood = (1 << 20) + RUNNING_SLACK + (4 << 20)
    job_id = submit(
        f'name = "runaway"\n[[run]]\nrun = "yes | head -c {flood}; touch {flooded}; '
        f'while [ ! -e {gate} ]; do sleep 0.05; done"\n'
    )
    engine = Engine(store, workers=1)
    try:
        log = Path(job_of(store, job_id).log_path)
        # The op still runs, its output far past the cap: the file is cut back without waiting for its end
        # (smaller than what the op wrote; how much the op appended after the cut depends on when it came).
        engine.run_until(lambda: flooded.exists() and log.stat().st_size < flood)
        gate.touch()
        job = run_until_status(engine, job_id, "FINISHED")
    finally:
        engine.shutdown()
    text = Path(job.log_path).read_bytes().decode()
    assert log.read_bytes().count(b"y\n") == (1 << 20) // 2
    assert re.search(r"… at least [\d,]+ bytes of this op's output skipped", text)
