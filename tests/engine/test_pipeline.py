"""The step pipeline INIT → PRE → RUN (at its date) → POST → END, with tasks, progress and natures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pendulum

from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.service.actions import Actions
from jobtui.engine.worker.loop import Engine
from jobtui.engine.worker.runner import stamped
from tests.support.helpers import detail, job_log, job_of, run_until_status, status_of

# The engine behaves the same on both backends (several hosts share PostgreSQL).
BACKENDS = ("sqlite", "postgresql")

Submit = Callable[..., int]


def test_job_walks_every_step_and_ops_see_their_environment(
    engine: Engine, store: Store, submit: Submit, tmp_path: Path
) -> None:
    out = tmp_path / "env.txt"
    job_id = submit(
        f"""
        name = "deploy-web"
        targets = ["web-01", "web-02"]
        [[pre]]
        name = "build"
        run = "echo $JOBTUI_JOB_NAME $JOBTUI_STEP $JOBTUI_EXEC >> {out}; echo java >> $JOBTUI_NATURES_FILE"
        [[run]]
        name = "deploy"
        per_target = true
        run = "echo $JOBTUI_STEP $JOBTUI_TARGET $MODE >> {out}"
        env = {{ MODE = "fast" }}
        [[post]]
        name = "notify"
        run = "echo POST $JOBTUI_JOB_ID >> {out}"
        """
    )
    assert status_of(store, job_id) == "READY"
    assert job_of(store, job_id).step == "INIT"
    job = run_until_status(engine, job_id, "FINISHED")
    assert job.step == "END"
    assert job.progress == 100
    assert json.loads(job.natures) == ["java"]
    assert job.started_at is not None and job.ended_at is not None
    assert out.read_text().splitlines() == [
        "deploy-web PRE 1",
        "RUN web-01 fast",
        "RUN web-02 fast",
        f"POST {job_id}",
    ]
    data = detail(store, job_id)
    assert [t["target"] for t in data["tasks"]] == ["web-01", "web-02"]
    assert all(t["status"] == "SUCCEEDED" and t["progress"] == 100 for t in data["tasks"])
    assert [s["name"] for s in data["tasks"][0]["steps"]] == ["deploy"]
    assert data["tasks"][0]["steps"][0]["exit_code"] == 0
    assert [s["name"] for s in data["steps"]] == ["build", "notify"]
    log = job_log(store, job_id)
    assert "RUN deploy [web-01]: started" in log and "RUN deploy [web-02]: done" in log


def test_the_engines_lines_in_a_log_say_their_time_in_utc(
    engine: Engine, store: Store, submit: Submit, clock: FakeClock
) -> None:
    """A log is read on other hosts and in dashboards set to other zones, beside dates each shows in its
    own: the engine's lines name the zone of theirs."""
    clock.set(pendulum.datetime(2026, 11, 23, 11, 30, 15, tz="Europe/Zurich"))
    job_id = submit('name = "j"\n[[run]]\nname = "say"\nrun = "echo hi"\n')
    run_until_status(engine, job_id, "FINISHED")
    lines = job_log(store, job_id).splitlines()
    assert [line for line in lines if line.startswith("[jobtui")] == [
        "[jobtui 2026-11-23 10:30:15Z] RUN say [j]: started",
        "[jobtui 2026-11-23 10:30:15Z] RUN say [j]: done",
    ]
    # The same from a time in another zone: the stamp is the instant in UTC, not the wall clock's digits.
    assert stamped(pendulum.datetime(2026, 7, 1, 2, 0, tz="America/New_York"), "x") == (
        "[jobtui 2026-07-01 06:00:00Z] x\n"
    )


def test_job_without_targets_has_one_task_named_after_it(
    engine: Engine, store: Store, submit: Submit
) -> None:
    job_id = submit('name = "solo"\n[[run]]\nrun = "true"\n')
    run_until_status(engine, job_id, "FINISHED")
    data = detail(store, job_id)
    assert [t["target"] for t in data["tasks"]] == ["solo"]
    assert [s["name"] for s in data["tasks"][0]["steps"]] == ["run-1"]


def test_run_waits_for_its_scheduled_date_after_pre(
    engine: Engine, store: Store, submit: Submit, clock: FakeClock
) -> None:
    job_id = submit('name = "later"\n[[pre]]\nrun = "true"\n[[run]]\nrun = "true"\n', at="+1h")
    job = run_until_status(engine, job_id, "READY")
    engine.run_until(lambda: job_of(store, job_id).step == "RUN")
    job = job_of(store, job_id)
    assert job.status == "READY" and job.run_started_at is None
    assert job.progress == 50  # PRE done, RUN not yet
    for _ in range(3):
        engine.tick()
    assert status_of(store, job_id) == "READY"
    clock.advance(3600)
    job = run_until_status(engine, job_id, "FINISHED")
    assert job.run_started_at is not None


def test_an_idle_engine_sleeps_only_until_the_next_job_falls_due(
    store: Store, submit: Submit, clock: FakeClock
) -> None:
    engine = Engine(store, workers=1, idle_poll_s=60.0, heartbeat_s=30.0)
    try:
        engine.tick()
        assert engine._idle_wait() == 30.0, "with nothing queued: until the next heartbeat"
        job_id = submit('name = "soon"\n[[run]]\nrun = "true"\n', at="+7s")
        while engine.tick():  # PRE at once; the job then waits for its date, unclaimed
            pass
        assert status_of(store, job_id) == "READY"
        assert engine._idle_wait() == 7.0, "not a poll interval late"
        clock.advance(7)
        run_until_status(engine, job_id, "FINISHED")
    finally:
        engine.shutdown()


def test_progress_counts_finished_ops_and_tasks_partial(engine: Engine, store: Store, submit: Submit) -> None:
    job_id = submit(
        """
        name = "fleet"
        targets = ["ok-1", "bad", "ok-2"]
        [[run]]
        name = "patch"
        per_target = true
        run = 'test "$JOBTUI_TARGET" != bad'
        [[run]]
        name = "verify"
        per_target = true
        run = "true"
        [[post]]
        run = "true"
        """
    )
    job = run_until_status(engine, job_id, "PARTIAL", "FINISHED", "ERROR")
    assert job.status == "PARTIAL"
    data = detail(store, job_id)
    statuses = {t["target"]: t["status"] for t in data["tasks"]}
    assert statuses == {"ok-1": "SUCCEEDED", "bad": "FAILED", "ok-2": "SUCCEEDED"}
    bad = next(t for t in data["tasks"] if t["target"] == "bad")
    assert [s["status"] for s in bad["steps"]] == ["failed", "skipped"]
    assert bad["steps"][1]["skipped_at"] is not None
    # 5 of 7 ops done: bad's two are not. A partial success keeps where it stopped, as README says of a
    # failed job; it read 100, as if every op had been done.
    assert job.progress == 71


def test_every_task_failing_ends_error(engine: Engine, store: Store, submit: Submit) -> None:
    job_id = submit('name = "f"\ntargets = ["a", "b"]\n[[run]]\nper_target = true\nrun = "false"\n')
    assert run_until_status(engine, job_id, "ERROR", "PARTIAL", "FINISHED").status == "ERROR"


def test_pre_failure_skips_run_but_post_still_runs(
    engine: Engine, store: Store, submit: Submit, tmp_path: Path
) -> None:
    marker = tmp_path / "post-ran"
    job_id = submit(
        f"""
        name = "broken-build"
        [[pre]]
        name = "build"
        run = "echo compiling; exit 7"
        [[run]]
        name = "deploy"
        run = "touch {tmp_path / "deployed"}"
        [[post]]
        name = "notify"
        run = "touch {marker}"
        """
    )
    job = run_until_status(engine, job_id, "ERROR", "FINISHED")
    assert job.status == "ERROR"
    assert marker.exists() and not (tmp_path / "deployed").exists()
    assert job.failed_step == "PRE"
    steps = {s["name"]: s for s in detail(store, job_id)["tasks"][0]["steps"]}
    assert steps["build"]["status"] == "failed" and steps["build"]["exit_code"] == 7
    assert steps["deploy"]["status"] == "skipped"
    assert steps["notify"]["status"] == "done"
    assert "exit 7" in Path(job.log_path).read_text()


def test_on_error_ignore_goes_on(engine: Engine, store: Store, submit: Submit) -> None:
    job_id = submit('name = "i"\n[[run]]\nrun = "false"\non_error = "ignore"\n[[run]]\nrun = "true"\n')
    job = run_until_status(engine, job_id, "FINISHED", "ERROR")
    assert job.status == "FINISHED"
    steps = detail(store, job_id)["tasks"][0]["steps"]
    assert [s["status"] for s in steps] == ["failed", "done"]


def test_op_timeout_kills_the_op_and_fails_it(
    engine: Engine, store: Store, submit: Submit, clock: FakeClock
) -> None:
    job_id = submit('name = "slow"\n[[run]]\nrun = "sleep 30"\ntimeout = "10s"\n')
    engine.run_until(lambda: _op_pid(store, job_id) is not None)
    clock.advance(11)
    job = run_until_status(engine, job_id, "ERROR")
    step = detail(store, job_id)["tasks"][0]["steps"][0]
    assert step["status"] == "failed"
    assert "timed out after 10s" in (step["error"] or "")
    assert job.reason and "failed" in job.reason


def test_call_ops_run_in_process_and_exceptions_fail_the_op(
    engine: Engine, store: Store, submit: Submit
) -> None:
    ok = submit('name = "noop"\n[[run]]\ncall = "jobtui.engine.worker.runner:noop"\n')
    bad = submit('name = "boom"\n[[run]]\ncall = "tests.support.ops:boom"\n')
    assert run_until_status(engine, ok, "FINISHED").status == "FINISHED"
    job = run_until_status(engine, bad, "ERROR")
    assert "RuntimeError: boom from a call op" in Path(job.log_path).read_text()


def test_workers_limit_how_many_jobs_run_at_once(store: Store, submit: Submit, tmp_path: Path) -> None:
    engine = Engine(store, workers=1)
    gate = tmp_path / "go"
    first = submit(f'name = "a"\n[[run]]\nrun = "while [ ! -f {gate} ]; do sleep 0.02; done"\n')
    second = submit('name = "b"\n[[run]]\nrun = "true"\n')
    try:
        engine.run_until(lambda: _op_pid(store, first) is not None)
        for _ in range(3):
            engine.tick()
        assert status_of(store, second) == "READY"
        gate.touch()
        run_until_status(engine, second, "FINISHED")
        assert status_of(store, first) == "FINISHED"
    finally:
        engine.shutdown()


def test_every_engine_status_change_is_audited(
    engine: Engine, store: Store, submit: Submit, actions: Actions
) -> None:
    job_id = submit('name = "a"\napproval = true\n[[pre]]\nrun = "true"\n[[run]]\nrun = "true"\n')
    run_until_status(engine, job_id, "APPROVAL")
    actions.approve(job_id, comment="looks good")
    run_until_status(engine, job_id, "FINISHED")
    from jobtui.engine.service.views import audit_json

    trail = [(r["action"], r["from"], r["to"], r["who"]) for r in audit_json(store, job_id)]
    assert trail[0] == ("submit", None, "READY", "tester")
    assert ("await approval", "RUNNING", "APPROVAL", engine.who) in trail
    assert ("approve", "APPROVAL", "READY", "tester") in trail
    assert trail[-1][1:3] == ("RUNNING", "FINISHED")
    approve = next(r for r in audit_json(store, job_id) if r["action"] == "approve")
    assert approve["comment"] == "looks good"


def _op_pid(store: Store, job_id: int) -> int | None:
    from sqlalchemy import select

    from jobtui.engine.db.models import OpRun

    with store.read() as s:
        return s.scalars(select(OpRun.pid).where(OpRun.job_id == job_id, OpRun.status == "running")).first()


def test_a_failed_or_cancelled_job_shows_the_progress_where_it_stopped(
    engine: Engine, store: Store, submit: Submit, actions: Actions, tmp_path: Path
) -> None:
    """Not 100 % for a job that did not succeed: the share of its ops that were done."""
    failed = submit('name = "half"\n[[pre]]\nrun = "true"\n[[run]]\nrun = "exit 3"\n[[post]]\nrun = "true"\n')
    # PRE and POST done (POST runs after a failure too), RUN failed: two ops of three.
    assert run_until_status(engine, failed, "ERROR").progress == 66
    gate = tmp_path / "never"
    waiting = submit(
        'name = "stopped"\n[[pre]]\nrun = "true"\n[[pre]]\nrun = "true"\n'
        f'[[run]]\nrun = "while [ ! -f {gate} ]; do sleep 0.02; done"\n[[post]]\nrun = "true"\n'
    )
    engine.run_until(lambda: job_of(store, waiting).progress == 50)  # two of four ops done
    actions.cancel(waiting)
    job = run_until_status(engine, waiting, "CANCELED")
    assert job.progress == 50


def test_a_task_keeps_where_it_stopped_as_its_job_does(
    engine: Engine, store: Store, submit: Submit, actions: Actions
) -> None:
    """A task's progress counts its ops done, as its job's does (a job without targets has one task owning
    every op: the two read the same); failed, skipped or trapped ops made a task read 100 %."""

    def progress(job_id: int) -> tuple[int, list[tuple[str, int]]]:
        shown = detail(store, job_id)
        return shown["progress"], [(t["status"], t["progress"]) for t in shown["tasks"]]

    later = submit('name = "later"\n[schedule]\nat = "+1h"\n[[run]]\nrun = "true"\n')
    actions.cancel(later)
    assert progress(later) == (0, [("CANCELLED", 0)])
    trapped = submit(
        'name = "t"\n[[pre]]\nrun = "true"\n'
        '[[run]]\nrun = "false"\non_error = "trap"\n'
        '[[post]]\nrun = "true"\n'
    )
    run_until_status(engine, trapped, "TRAPPED")
    # It waits for the operator, as its job does: not Running (nothing runs).
    assert progress(trapped) == (33, [("SCHEDULED", 33)])
    # Skipped by an operator, the op is not done, yet the job and its task go on and succeed: 100.
    actions.trap(trapped, "skip")
    run_until_status(engine, trapped, "FINISHED")
    assert progress(trapped) == (100, [("SUCCEEDED", 100)])
    # Job-wide ops only: the tasks own none, and read as their job (they read 0 beside its 100).
    wide = submit('name = "w"\ntargets = ["a", "b"]\n[[run]]\ncall = "jobtui.engine.worker.runner:noop"\n')
    run_until_status(engine, wide, "FINISHED")
    assert progress(wide) == (100, [("SUCCEEDED", 100), ("SUCCEEDED", 100)])
