"""The engine's fast lane (plans in memory, set-based writes) and its rule-rich path write the same rows:
the same job, task and op states, the same audit trail, the same number of change-feed rows. Jobs leave
the lane at any point (a failed or ignored op, a gate) and the walker goes on from its rows.

And one pass is one transaction: a job the engine cannot advance (a poison job) is undone alone, the
rest of the batch stands, and the job moves on once it can.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.states import FINAL_STATUSES, Status
from jobtui.engine.service.actions import Actions
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
    'name = "rolling"\ntargets = ["m", "n"]\n[[run]]\nrun = "true"\nper_target = true\n'
    '[[run]]\ncall = "jobtui.engine.worker.runner:noop"\nper_target = true\n',
)

# What differs between two runs of the same job whatever the lane: identities, where files are, and
# the schedule resolved at submission (absolute times).
_VOLATILE = {
    "id",
    "schedule",
    "job_id",
    "task_id",
    "seq",
    "log_path",
    "token",
    "pid",
    "pid_create_time",
    "pid_start",
    "status_file",
    "host",
}


def _run_all(
    store: Store, submit: Callable[..., int], fast_lane: bool, clock: FakeClock | None = None
) -> list[int]:
    """Run every definition to its end; with `clock`, each is scheduled a minute ahead: the engine parks
    it at its RUN gate first, then claims it again once the minute passed."""
    at = {"at": store.now().add(minutes=1).isoformat()} if clock is not None else {}
    ids = [submit(one, **at) for one in DEFINITIONS]
    engine = Engine(store, workers=2, fast_lane=fast_lane)
    before = 0
    try:
        if clock is not None:
            engine.run_until(lambda: all(status_of(store, i) == "READY" and _parked(store, i) for i in ids))
            before = engine.fast_lane_jobs
            clock.advance(61)
        engine.run_until(lambda: all(Status(status_of(store, i)) in FINAL_STATUSES for i in ids))
        # With the lane on, every job enters it (at its claim, or its second claim when parked first): the
        # comparison is between the two lanes, not the walker with itself.
        taken = engine.fast_lane_jobs - before
        assert taken == (len(ids) if fast_lane else 0)
    finally:
        engine.shutdown()
    return ids


def _parked(store: Store, job_id: int) -> bool:
    with store.engine.connect() as conn:
        step = conn.execute(text("SELECT step FROM jobs WHERE id = :id"), {"id": job_id}).scalar_one()
    return bool(step == "RUN")


_STAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?")


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, str) and _STAMP.fullmatch(value):
        return datetime.fromisoformat(value)
    return None


def _rows(store: Store, job_id: int) -> dict[str, Any]:
    """The job's rows without identities; times as offsets from its creation (runs start at other times)."""
    with store.engine.connect() as conn:
        created = conn.execute(
            text("SELECT created_at FROM jobs WHERE id = :id"), {"id": job_id}
        ).scalar_one()
    base = _when(created)
    assert base is not None

    def plain(row: Any) -> dict[str, Any]:
        found = {k: v for k, v in row._mapping.items() if k not in _VOLATILE}
        for key, value in found.items():
            when = _when(value)
            if when is not None:
                found[key] = (when - base).total_seconds()
        return found

    with store.engine.connect() as conn:
        job = conn.execute(text("SELECT * FROM jobs WHERE id = :id"), {"id": job_id}).one()
        tasks = conn.execute(
            text("SELECT * FROM tasks WHERE job_id = :id ORDER BY position"), {"id": job_id}
        ).all()
        position = {t.id: t.position for t in tasks}
        ops = conn.execute(
            text("SELECT * FROM op_runs WHERE job_id = :id ORDER BY exec, position"), {"id": job_id}
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
    assert ends == ["FINISHED"] * 3 + ["ERROR"] + ["FINISHED"] * 2 + ["PARTIAL", "FINISHED"]


def test_jobs_parked_at_their_run_gate_are_walked_alike(
    store: Store, submit: Callable[..., int], clock: FakeClock
) -> None:
    walked = [_rows(store, i) for i in _run_all(store, submit, False, clock)]
    laned = [_rows(store, i) for i in _run_all(store, submit, True, clock)]
    for definition, slow, fast in zip(DEFINITIONS, walked, laned, strict=True):
        assert fast == slow, definition.splitlines()[0]
    assert [one["job"]["status"] for one in laned][:3] == ["FINISHED"] * 3


def test_jobs_rerun_from_run_are_walked_alike(
    store: Store, submit: Callable[..., int], actions: Actions
) -> None:
    def rerun_all(fast_lane: bool) -> list[int]:
        ids = _run_all(store, submit, fast_lane)
        for job_id in ids:
            actions.rerun(job_id, "RUN")
        engine = Engine(store, workers=2, fast_lane=fast_lane)
        try:
            engine.run_until(lambda: all(Status(status_of(store, i)) in FINAL_STATUSES for i in ids))
            assert engine.fast_lane_jobs == (len(ids) if fast_lane else 0)
        finally:
            engine.shutdown()
        return ids

    walked = [_rows(store, i) for i in rerun_all(False)]
    laned = [_rows(store, i) for i in rerun_all(True)]
    for definition, slow, fast in zip(DEFINITIONS, walked, laned, strict=True):
        assert fast == slow, definition.splitlines()[0]
    assert all(one["job"]["exec"] == 2 for one in laned)


def test_a_poison_job_is_undone_alone_and_moves_on_once_it_can(
    store: Store, submit: Callable[..., int], engine: Engine, caplog: pytest.LogCaptureFixture
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
    for _ in range(3):
        engine.tick()
    # The daemon's log names the row and the field once, in one line: it printed a traceback every pass.
    said = [r for r in caplog.records if r.name == "jobtui.engine" and f"job {poison}" in r.getMessage()]
    assert [(r.levelname, r.getMessage(), r.exc_info) for r in said] == [
        (
            "ERROR",
            f'job {poison} cannot go on: database: job {poison}: definition "{{" is not a definition as '
            "jobtui writes it (repair or delete the row)",
            None,
        )
    ]
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET definition = :d WHERE id = :id"), {"d": stored, "id": poison})
    engine.run_until(lambda: status_of(store, poison) == "FINISHED")


def test_a_task_that_ran_its_ops_reads_succeeded_while_the_others_run_in_either_lane(
    store: Store, submit: Callable[..., int], tmp_path: Path
) -> None:
    """It read Running on its last op (done) while the job ran the other targets' ops, one at a time."""
    job_ids = _in_each_lane(
        store,
        submit,
        tmp_path,
        lambda gate: (
            'name = "deploy"\ntargets = ["a", "b"]\n[[run]]\nname = "push"\nper_target = true\n'
            f"run = 'test \"$JOBTUI_TARGET\" = a || while [ ! -f {gate} ]; do sleep 0.02; done'\n"
            '[[post]]\nname = "notify"\nrun = "true"\n'
        ),
        until=lambda job_id: _task_statuses(store, job_id)["b"] == "RUNNING",
        then={"a": "SUCCEEDED", "b": "RUNNING"},
    )
    for job_id in job_ids:
        assert _task_statuses(store, job_id) == {"a": "SUCCEEDED", "b": "SUCCEEDED"}


def test_a_task_past_its_last_op_failed_and_ignored_reads_succeeded_while_the_others_run(
    store: Store, submit: Callable[..., int], tmp_path: Path
) -> None:
    """on_error = "ignore": the task went on past its op, and read Running on it until the job ended."""
    _in_each_lane(
        store,
        submit,
        tmp_path,
        lambda gate: (
            'name = "probe"\ntargets = ["a", "b"]\n[[run]]\nname = "check"\nper_target = true\n'
            'on_error = "ignore"\n'
            f"run = 'test \"$JOBTUI_TARGET\" = a && exit 3; while [ ! -f {gate} ]; do sleep 0.02; done'\n"
        ),
        until=lambda job_id: _task_statuses(store, job_id)["b"] == "RUNNING",
        then={"a": "SUCCEEDED", "b": "RUNNING"},
    )


def test_tasks_finished_by_a_job_wide_run_op_read_succeeded_while_post_runs_in_either_lane(
    store: Store, submit: Callable[..., int], tmp_path: Path
) -> None:
    """Their own ops done, then a job-wide RUN op: they read Running on their own last op through POST."""
    _in_each_lane(
        store,
        submit,
        tmp_path,
        lambda gate: (
            'name = "switch"\ntargets = ["a", "b"]\n'
            '[[run]]\nname = "stage"\nper_target = true\nrun = "true"\n'
            '[[run]]\nname = "flip"\nrun = "true"\n'
            f'[[post]]\nname = "report"\nrun = "while [ ! -f {gate} ]; do sleep 0.02; done"\n'
        ),
        until=lambda job_id: _step_of(store, job_id) == "POST",
        then={"a": "SUCCEEDED", "b": "SUCCEEDED"},
    )


def _in_each_lane(
    store: Store,
    submit: Callable[..., int],
    tmp_path: Path,
    definition: Callable[[Path], str],
    until: Callable[[int], bool],
    then: dict[str, str],
) -> list[int]:
    """In the fast lane, then the walker: run `definition(gate)` until `until(job_id)`, when its tasks must
    read `then`; open the gate and let it finish. The jobs, in that order."""
    job_ids = []
    for fast_lane in (True, False):
        gate = tmp_path / f"gate-{fast_lane}"
        job_id = submit(definition(gate))
        engine = Engine(store, workers=2, fast_lane=fast_lane)
        try:
            engine.run_until(lambda job_id=job_id: until(job_id))
            assert _task_statuses(store, job_id) == then, f"lane {fast_lane}"
            gate.touch()
            engine.run_until(lambda job_id=job_id: status_of(store, job_id) == "FINISHED")
        finally:
            gate.touch()
            engine.shutdown()
        job_ids.append(job_id)
    return job_ids


def _task_statuses(store: Store, job_id: int) -> dict[str, str]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT target, status FROM tasks WHERE job_id = :id"), {"id": job_id})
        return {str(target): str(status) for target, status in rows}


def _step_of(store: Store, job_id: int) -> str:
    with store.engine.connect() as conn:
        return str(conn.execute(text("SELECT step FROM jobs WHERE id = :id"), {"id": job_id}).scalar_one())


def test_a_task_with_ops_still_to_come_waits_while_another_targets_op_runs_in_either_lane(
    store: Store, submit: Callable[..., int], tmp_path: Path
) -> None:
    """Its first op done, its second after every target's first: it read Running on the op done (QA: six
    tasks "Running a" at once while one op ran). It waits, Scheduled, with no step under way."""
    job_ids = _in_each_lane(
        store,
        submit,
        tmp_path,
        lambda gate: (
            'name = "roll"\ntargets = ["a", "b"]\n[[run]]\nname = "drain"\nper_target = true\n'
            f"run = 'test \"$JOBTUI_TARGET\" = a || while [ ! -f {gate} ]; do sleep 0.02; done'\n"
            '[[run]]\nname = "patch"\nper_target = true\nrun = "true"\n'
        ),
        until=lambda job_id: _task_statuses(store, job_id)["b"] == "RUNNING",
        then={"a": "SCHEDULED", "b": "RUNNING"},
    )
    for job_id in job_ids:
        assert _task_statuses(store, job_id) == {"a": "SUCCEEDED", "b": "SUCCEEDED"}
