"""The demo: its live workload reaches every status under a real engine, and the bulk history load writes
jobs an engine and the viewers can use like any other."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pendulum
import pytest
from sqlalchemy import func, select

from jobtui.demo.bulk import BULK_STATUSES, OPERATOR, OWNERS, PROJECTS, bulk_load
from jobtui.demo.seed import (
    DEMO_DEFINITIONS,
    DEMO_ENVELOPE_OUTCOMES,
    DEMO_ENVELOPES,
    DEMO_OUTCOMES,
    SPEED_ENV,
    STREAM_ROTATION,
    DemoStream,
    demo_definition,
    demo_speed,
    seed_demo,
    seed_envelopes,
)
from jobtui.engine.db.models import AuditEvent, Envelope, Job, OpRun, Task
from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.definitions import Definition
from jobtui.engine.domain.envelopes import EnvelopeStatus, derive_status
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.domain.states import FINAL_STATUSES, Status, TaskStatus
from jobtui.engine.service.actions import Actions
from jobtui.engine.service.envelope_actions import EnvelopeActions
from jobtui.engine.service.envelope_tree import load_tree
from jobtui.engine.service.views import job_detail_json
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import ROOT, job_of, run_until_status, status_of
from tests.support.ops_running import wait_op_started

# Sleeps at a fiftieth: "sleep 3" becomes "sleep 0.06".
FAST = 0.02
# What `jobtui demo` promises to show within a minute: every status, each at least once.
SHOWN = set(Status)

_SCRIPT = Path(sys.executable).with_name("jobtui")
JOBTUI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "jobtui.cli"]


# -- the live demo -----------------------------------------------------------------------------------------


def test_every_demo_definition_parses_and_its_sleeps_scale() -> None:
    assert set(DEMO_OUTCOMES) == set(DEMO_DEFINITIONS)
    assert set(STREAM_ROTATION) <= set(DEMO_DEFINITIONS)
    for key in DEMO_DEFINITIONS:
        assert demo_definition(key, 1.0).source == f"demo/{key}.toml"
        demo_definition(key, FAST)
    assert demo_definition("fails", 1.0).run[0].run == "echo querying; sleep 3; echo 'disk full' >&2; exit 2"
    assert (
        demo_definition("fails", FAST).run[0].run == "echo querying; sleep 0.06; echo 'disk full' >&2; exit 2"
    )


def test_the_demo_speed_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SPEED_ENV, raising=False)
    assert demo_speed() == 1.0
    monkeypatch.setenv(SPEED_ENV, "0.5")
    assert demo_speed() == 0.5
    assert demo_speed(0.1) == 0.1
    monkeypatch.setenv(SPEED_ENV, "fast")
    with pytest.raises(ValueError, match=SPEED_ENV):
        demo_speed()
    with pytest.raises(ValueError, match="positive"):
        demo_speed(0)


def _statuses_seen(store: Store) -> set[str]:
    with store.read() as s:
        moved = set(s.scalars(select(AuditEvent.to_status).distinct()).all())
        now = set(s.scalars(select(Job.status).distinct()).all())
    return {status for status in moved | now if status}


def test_the_seeded_demo_and_the_streams_cancel_reach_every_status(
    store: Store, clock: FakeClock, engine: Engine
) -> None:
    ids = dict(zip(DEMO_DEFINITIONS, seed_demo(store, speed=FAST), strict=True))
    stream = DemoStream(store, speed=FAST, cancel_after_s=5)
    target = ids["canceled"]
    # The window of "pauses" closes a second after the seeding, while "extract" runs: the engine parks the
    # job PAUSED before "load".
    wait_op_started(engine, store, ids["pauses"])
    clock.advance(2)

    def running_for_a_while() -> bool:
        job = job_of(store, target)
        return job.status == Status.RUNNING and job.run_started_at is not None

    def waiting_for_the_operator() -> bool:
        return (status_of(store, ids["rejected"]), status_of(store, ids["trap-paused"])) == (
            Status.APPROVAL,
            Status.TRAPPED,
        )

    engine.run_until(lambda: running_for_a_while() and waiting_for_the_operator())
    assert stream.reject_due() == [ids["rejected"]]
    assert stream.pause_traps_due() == [ids["trap-paused"]]
    # An operator resumes the paused trap: the demo leaves it so (it paused it again at its next turn).
    Actions(store, Actor("operator")).trap(ids["trap-paused"], "resume")
    assert (stream.pause_traps_due(), status_of(store, ids["trap-paused"])) == ([], Status.TRAPPED)
    Actions(store, Actor("operator")).trap(ids["trap-paused"], "pause")  # as the demo goes on from here
    assert stream.cancel_due() == []  # its RUN has not run for 5 s yet
    clock.advance(5)
    assert stream.cancel_due() == [target]
    clock.advance(30)  # past the expiring job's Max Start Date (+25 s)
    engine.run_until(lambda: all(status_of(store, ids[k]) == v for k, v in DEMO_OUTCOMES.items()))

    assert _statuses_seen(store) == SHOWN and len(SHOWN) == 16
    user = stream.actions.actor.user
    with store.read() as s:
        played = s.execute(
            select(AuditEvent.job_id, AuditEvent.action, AuditEvent.who, AuditEvent.comment).where(
                AuditEvent.job_id.in_([ids["rejected"], ids["trap-paused"]]),
                AuditEvent.action.in_(["reject", "trap pause"]),
                AuditEvent.who != "operator",  # the test's own resume and pause, above
            )
        ).all()
        paused = s.scalars(
            select(AuditEvent).where(AuditEvent.job_id == ids["pauses"], AuditEvent.to_status == "PAUSED")
        ).one()
    assert sorted(played) == sorted(
        [(ids["rejected"], "reject", user, "demo"), (ids["trap-paused"], "trap pause", user, "demo")]
    )
    assert paused.action == "window closed"
    canceled = job_of(store, target)
    assert canceled.reason == f"canceled by {stream.actions.actor.user}"
    abend = job_of(store, ids["abend"])
    assert abend.reason and "vanished without an exit status" in abend.reason  # killed its own starter
    with store.read() as s:
        post = s.scalars(select(OpRun).where(OpRun.job_id == ids["fails"], OpRun.step == "POST")).one()
        cancel = s.scalars(
            select(AuditEvent).where(AuditEvent.job_id == target, AuditEvent.action == "cancel")
        ).one()
    assert post.status == "done"  # POST runs after a RUN failure
    assert cancel.comment == "demo"
    with store.read() as s:
        retried = {t.target: t for t in s.scalars(select(Task).where(Task.job_id == ids["retrying"]))}
    assert (retried["dev-1"].status, retried["dev-1"].attempts) == ("SUCCEEDED", 1)
    # The test's clock jumps from 5 s to 35 s, past the 30 s expiry, so the 20 s retry never came.
    assert (retried["dev-2"].status, retried["dev-2"].attempts) == ("FAILED", 1)
    assert job_of(store, ids["later"]).replaced_by == ids["replaces-later"]


def test_the_demo_envelopes_go_through_and_stop_at_the_failed_job_as_chains_do(
    store: Store, engine: Engine
) -> None:
    """The envelope tree of `jobtui demo` is not empty: one envelope whose chain goes through (Success)
    and one stopped by a failed job (Errors), its last job cancelled by the chain, for an operator to
    roll back."""
    seeded = seed_envelopes(store, speed=FAST)
    assert {name: len(ids) for name, ids in seeded.items()} == {
        name: len(keys) for name, (_, keys) in DEMO_ENVELOPES.items()
    }

    def settled() -> bool:
        return all(
            tuple(status_of(store, job_id) for job_id in seeded[name]) == outcome
            for name, outcome in DEMO_ENVELOPE_OUTCOMES.items()
        )

    engine.run_until(settled)
    tree = {line.name: line for line in load_tree(store).envelopes}
    assert tree["release-42"].status == EnvelopeStatus.SUCCESS
    assert tree["customer-feed"].status == EnvelopeStatus.ERRORS
    assert [job.id for job in tree["customer-feed"].jobs] == seeded["customer-feed"]
    failed = job_of(store, seeded["customer-feed"][1])
    assert failed.name == "validate-feed" and failed.project == "analytics"


def test_the_stream_submits_on_the_store_clock_and_stops_at_once(store: Store, clock: FakeClock) -> None:
    stream = DemoStream(store, every_s=(10, 20), speed=FAST, poll_s=60, seed=3)
    assert stream.tick() == []
    clock.advance(20)
    [first] = stream.tick()
    assert job_of(store, first).name == demo_definition(STREAM_ROTATION[0]).name
    assert stream.tick() == []  # the next one waits another 10-20 s
    clock.advance(20)
    [second] = stream.tick()
    assert job_of(store, second).name == demo_definition(STREAM_ROTATION[1]).name

    stream.start()
    assert stream.running
    began = time.monotonic()
    stream.stop()  # the thread is waiting out a 60 s poll; stop must not
    assert not stream.running
    assert time.monotonic() - began < 2


# -- the bulk history --------------------------------------------------------------------------------------


def test_a_bulk_load_writes_whole_jobs_in_every_status(
    store: Store, engine: Engine, actions: Actions
) -> None:
    seen: list[int] = []
    assert bulk_load(store, 3000, seed=1, progress=seen.append) == 3000
    assert seen[-1] == 3000

    with store.read() as s:
        by_status = dict(s.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        projects = set(s.scalars(select(Job.project).distinct()).all())
        envelopes = s.scalars(select(Envelope)).all()
        in_envelopes = s.scalars(select(func.count()).where(Job.envelope_id.is_not(None))).one()
        lonely = s.scalars(
            select(func.count()).where(~select(Task.id).where(Task.job_id == Job.id).exists())
        ).one()
        no_ops = s.scalars(
            select(func.count()).where(~select(OpRun.id).where(OpRun.job_id == Job.id).exists())
        ).one()
        submits = s.scalars(select(func.count()).where(AuditEvent.action == "submit")).one()
        seqs = set(s.scalars(select(Job.seq).distinct()).all())
        # Progress as the engine counts it: a cancelled task keeps where it stopped (it read 100 % beside
        # its job's 0 %: its skipped ops counted), a job that succeeded is whole.
        stopped_whole = s.scalars(
            select(func.count()).where(Task.status == "CANCELLED", Task.progress == 100)
        ).one()
        succeeded_short = s.scalars(
            select(func.count()).where(Job.status == "FINISHED", Job.progress != 100)
        ).one()
        # A PARTIAL job has a failed task, whose ops are not done: it keeps where it stopped.
        partial_whole = s.scalars(
            select(func.count()).where(Job.status == "PARTIAL", Job.progress == 100)
        ).one()
        # Nothing runs for a job that waits (a trap): no task of it reads Running, as the engine leaves them.
        running_idle = s.scalars(
            select(func.count())
            .select_from(Task)
            .join(Job, Job.id == Task.job_id)
            .where(Task.status == "RUNNING", Job.status.in_(["TRAPPED", "TRAP_PAUSED"]))
        ).one()
    assert sum(by_status.values()) == 3000
    assert set(by_status) == set(BULK_STATUSES)
    assert projects == set(PROJECTS)
    assert len(envelopes) >= 3 and in_envelopes >= 3 * 4
    assert {e.status for e in envelopes} <= {"SUCCESS", "SUCCESS_ACTIVE", "ERRORS", "ERRORS_ACTIVE"}
    assert lonely == 0 and no_ops == 0 and submits == 3000
    assert len(seqs) == 1 and store.last_seq() == seqs.pop()  # viewers see the load in the feed
    assert (stopped_whole, succeeded_short, partial_whole, running_idle) == (0, 0, 0, 0)

    # Read back through the ORM and the JSON views like any job.
    now = store.now()
    with store.read() as s:
        for status in BULK_STATUSES:
            job = s.scalars(select(Job).where(Job.status == status.value).limit(1)).one()
            assert job.created_at is not None and job.created_at.tzinfo is not None
            detail = job_detail_json(job, s, now)
            assert detail["status"] == status.value
            assert detail["tasks"] and all(task["steps"] for task in detail["tasks"])
            assert pendulum.parse(detail["created_at"]) == job.created_at
            if status in (Status.READY, Status.APPROVAL):
                assert job.scheduled_at is not None and job.scheduled_at > now
            elif status not in (Status.REPLACED, Status.EXPIRED):
                assert job.started_at is not None and job.started_at < now
            if status in (Status.TRAPPED, Status.TRAP_PAUSED):
                assert detail["trap"]["op"] == "apply"

    # An engine starting on the history leaves it alone: nothing is due, expired or orphaned.
    for _ in range(3):
        engine.tick()
    with store.read() as s:
        after = dict(s.execute(select(Job.status, func.count()).group_by(Job.status)).all())
    assert after == by_status

    # And operator actions work on a loaded job: rerun one to the end.
    with store.read() as s:
        job_id = s.scalars(
            select(Job.id).where(Job.status == "ERROR", Job.name == "release-db").limit(1)
        ).one()
    assert job_id is not None
    actions.rerun(job_id, "RUN", run_now=True)
    job = run_until_status(engine, job_id, "FINISHED", "ERROR", timeout=20)
    assert job.status == "FINISHED" and job.exec == 2


# -- the bulk history against a real engine: the load writes what an engine and its operators leave -------

# What differs between two tellings of the same story: numbers (pids, ids, dates), worker ids, people.
_MASKED = re.compile(r"worker [0-9a-f]{8}|\d+|\b(?:tester|" + "|".join((OPERATOR, *OWNERS)) + r")\b")


def _masked(text: str | None) -> str | None:
    return None if text is None else _MASKED.sub("#", text)


def _story(store: Store, job_id: int) -> dict[str, list[tuple[object, ...]]]:
    """A job, its tasks, op runs and audit trail as an operator reads them: a time as whether it is set,
    another row as its place among the job's, a person as someone."""
    with store.read() as s:
        job = s.get(Job, job_id)
        assert job is not None
        tasks = s.scalars(select(Task).where(Task.job_id == job_id).order_by(Task.position)).all()
        ops = s.scalars(select(OpRun).where(OpRun.job_id == job_id).order_by(OpRun.id)).all()
        trail = s.scalars(select(AuditEvent).where(AuditEvent.job_id == job_id).order_by(AuditEvent.id)).all()
    task_at = {task.id: k for k, task in enumerate(tasks)}
    op_at = {op.id: k for k, op in enumerate(ops)}
    return {
        "job": [
            (job.status, job.step, job.progress, job.outcome, job.failed, job.failed_step),
            (_masked(job.reason), job.approved, job.trap_left_s, job.trap_op_run_id is not None),
            tuple(t is not None for t in (job.started_at, job.run_started_at, job.ended_at, job.due_at)),
        ],
        "tasks": [
            (t.target, t.status, t.progress, t.current_step, t.attempts, t.last_triggered_at is not None)
            for t in tasks
        ],
        "ops": [
            (
                *(task_at.get(o.task_id), o.step, o.op_index, o.position, o.name, o.per_target, o.status),
                *(t is not None for t in (o.started_at, o.skipped_at, o.completed_at)),
                *(o.exit_code, _masked(o.error), o.rolled_back, op_at.get(o.rollback_of)),
            )
            for o in ops
        ],
        "audit": [
            (
                "engine" if a.who.startswith("engine@") else "#",
                *(a.action, a.from_status, a.to_status, _masked(a.comment)),
            )
            for a in trail
        ],
    }


def _bulk_jobs(store: Store, status: Status) -> list[int]:
    """A loaded job in `status` of a definition with one target, and one of a definition with several (no
    PARTIAL job has one target: it cannot partly succeed)."""
    with store.read() as s:
        counted = (
            select(Job.id, func.count(Task.id).label("tasks"))
            .join(Task, Task.job_id == Job.id)
            .where(Job.status == status.value)
            .group_by(Job.id)
            .subquery()
        )
        one = s.scalars(select(counted.c.id).where(counted.c.tasks == 1).order_by(counted.c.id)).first()
        more = s.scalars(select(counted.c.id).where(counted.c.tasks > 1).order_by(counted.c.id)).first()
    found = [job_id for job_id in (one, more) if job_id is not None]
    assert len(found) == (1 if status == Status.PARTIAL else 2), f"no {status} job of one target or several"
    return found


# What the apply op does in the story of a status (it echoes and sleeps a second in the load's); a PARTIAL
# job's fails for its last target only.
_APPLY = {
    Status.ABEND: "sleep 30",
    Status.CANCELED: "sleep 30",
    Status.ERROR: "exit 2",
    Status.PARTIAL: '[ "$JOBTUI_TARGET" != {last} ] || exit 1',
    Status.TRAPPED: "exit 1",
    Status.TRAP_PAUSED: "exit 1",
}


def _through_an_engine(
    store: Store, engine: Engine, actions: Actions, clock: FakeClock, bulk_id: int, status: Status
) -> int:
    """A job of the loaded job's definition (its ops made quick) taken to `status` by a real engine and an
    operator, as the load tells its story."""
    loaded = job_of(store, bulk_id).definition
    definition = Definition.from_dict(json.loads(loaded.replace("; sleep 1", "")))
    apply = _APPLY.get(status)
    if apply is not None:
        apply = apply.replace("{last}", definition.targets[-1])
        definition = replace(definition, run=[replace(op, run=apply) for op in definition.run])
    if status == Status.REPLACED:
        # Submitted again before an engine took it: nothing of it ever ran.
        job_id = actions.submit(definition, at="+1h", keep=True)
        clock.advance(1800)
        actions.submit(definition, at="+1h")
        return job_id
    later = "+2d" if status in (Status.READY, Status.APPROVAL) else None
    job_id = actions.submit(
        definition, at=later, max_start="+1h" if status == Status.EXPIRED else None, keep=True
    )
    if status == Status.READY:
        # The engine takes it, and hands it back to wait for RUN's date.
        engine.run_until(lambda: job_of(store, job_id).started_at is not None)
    elif status == Status.ROLLEDBACK:
        run_until_status(engine, job_id, Status.FINISHED)
        clock.advance(600)
        actions.rollback(job_id, "customer complaint")
    elif status in (Status.ABEND, Status.CANCELED):
        op = wait_op_started(engine, store, job_id)
        if status == Status.ABEND:
            os.kill(op.pid or 0, signal.SIGKILL)
        else:
            actions.cancel(job_id, "wrong change window")
    elif status in (Status.EXPIRED, Status.REJECTED):
        run_until_status(engine, job_id, Status.APPROVAL)
        if status == Status.EXPIRED:
            clock.advance(3601)
        else:
            actions.reject(job_id, "not this week")
    elif status == Status.TRAP_PAUSED:
        run_until_status(engine, job_id, Status.TRAPPED)
        clock.advance(300)
        actions.trap(job_id, "pause", "looking into it")
    return run_until_status(engine, job_id, status).id or 0


# PAUSED aside: an engine pauses a job when its schedule window closes, and the load's definitions have none.
@pytest.mark.parametrize("status", sorted(set(BULK_STATUSES) - {Status.PAUSED}))
def test_a_bulk_job_is_what_an_engine_and_its_operators_leave(
    store: Store, engine: Engine, actions: Actions, clock: FakeClock, status: Status
) -> None:
    bulk_load(store, 1000, seed=4)
    for bulk_id in _bulk_jobs(store, status):
        job_id = _through_an_engine(store, engine, actions, clock, bulk_id, status)
        told, loaded = json.dumps(_story(store, job_id)), json.dumps(_story(store, bulk_id))
        if status == Status.REPLACED:
            # The one thing the load does not tell: which job replaced it (it writes none).
            told = told.replace("replaced by job #", "replaced by a newer submission")
        assert json.loads(loaded) == json.loads(told)


def test_a_bulk_job_that_ended_has_an_end_and_nothing_waiting_or_running(store: Store) -> None:
    """Every end the engine reaches settles the job: an end date, no task waiting or running, no op still to
    come but an expired job's (kept pending, so that a reschedule brings it back where it stood)."""
    bulk_load(store, 1000, seed=4)
    ended = [status.value for status in FINAL_STATUSES]
    waiting = [TaskStatus.SCHEDULED.value, TaskStatus.RUNNING.value, TaskStatus.RESCHEDULED.value]
    with store.read() as s:
        endless = s.scalars(select(Job.status).where(Job.status.in_(ended), Job.ended_at.is_(None))).all()
        tasks = s.scalars(
            select(Job.status)
            .join(Task, Task.job_id == Job.id)
            .where(Job.status.in_(ended), Task.status.in_(waiting))
        ).all()
        ops = s.scalars(
            select(Job.status)
            .join(OpRun, OpRun.job_id == Job.id)
            .where(
                Job.status.in_(ended),
                Job.status != Status.EXPIRED.value,
                OpRun.status.in_(["pending", "running"]),
            )
        ).all()
    assert (set(endless), set(tasks), set(ops)) == (set(), set(), set())


def test_a_bulk_task_was_triggered_last_when_its_latest_op_started(store: Store) -> None:
    """Starting an op for a task, a rollback op or a lone task's job-wide op too, triggers the task and makes
    its first attempt (pipeline.mark_op_started): a task no op of which started was never triggered."""
    bulk_load(store, 1000, seed=4)
    with store.read() as s:
        latest = (
            select(func.max(OpRun.started_at))
            .where(OpRun.task_id == Task.id)
            .correlate(Task)
            .scalar_subquery()
        )
        rows = s.execute(select(Task.last_triggered_at, latest, Task.attempts)).all()
    assert rows and all(triggered == started for triggered, started, _ in rows)
    assert {(started is not None, attempts) for _, started, attempts in rows} == {(True, 1), (False, 0)}


def test_a_bulk_job_paused_by_its_window_has_the_tasks_and_trail_the_engine_leaves(store: Store) -> None:
    """The window gate parks a job between ops (lifecycle.window_gate; the live demo's job shows it): the
    task whose op ran is done, those still to run wait SCHEDULED, and the trail says the window closed.
    RESCHEDULED is a failed task waiting for its next attempt: none of the load's definitions retries."""
    bulk_load(store, 1000, seed=4)
    with store.read() as s:
        tasks = s.execute(
            select(Task.position, Task.status).join(Job, Job.id == Task.job_id).where(Job.status == "PAUSED")
        ).all()
        rescheduled = s.scalars(select(func.count()).where(Task.status == TaskStatus.RESCHEDULED.value)).one()
        actions = set(s.scalars(select(AuditEvent.action).where(AuditEvent.to_status == "PAUSED")).all())
    assert {(position == 0, status) for position, status in tasks} == {
        (True, TaskStatus.SUCCEEDED.value),
        (False, TaskStatus.SCHEDULED.value),
    }
    assert (rescheduled, actions) == (0, {"window closed"})


def test_a_bulk_job_rolled_back_by_an_operator_has_the_tasks_the_engine_settles(store: Store) -> None:
    """A manual rollback that completed settles every task SUCCEEDED (walker._next_in_rollback): they had
    done what they were asked; the job's status tells that it was undone."""
    bulk_load(store, 1000, seed=4)
    with store.read() as s:
        tasks = s.execute(
            select(Task.status, Task.progress, Task.current_step)
            .join(Job, Job.id == Task.job_id)
            .where(Job.status == Status.ROLLEDBACK.value)
        ).all()
    assert tasks and set(tasks) == {(TaskStatus.SUCCEEDED.value, 100, None)}


@pytest.mark.parametrize("fast", [True, False], ids=["sqlite", "core"])
def test_a_bulk_envelope_keeps_the_engines_record_and_reads_as_its_jobs_by_the_engines_rule(
    store: Store, engine: Engine, actions: Actions, tmp_path: Path, fast: bool
) -> None:
    """One rule for an envelope's status: the engine's, from the record it stores and the jobs. The record
    is what an engine keeps for an envelope whose job failed (no failure of its own, which would outlast the
    jobs': a retried job that finishes). Jobs waiting on an operator or a window (APPROVAL, TRAPPED,
    TRAP_PAUSED, PAUSED) keep their envelope active."""
    (tmp_path / "fails.toml").write_text('name = "fails"\nproject = "payments"\n[[run]]\nrun = "exit 2"\n')
    (tmp_path / "next.toml").write_text('name = "next"\nproject = "payments"\n[[run]]\nrun = "true"\n')
    envelopes = EnvelopeActions(actions)
    real, ids = envelopes.submit(
        envelopes.of_files([str(tmp_path / "fails.toml"), str(tmp_path / "next.toml")], "r")
    )
    engine.run_until(lambda: [status_of(store, i) for i in ids] == [Status.ERROR, Status.CANCELED])
    bulk_load(store, 1000, seed=2, fast=fast)

    tree = {line.id: line.status for line in load_tree(store).envelopes}
    with store.read() as s:
        stored = {row.id: row.status for row in s.execute(select(Envelope.id, Envelope.status))}
        jobs = {e: s.scalars(select(Job.status).where(Job.envelope_id == e)).all() for e in stored}
    assert tree[real] == EnvelopeStatus.ERRORS and len(stored) >= 4
    for envelope_id, statuses in jobs.items():
        assert tree[envelope_id] == derive_status(None, statuses), (envelope_id, sorted(statuses))
        assert stored[envelope_id] == stored[real]
        # Once its jobs have all finished (retried, rerun), it reads SUCCESS, as the engine's does.
        assert derive_status(stored[envelope_id], [Status.FINISHED] * len(statuses)) == EnvelopeStatus.SUCCESS
    # The load has envelopes only those waiting jobs keep active: the case a second rule got wrong.
    waiting = {Status.APPROVAL, Status.TRAPPED, Status.TRAP_PAUSED, Status.PAUSED}
    assert any(
        waiting & set(map(Status, statuses)) and not {Status.READY} & set(map(Status, statuses))
        for statuses in jobs.values()
    )


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in ("jobs", "tasks", "op_runs", "audit", "envelopes", "changes")
        }


def test_the_fast_sqlite_path_writes_what_the_orm_would(tmp_path: Path) -> None:
    """The SQL expansion formats timestamps itself; the Core path binds through UTCDateTime. Equal rows
    mean the text matches what the ORM stores, to the character."""
    now = pendulum.datetime(2026, 11, 23, 10, 0, 0, 250_000, tz="UTC")
    paths = []
    for fast in (True, False):
        path = tmp_path / f"{fast}.db"
        store = Store(f"sqlite:///{path}", clock=FakeClock(now), log_dir=tmp_path / "logs")
        bulk_load(store, 400, seed=5, fast=fast)
        store.engine.dispose()
        paths.append(path)
    fast_rows, core_rows = (_rows(p) for p in paths)
    for table, rows in fast_rows.items():
        assert rows == core_rows[table], table
    created = fast_rows["jobs"][0][12]
    assert isinstance(created, str) and len(created) == len("2026-11-23 10:00:00.000000")


def test_a_bulk_load_of_nothing_writes_nothing(store: Store) -> None:
    assert bulk_load(store, 0) == 0
    assert store.last_seq() == 0
    with pytest.raises(ValueError):
        bulk_load(store, -1)


# -- the command -------------------------------------------------------------------------------------------


def _cli(db: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JOBTUI_POLICY", "JOBTUI_DB")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [*JOBTUI, *args, "--db", f"sqlite:///{db}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=90)
    return proc.returncode, out, err


def test_the_demo_command_loads_history_or_seeds_and_exits(tmp_path: Path) -> None:
    # Independent commands run side by side: each CLI start costs about a second of imports.
    bulk = _cli(tmp_path / "bulk.db", "demo", "--jobs", "2000", "--no-open")
    seed = _cli(tmp_path / "seed.db", "demo", "--no-open")
    bad = _cli(tmp_path / "bad.db", "demo", "--jobs", "-5", "--no-open")
    code, _, err = _finish(bulk)
    assert code == 0, err
    assert "loaded 2,000 historical jobs" in err
    code, _, err = _finish(seed)
    assert code == 0, err
    code, _, err = _finish(bad)
    assert code == 2 and "--jobs" in err

    with sqlite3.connect(tmp_path / "bulk.db") as conn:
        assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (2000,)
        assert conn.execute("SELECT count(*) FROM jobs WHERE source LIKE 'demo/history/%'").fetchone() == (
            2000,
        )
    with sqlite3.connect(tmp_path / "seed.db") as conn:
        chained = sum(len(keys) for _, keys in DEMO_ENVELOPES.values())
        assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (len(DEMO_DEFINITIONS) + chained,)
        assert conn.execute("SELECT name FROM envelopes ORDER BY id").fetchall() == [
            (name,) for name in DEMO_ENVELOPES
        ]

    code, out, err = _finish(_cli(tmp_path / "bulk.db", "show", "1234", "--json"))
    assert code == 0, err
    shown = json.loads(out)
    assert shown["id"] == 1234 and shown["tasks"] and shown["created_at"].endswith("+00:00")
