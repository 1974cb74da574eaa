"""The engine's fast lane (plans in memory, set-based writes) and its rule-rich path write the same rows:
the same job, task and op states, the same audit trail, the same number of change-feed rows. Jobs leave
the lane at any point (a failed or ignored op, a gate) and the walker goes on from its rows.

And one pass is one transaction: a job the engine cannot advance (a poison job) is undone alone, the
rest of the batch stands, and the job moves on once it can.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from jobtui.engine.db.store import Store
from jobtui.engine.domain.states import FINAL_STATUSES, Status
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import status_of

BACKENDS = ("sqlite", "postgresql")

# Fresh jobs of every shape the lane walks, and some it hands over (a failure, a trap, a PRE op).
DEFINITIONS = (
    'name = "one-call"\n[[run]]\ncall = "jobtui.engine.worker.runner:noop"\n',
    'name = "two-hosts"\ntargets = ["a", "b"]\n[[run]]\nrun = "true"\n[[run]]\nrun = "true"\n'
    '[[post]]\nrun = "true"\n',
    'name = "per-host"\ntargets = ["x", "y", "z"]\n[[run]]\nrun = "true"\nper_target = true\n'
    '[[post]]\ncall = "jobtui.engine.worker.runner:noop"\n',
    'name = "fails"\n[[run]]\nrun = "exit 3"\n[[post]]\nrun = "true"\n',
    'name = "ignored"\n[[run]]\nrun = "exit 3"\non_error = "ignore"\n[[run]]\nrun = "true"\n',
    'name = "pre"\n[[pre]]\nrun = "echo db >> $JOBTUI_NATURES_FILE; echo web >> $JOBTUI_NATURES_FILE"\n'
    '[[pre]]\nrun = "true"\n[[run]]\nrun = "true"\n',
    'name = "host-fails"\ntargets = ["p", "q"]\n[[run]]\nrun = \'test "$JOBTUI_TARGET" = p\'\n'
    "per_target = true\n",
)

# What differs between two runs of the same job whatever the lane: identities and where files are.
_VOLATILE = {
    "id",
    "job_id",
    "task_id",
    "seq",
    "log_path",
    "token",
    "pid",
    "pid_create_time",
    "status_file",
    "host",
}


def _run_all(store: Store, submit: Callable[..., int], fast_lane: bool) -> list[int]:
    ids = [submit(one) for one in DEFINITIONS]
    engine = Engine(store, workers=2, fast_lane=fast_lane)
    try:
        engine.run_until(lambda: all(Status(status_of(store, i)) in FINAL_STATUSES for i in ids))
    finally:
        engine.shutdown()
    return ids


def _rows(store: Store, job_id: int) -> dict[str, Any]:
    def plain(row: Any) -> dict[str, Any]:
        return {k: v for k, v in row._mapping.items() if k not in _VOLATILE}

    with store.engine.connect() as conn:
        job = conn.execute(text("SELECT * FROM jobs WHERE id = :id"), {"id": job_id}).one()
        tasks = conn.execute(
            text("SELECT * FROM tasks WHERE job_id = :id ORDER BY position"), {"id": job_id}
        ).all()
        position = {t.id: t.position for t in tasks}
        ops = conn.execute(
            text("SELECT * FROM op_runs WHERE job_id = :id ORDER BY position"), {"id": job_id}
        ).all()
        audit = conn.execute(text("SELECT * FROM audit WHERE job_id = :id ORDER BY id"), {"id": job_id}).all()
        changes = conn.execute(text("SELECT seq FROM changes WHERE job_id = :id"), {"id": job_id}).all()
    audit_rows = [plain(row) for row in audit]
    for row in audit_rows:
        row["comment"] = re.sub(r"worker [0-9a-f]{8}", "worker W", row["comment"] or "")
    return {
        "job": plain(job),
        "tasks": [plain(t) for t in tasks],
        "ops": [{**plain(o), "task": position.get(o.task_id)} for o in ops],
        "audit": audit_rows,
        "changes": len(changes),
        # A viewer asks the feed "what changed since": the job's seq is its newest change.
        "seq_is_newest": job.seq == max(c.seq for c in changes),
    }


def test_the_fast_lane_writes_what_the_walker_writes(store: Store, submit: Callable[..., int]) -> None:
    walked = [_rows(store, i) for i in _run_all(store, submit, fast_lane=False)]
    laned = [_rows(store, i) for i in _run_all(store, submit, fast_lane=True)]
    for definition, slow, fast in zip(DEFINITIONS, walked, laned, strict=True):
        assert fast == slow, definition.splitlines()[0]
    assert laned[5]["job"]["natures"] == '["db", "web"]'
    ends = [one["job"]["status"] for one in laned]
    assert ends == ["FINISHED", "FINISHED", "FINISHED", "ERROR", "FINISHED", "FINISHED", "PARTIAL"]


def test_a_poison_job_is_undone_alone_and_moves_on_once_it_can(
    store: Store, submit: Callable[..., int], engine: Engine
) -> None:
    poison = submit('name = "poison"\n[[run]]\nrun = "true"\n')
    good = submit('name = "good"\n[[run]]\nrun = "true"\n')
    with store.engine.begin() as conn:
        stored = conn.execute(text("SELECT definition FROM jobs WHERE id = :id"), {"id": poison}).scalar_one()
        # A definition the engine cannot read: walking this job fails, in the same pass as the good one.
        conn.execute(text("UPDATE jobs SET definition = '{' WHERE id = :id"), {"id": poison})
    engine.run_until(lambda: status_of(store, good) == "FINISHED")
    with store.engine.connect() as conn:
        step, started = conn.execute(
            text("SELECT step, started_at FROM jobs WHERE id = :id"), {"id": poison}
        ).one()
        running = conn.execute(
            text("SELECT count(*) FROM op_runs WHERE job_id = :id AND status <> 'pending'"), {"id": poison}
        ).scalar_one()
    # Claimed (the claim stands), but nothing of its failed walk was written.
    assert status_of(store, poison) == "RUNNING" and step == "INIT" and started is None and running == 0
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET definition = :d WHERE id = :id"), {"d": stored, "id": poison})
    engine.run_until(lambda: status_of(store, poison) == "FINISHED")
