"""Traps (retry, skip, abort, timeout with its action, pause keeping the time left) and rollback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, text

from jobtui.engine.db.models import LOG_CHUNKS
from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.domain.text import trapped_op_text
from jobtui.engine.service.actions import Actions, Refused
from jobtui.engine.service.views import audit_json, job_detail_json
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import job_log, job_of, run_until_status

# The engine behaves the same on both backends (several hosts share PostgreSQL).
BACKENDS = ("sqlite", "postgresql")

Submit = Callable[..., int]


def trap_view(store: Store, job_id: int) -> dict | None:
    from jobtui.engine.db.models import Job

    with store.read() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job_detail_json(job, s, store.now())["trap"]


def steps(store: Store, job_id: int) -> dict[str, str]:
    from jobtui.engine.db.models import Job

    with store.read() as s:
        job = s.get(Job, job_id)
        assert job is not None
        data = job_detail_json(job, s, store.now())
    return {st["name"]: st["status"] for t in data["tasks"] for st in t["steps"]}


def task_statuses(store: Store, job_id: int) -> list[str]:
    from jobtui.engine.db.models import Job

    with store.read() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return [task["status"] for task in job_detail_json(job, s, store.now())["tasks"]]


def flaky(tmp_path: Path, extra: str = "") -> str:
    """A job whose RUN op fails until a file exists, trapped on error."""
    flag = tmp_path / "fixed"
    return f"""
        name = "flaky"
        trap_timeout = "30m"
        {extra}
        [[run]]
        name = "migrate"
        run = "test -f {flag}"
        on_error = "trap"
        [[run]]
        name = "after"
        run = "true"
        [[post]]
        name = "notify"
        run = "true"
        """


def test_trapped_op_waits_then_retry_reruns_it(
    engine: Engine, store: Store, submit: Submit, actions: Actions, tmp_path: Path
) -> None:
    job_id = submit(flaky(tmp_path))
    job = run_until_status(engine, job_id, "TRAPPED")
    assert job.worker_id is None  # a trapped job holds no worker slot
    assert trap_view(store, job_id) == {
        "op": "migrate",
        "target": None,  # a job-wide op
        "timeout_left_s": 1800.0,
        "paused": False,
    }
    (tmp_path / "fixed").touch()
    actions.trap(job_id, "retry", comment="fixed the schema")
    job = run_until_status(engine, job_id, "FINISHED")
    assert steps(store, job_id) == {"migrate": "done", "after": "done", "notify": "done"}


def test_a_trapped_op_of_one_target_names_that_target(
    engine: Engine, store: Store, submit: Submit, actions: Actions
) -> None:
    """The trap, its dialog and its audit row said only the op's name: which host to look at, unsaid."""
    job_id = submit(
        'name = "patch"\ntargets = ["n1", "n2"]\ntrap_timeout = "30m"\n[[run]]\nname = "check"\n'
        'per_target = true\non_error = "trap"\nrun = \'test "$JOBTUI_TARGET" = n1\'\n'
    )
    run_until_status(engine, job_id, "TRAPPED")
    trap = trap_view(store, job_id)
    assert trap is not None and trap["target"] == "n2"
    assert trapped_op_text(trap) == "check [n2]"
    trapped = [row for row in audit_json(store, job_id) if row["action"] == "trap"]
    assert [row["comment"] for row in trapped] == ['RUN op "check" failed for n2: exit 1']
    # The log says it too, for every host to read (`log --follow` ended at "exit 1", nothing said next).
    with store.read() as s:
        chunks = s.execute(select(LOG_CHUNKS.c.data).where(LOG_CHUNKS.c.job_id == job_id)).scalars().all()
    log = b"".join(bytes(chunk) for chunk in chunks).decode()
    said = 'trapped: RUN op "check" failed for n2: exit 1; waits for an operator to retry, skip or abort it'
    assert f"{said} (after 30m the trap timeout does " in log
    # Skipped, its last op is behind the task as a done one would be: it read Running on it until the end.
    actions.trap(job_id, "skip")
    assert task_statuses(store, job_id) == ["SUCCEEDED", "SUCCEEDED"]
    # And the skip's row says which host's op never ran (it said "trap skip" alone; found by QA).
    skipped = [row for row in audit_json(store, job_id) if row["action"] == "trap skip"]
    assert [row["comment"] for row in skipped] == ['RUN op "check" [n2]']


def test_skip_marks_the_op_skipped_and_goes_on(
    engine: Engine, store: Store, submit: Submit, actions: Actions, tmp_path: Path
) -> None:
    job_id = submit(flaky(tmp_path))
    run_until_status(engine, job_id, "TRAPPED")
    actions.trap(job_id, "skip")
    run_until_status(engine, job_id, "FINISHED")
    assert steps(store, job_id) == {"migrate": "skipped", "after": "done", "notify": "done"}


def test_abort_fails_the_op_then_post_runs(
    engine: Engine, store: Store, submit: Submit, actions: Actions, tmp_path: Path
) -> None:
    job_id = submit(flaky(tmp_path))
    run_until_status(engine, job_id, "TRAPPED")
    actions.trap(job_id, "abort", comment="giving up")
    job = run_until_status(engine, job_id, "ERROR")
    assert steps(store, job_id) == {"migrate": "failed", "after": "skipped", "notify": "done"}
    assert job.failed_step == "RUN"


@pytest.mark.parametrize(
    ("action", "end", "migrate"),
    [("abort", "ERROR", "failed"), ("skip", "FINISHED", "skipped"), ("retry", "FINISHED", "done")],
)
def test_trap_timeout_applies_its_action(
    engine: Engine,
    store: Store,
    submit: Submit,
    clock: FakeClock,
    tmp_path: Path,
    action: str,
    end: str,
    migrate: str,
) -> None:
    job_id = submit(flaky(tmp_path, f'trap_timeout_action = "{action}"'))
    run_until_status(engine, job_id, "TRAPPED")
    clock.advance(29 * 60)
    engine.tick()
    assert job_of(store, job_id).status == "TRAPPED"
    if action == "retry":
        (tmp_path / "fixed").touch()
    clock.advance(61)
    run_until_status(engine, job_id, end)
    assert steps(store, job_id)["migrate"] == migrate
    from jobtui.engine.service.views import audit_json

    timeout_row = next(r for r in audit_json(store, job_id) if r["action"] == f"trap {action}")
    assert timeout_row["who"] == engine.who
    assert timeout_row["comment"] == 'RUN op "migrate"; trap timeout ran out'


def test_a_trap_timeout_that_cannot_be_applied_stalls_no_other_job(
    engine: Engine,
    store: Store,
    submit: Submit,
    clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found by an operator: a trap timeout whose action raised failed the engine's every pass (every claim,
    every op's end with it) while its heartbeat still read live. The job is left as it is, said once."""
    poison = submit(flaky(tmp_path))
    run_until_status(engine, poison, "TRAPPED")
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET definition = '{' WHERE id = :id"), {"id": poison})
    clock.advance(31 * 60)
    good = submit('name = "good"\n[[run]]\nrun = "true"\n')
    run_until_status(engine, good, "FINISHED")
    for _ in range(3):
        engine.tick()
    assert job_of(store, poison).status == "TRAPPED"
    said = [
        r.getMessage()
        for r in caplog.records
        if r.name == "jobtui.engine" and f"job {poison}" in r.getMessage()
    ]
    assert said == [
        f'job {poison}: its trap timeout cannot be applied: database: job {poison}: definition "{{" is not a '
        "definition as jobtui writes it (repair or delete the row)"
    ]


def test_trap_pause_freezes_the_countdown_and_resume_keeps_what_was_left(
    engine: Engine, store: Store, submit: Submit, actions: Actions, clock: FakeClock, tmp_path: Path
) -> None:
    job_id = submit(flaky(tmp_path))
    run_until_status(engine, job_id, "TRAPPED")
    clock.advance(10 * 60)
    actions.trap(job_id, "pause", comment="needs a DBA")
    assert trap_view(store, job_id) == {
        "op": "migrate",
        "target": None,
        "timeout_left_s": 1200.0,
        "paused": True,
    }
    clock.advance(5 * 3600)  # far past the original deadline
    engine.tick()
    assert job_of(store, job_id).status == "TRAP_PAUSED"
    with pytest.raises(Refused, match=r"trap pause: job \d+ is TRAP_PAUSED; allowed from TRAPPED"):
        actions.trap(job_id, "pause")
    actions.trap(job_id, "resume")
    assert trap_view(store, job_id) == {
        "op": "migrate",
        "target": None,
        "timeout_left_s": 1200.0,
        "paused": False,
    }
    clock.advance(1199)
    engine.tick()
    assert job_of(store, job_id).status == "TRAPPED"
    clock.advance(2)
    run_until_status(engine, job_id, "ERROR")  # default action: abort


def test_trap_timeout_zero_waits_forever(
    engine: Engine, store: Store, submit: Submit, clock: FakeClock, tmp_path: Path
) -> None:
    job_id = submit(flaky(tmp_path).replace('"30m"', '"0"'))
    run_until_status(engine, job_id, "TRAPPED")
    assert trap_view(store, job_id) == {
        "op": "migrate",
        "target": None,
        "timeout_left_s": None,
        "paused": False,
    }
    clock.advance(30 * 86400)
    engine.tick()
    assert job_of(store, job_id).status == "TRAPPED"


def rollback_job(tmp_path: Path, auto: bool, fail_run: bool = True, undo_fails: bool = False) -> str:
    ledger = tmp_path / "ledger"
    return f"""
        name = "release"
        rollback_on_error = {str(auto).lower()}
        [[pre]]
        name = "build"
        run = "echo build >> {ledger}"
        rollback = "echo undo-build >> {ledger}"
        [[run]]
        name = "schema"
        run = "echo schema >> {ledger}"
        rollback = "echo undo-schema >> {ledger}{"; exit 1" if undo_fails else ""}"
        [[run]]
        name = "code"
        run = "echo code >> {ledger}"
        rollback = "echo undo-code >> {ledger}"
        [[run]]
        name = "smoke"
        run = "{"false" if fail_run else "true"}"
        [[post]]
        name = "notify"
        run = "echo notify >> {ledger}"
        """


# What `rollback_job`'s ledger reads once its RUN failed and it rolled back, newest first, then ran POST.
ROLLED_BACK_THEN_POST = ["build", "schema", "code", "undo-code", "undo-schema", "undo-build", "notify"]


def test_run_failure_with_rollback_on_error_undoes_newest_first_then_post(
    engine: Engine, store: Store, submit: Submit, tmp_path: Path
) -> None:
    job_id = submit(rollback_job(tmp_path, auto=True))
    job = run_until_status(engine, job_id, "ROLLEDBACK", "ERROR", "FINISHED")
    assert job.status == "ROLLEDBACK"
    assert (tmp_path / "ledger").read_text().split() == ROLLED_BACK_THEN_POST
    from jobtui.engine.service.views import audit_json

    moves = [(r["from"], r["to"]) for r in audit_json(store, job_id) if r["from"] != r["to"]]
    assert ("RUNNING", "ROLLBACK") in moves and ("ROLLBACK", "RUNNING") in moves


@pytest.mark.parametrize("by", ["operator", "timeout"])
def test_a_trap_aborted_on_a_job_that_rolls_back_on_error_rolls_back_then_runs_post(
    engine: Engine, store: Store, submit: Submit, actions: Actions, clock: FakeClock, tmp_path: Path, by: str
) -> None:
    """Found by an operator: the abort moved the job to READY, then its rollback from there, which the table
    does not hold: `jobtui trap N abort` crashed (exit 3), the dashboard stopped, and a trap timeout's abort
    failed every engine pass, the whole queue stalled behind it."""
    trapping = rollback_job(tmp_path, auto=True).replace('run = "false"', 'run = "false"\non_error = "trap"')
    job_id = submit(trapping.replace('name = "release"', 'name = "release"\ntrap_timeout = "10m"'))
    run_until_status(engine, job_id, "TRAPPED")
    if by == "operator":
        actions.trap(job_id, "abort", comment="giving up")
        assert job_of(store, job_id).status == "ROLLBACK"
    else:
        clock.advance(10 * 60 + 1)
    job = run_until_status(engine, job_id, "ROLLEDBACK", "ERROR", "FINISHED")
    assert job.status == "ROLLEDBACK"
    assert (tmp_path / "ledger").read_text().split() == ROLLED_BACK_THEN_POST
    abort = next(r for r in audit_json(store, job_id) if r["action"] == "trap abort")
    assert (abort["from"], abort["to"]) == ("TRAPPED", "ROLLBACK")
    assert abort["who"] == ("tester" if by == "operator" else engine.who)
    assert abort["comment"].startswith('RUN op "smoke"')
    assert trap_view(store, job_id) is None


def test_run_failure_without_rollback_on_error_ends_error(
    engine: Engine, store: Store, submit: Submit, tmp_path: Path
) -> None:
    job_id = submit(rollback_job(tmp_path, auto=False))
    assert run_until_status(engine, job_id, "ERROR", "ROLLEDBACK").status == "ERROR"
    assert "undo" not in (tmp_path / "ledger").read_text()


def test_manual_rollback_of_a_finished_job(
    engine: Engine, store: Store, submit: Submit, actions: Actions, tmp_path: Path
) -> None:
    job_id = submit(
        rollback_job(tmp_path, auto=False, fail_run=False).replace(
            '"release"', '"release"\ntargets = ["web-01", "web-02"]'
        )
    )
    run_until_status(engine, job_id, "FINISHED")
    actions.rollback(job_id, reason="bad release")
    assert job_of(store, job_id).status == "ROLLBACK"
    job = run_until_status(engine, job_id, "ROLLEDBACK", "ERROR")
    assert job.status == "ROLLEDBACK"
    assert (tmp_path / "ledger").read_text().split()[-3:] == ["undo-code", "undo-schema", "undo-build"]
    # Its tasks did what they were asked: undone is not failed (they read FAILED).
    assert task_statuses(store, job_id) == ["SUCCEEDED", "SUCCEEDED"]
    with pytest.raises(Refused, match=r"rollback: job \d+ is ROLLEDBACK"):
        actions.rollback(job_id)


def test_failed_rollback_ends_error_with_reason(
    engine: Engine, store: Store, submit: Submit, actions: Actions, tmp_path: Path
) -> None:
    job_id = submit(rollback_job(tmp_path, auto=False, fail_run=False, undo_fails=True))
    run_until_status(engine, job_id, "FINISHED")
    actions.rollback(job_id, reason="bad release")
    job = run_until_status(engine, job_id, "ERROR", "ROLLEDBACK")
    assert job.status == "ERROR" and job.reason == "rollback failed"
    ledger = (tmp_path / "ledger").read_text().split()
    assert ledger[-2:] == ["undo-code", "undo-schema"]  # undo-build never ran


def test_rollback_refused_without_rollback_commands(
    engine: Engine, store: Store, submit: Submit, actions: Actions
) -> None:
    job_id = submit('name = "plain"\n[[run]]\nrun = "true"\n')
    run_until_status(engine, job_id, "FINISHED")
    with pytest.raises(Refused, match="has no completed ops with a rollback command"):
        actions.rollback(job_id)


def tasks_running_without_an_op(store: Store, job_id: int) -> list[str]:
    """Targets whose task reads Running while no op of its own runs."""
    from jobtui.engine.db.models import Job

    with store.read() as s:
        job = s.get(Job, job_id)
        assert job is not None
        tasks = job_detail_json(job, s, store.now())["tasks"]
    return [
        f"{task['target']} on {task['current_step']}"
        for task in tasks
        if task["status"] == "RUNNING" and not any(step["status"] == "running" for step in task["steps"])
    ]


def watch_tasks(engine: Engine, store: Store, job_id: int, *ends: str) -> list[str]:
    """Drive the job to one of `ends`; every task seen Running with no op of its own running meanwhile."""
    stale: list[str] = []

    def ended() -> bool:
        stale.extend(tasks_running_without_an_op(store, job_id))
        return job_of(store, job_id).status in ends

    engine.run_until(ended, timeout=20)
    return stale


def per_target_release(tmp_path: Path, auto: bool, fail_run: bool) -> str:
    """`rollback_job` on three targets, whose "code" op (with its rollback) runs once per target."""
    return (
        rollback_job(tmp_path, auto=auto, fail_run=fail_run)
        .replace('"release"', '"release"\ntargets = ["web-01", "web-02", "web-03"]')
        .replace('name = "code"', 'name = "code"\nper_target = true')
    )


def test_a_task_reads_running_only_while_an_op_of_its_own_runs(
    engine: Engine, store: Store, submit: Submit, actions: Actions, tmp_path: Path
) -> None:
    # Forward: the job-wide "smoke" op runs after the targets' "code" ops (the last target read Running
    # on its "code" while "smoke" ran).
    job_id = submit(per_target_release(tmp_path, auto=False, fail_run=False))
    assert watch_tasks(engine, store, job_id, "FINISHED") == []
    # A manual rollback: each target's "rollback code" in turn (the target rolled back first read
    # Scheduled once the next began, and the last one Running until the job ended).
    actions.rollback(job_id, reason="bad release")
    assert watch_tasks(engine, store, job_id, "ROLLEDBACK", "ERROR") == []
    assert task_statuses(store, job_id) == ["SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]
    assert [status for step, status in steps_with_status(store, job_id) if step == "rollback code"] == [
        "done"
    ] * 3


def test_after_an_automatic_rollback_no_task_reads_running_while_post_runs(
    engine: Engine, store: Store, submit: Submit, tmp_path: Path
) -> None:
    job_id = submit(per_target_release(tmp_path, auto=True, fail_run=True))
    assert watch_tasks(engine, store, job_id, "ROLLEDBACK", "ERROR", "FINISHED") == []
    assert job_of(store, job_id).status == "ROLLEDBACK"
    assert (tmp_path / "ledger").read_text().split().count("undo-code") == 3


def steps_with_status(store: Store, job_id: int) -> list[tuple[str, str]]:
    from jobtui.engine.db.models import Job

    with store.read() as s:
        job = s.get(Job, job_id)
        assert job is not None
        data = job_detail_json(job, s, store.now())
    return [(st["name"], st["status"]) for t in data["tasks"] for st in t["steps"]]


def trap_one_target(flag: Path) -> str:
    """QA's "trap-abort": three targets, whose first op fails on a1 (until `flag` exists), trapped."""
    return f"""
        name = "trap-abort"
        targets = ["a1", "a2", "a3"]
        trap_timeout = "30m"
        [[run]]
        name = "op"
        per_target = true
        on_error = "trap"
        run = "echo op $JOBTUI_TARGET; [ $JOBTUI_TARGET != a1 ] || test -f {flag}"
        [[run]]
        name = "op2"
        per_target = true
        run = "echo op2 $JOBTUI_TARGET"
        [[post]]
        name = "post"
        run = "echo post"
        """


def tasks_seen(store: Store, job_id: int) -> list[tuple[str, str, str | None]]:
    from jobtui.engine.db.models import Job

    with store.read() as s:
        job = s.get(Job, job_id)
        assert job is not None
        tasks = job_detail_json(job, s, store.now())["tasks"]
    return [(task["target"], task["status"], task["current_step"]) for task in tasks]


@pytest.mark.parametrize("fast_lane", [True, False])
@pytest.mark.parametrize(
    ("resolve", "end", "a1"),
    [
        ("retry", "FINISHED", ("a1", "SUCCEEDED", None)),
        ("skip", "FINISHED", ("a1", "SUCCEEDED", None)),
        ("abort", "PARTIAL", ("a1", "FAILED", "op")),
        ("timeout", "PARTIAL", ("a1", "FAILED", "op")),  # trap_timeout_action: abort
    ],
)
@pytest.mark.backends("sqlite")  # the lanes' task writes are the same SQL on both
def test_a_trapped_task_waits_for_the_operator_and_does_not_read_running(
    store: Store,
    submit: Submit,
    actions: Actions,
    clock: FakeClock,
    tmp_path: Path,
    fast_lane: bool,
    resolve: str,
    end: str,
    a1: tuple[str, str, str | None],
) -> None:
    """It read Running (show, show --json, the dashboard's tasks) through Trapped and Trap Paused, though
    nothing ran: it waits for an operator, as its job does, its current step naming the trapped op."""
    engine = Engine(store, workers=2, fast_lane=fast_lane)
    try:
        job_id = submit(trap_one_target(tmp_path / "fixed"))
        assert watch_tasks(engine, store, job_id, "TRAPPED") == []
        waiting = [("a1", "SCHEDULED", "op"), ("a2", "SCHEDULED", None), ("a3", "SCHEDULED", None)]
        assert tasks_seen(store, job_id) == waiting
        actions.trap(job_id, "pause")
        assert tasks_seen(store, job_id) == waiting
        actions.trap(job_id, "resume")
        if resolve == "timeout":
            clock.advance(30 * 60 + 1)
            engine.tick()
        else:
            if resolve == "retry":
                (tmp_path / "fixed").touch()
            actions.trap(job_id, resolve)
        if resolve == "skip":
            # Past its op, the task waits for its next one, as between any two ops: no op named.
            assert tasks_seen(store, job_id)[0] == ("a1", "SCHEDULED", None)
        assert watch_tasks(engine, store, job_id, end) == []
        assert tasks_seen(store, job_id) == [a1, ("a2", "SUCCEEDED", None), ("a3", "SUCCEEDED", None)]
    finally:
        engine.shutdown()


def test_no_task_reads_running_while_a_job_wide_op_is_trapped(
    engine: Engine, store: Store, submit: Submit, actions: Actions, tmp_path: Path
) -> None:
    # A job of one task owns its job-wide ops: that task read Running while the op was trapped.
    job_id = submit(flaky(tmp_path))
    assert watch_tasks(engine, store, job_id, "TRAPPED") == []
    assert tasks_seen(store, job_id) == [("flaky", "SCHEDULED", "migrate")]
    actions.trap(job_id, "skip")
    assert tasks_seen(store, job_id) == [("flaky", "SCHEDULED", None)]
    assert watch_tasks(engine, store, job_id, "FINISHED") == []
    # Of several targets: the op belongs to none of them, and none reads Running.
    job_id = submit(flaky(tmp_path).replace('"flaky"', '"flaky"\ntargets = ["n1", "n2"]'))
    assert watch_tasks(engine, store, job_id, "TRAPPED") == []
    assert tasks_seen(store, job_id) == [("n1", "SCHEDULED", None), ("n2", "SCHEDULED", None)]
    actions.trap(job_id, "abort")
    assert watch_tasks(engine, store, job_id, "ERROR") == []


@pytest.mark.parametrize(
    ("what", "resolver"),
    [("skip", "same"), ("abort", "same"), ("retry", "same"), ("skip", "another log folder")],
)
def test_the_log_says_what_resolved_a_trap_between_the_trap_and_what_follows(
    engine: Engine,
    store: Store,
    submit: Submit,
    actions: Actions,
    clock: FakeClock,
    db_url: str,
    tmp_path: Path,
    what: str,
    resolver: str,
) -> None:
    """Found by an operator: `log --follow` read "waits for an operator to retry, skip or abort it" and then
    nothing of what one did. Said whatever log folder the resolver has (another user's on PostgreSQL,
    another host's; found by review: written to the resolver's own file, it was lost there)."""
    job_id = submit(flaky(tmp_path))
    run_until_status(engine, job_id, "TRAPPED")
    if what == "retry":
        (tmp_path / "fixed").touch()
    if resolver != "same":
        actions = Actions(Store(db_url, clock=clock, log_dir=tmp_path / "elsewhere"), Actor("tester"))
    actions.trap(job_id, what, comment="db restarted")
    said = f'trap {what} by tester: RUN op "migrate"; db restarted'
    assert said in job_log(store, job_id)  # at once, before any engine goes on with the job
    run_until_status(engine, job_id, "ERROR" if what == "abort" else "FINISHED")
    log = job_log(store, job_id)
    assert log.count(said) == 1
    assert log.index("waits for an operator") < log.index(said) < log.index("POST notify")
    if what != "abort":
        assert log.index(said) < log.index("RUN after")


def test_the_log_says_the_trap_timeout_resolved_it(
    engine: Engine, store: Store, submit: Submit, clock: FakeClock, tmp_path: Path
) -> None:
    job_id = submit(flaky(tmp_path, 'trap_timeout_action = "skip"'))
    run_until_status(engine, job_id, "TRAPPED")
    clock.advance(31 * 60)
    run_until_status(engine, job_id, "FINISHED")
    log = job_log(store, job_id)
    said = f'trap skip by {engine.who}: RUN op "migrate"; trap timeout ran out'
    assert log.count(said) == 1
    assert log.index("waits for an operator") < log.index(said) < log.index("RUN after")
