"""The transition table as an operator meets it: every action from every status, and what each one does.

Jobs are put into a status by driving the real engine wherever the engine can get there. A direct update
forces the status only where nothing else about the job matters: the refusal matrix, PAUSED, REPLACED and
ROLLBACK, and delete/rerun (which have no condition beyond "no live process").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pendulum
import pytest
from sqlalchemy import select, update

from jobtui.demo.bulk import bulk_load
from jobtui.engine.db.models import AuditEvent, Job, Task
from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.states import (
    ACTIONS,
    LIVE_STATUSES,
    OpStatus,
    Status,
    Step,
    TaskStatus,
    display_action,
)
from jobtui.engine.service.actions import Actions, Refused, UnknownJob
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import (
    definition,
    detail,
    job_of,
    live_pids_of_group,
    run_until_status,
    status_of,
)
from tests.support.transitions import (
    Jobs,
    approval_def,
    assert_audit_within_table,
    audit_rows,
    failing_def,
    force_status,
    op_runs,
    perform,
    plain_def,
    query,
    snapshot,
)

# The engine behaves the same on both backends (several hosts share PostgreSQL).
BACKENDS = ("sqlite", "postgresql")

# -- what DESIGN.md's transition table says, written out independently of states.py ---------------------

NOT_LIVE = "READY, APPROVAL, REJECTED, EXPIRED, ABEND, ROLLEDBACK, FINISHED, PARTIAL, ERROR, CANCELED, " + (
    "TRAPPED, TRAP_PAUSED, PAUSED, REPLACED"
)
DESIGN_ALLOWED_FROM: dict[str, str] = {
    "approve": "APPROVAL",
    "reject": "APPROVAL",
    "cancel": "READY, APPROVAL, REJECTED, EXPIRED, TRAPPED, TRAP_PAUSED, PAUSED, RUNNING",
    "delete": NOT_LIVE,
    "rerun": NOT_LIVE,
    "reschedule": "READY, APPROVAL, EXPIRED",
    "trap_retry": "TRAPPED, TRAP_PAUSED",
    "trap_skip": "TRAPPED, TRAP_PAUSED",
    "trap_abort": "TRAPPED, TRAP_PAUSED",
    "trap_pause": "TRAPPED",
    "trap_resume": "TRAP_PAUSED",
    "rollback": "FINISHED, ERROR, PARTIAL, ABEND",
    # DESIGN.md's row says ERROR, ABEND; seed 004's "retry ... if they have failed" covers a partial
    # failure too (QA: a PARTIAL job could only be rerun, its succeeded targets with it).
    "retry": "ERROR, ABEND, PARTIAL",
}


def design_allowed(action: str) -> set[Status]:
    return {Status(code) for code in DESIGN_ALLOWED_FROM[action].split(", ")}


def allowed_list(action: str) -> str:
    """The "allowed from" part of a refusal: the statuses in their declared order."""
    return ", ".join(s.value for s in Status if s in design_allowed(action))


# delete and rerun, allowed from any status without a live process, are covered by a loop of their own.
ALLOWED_PAIRS = [
    (action, status)
    for action in ACTIONS
    if action not in ("delete", "rerun")
    for status in Status
    if status in design_allowed(action)
]

# -- definitions -------------------------------------------------------------------------------------------


def full_def(project: str = "default", name: str = "full") -> str:
    """PRE, RUN and POST ops; PRE and RUN declare rollback commands."""
    return (
        f'name = "{name}"\nproject = "{project}"\n'
        '[[pre]]\nname = "prepare"\nrun = "true"\nrollback = "true"\n'
        '[[run]]\nname = "deploy"\nrun = "true"\nrollback = "true"\n'
        '[[post]]\nname = "notify"\nrun = "true"\n'
    )


# -- database helpers --------------------------------------------------------------------------------------


def last_audit_id(store: Store) -> int:
    return int(query(store, "SELECT coalesce(max(id), 0) FROM audit")[0][0])


def last_seq(store: Store) -> int:
    return int(query(store, "SELECT coalesce(max(seq), 0) FROM changes")[0][0])


@pytest.fixture(autouse=True)
def audit_stays_within_table(store: Store) -> Iterator[None]:
    yield
    assert_audit_within_table(store)


def tasks(store: Store, job_id: int) -> list[Task]:
    with store.read() as s:
        return list(s.scalars(select(Task).where(Task.job_id == job_id).order_by(Task.position)))


# -- putting jobs into a status ----------------------------------------------------------------------------


@pytest.fixture
def jobs(store: Store, engine: Engine, clock: FakeClock, actions: Actions, tmp_path: Path) -> Jobs:
    return Jobs(store, engine, clock, actions, tmp_path)


# -- the table ---------------------------------------------------------------------------------------------


def test_the_table_is_the_one_in_the_design() -> None:
    assert set(ACTIONS) == set(DESIGN_ALLOWED_FROM)
    for action, rule in ACTIONS.items():
        assert set(rule.allowed_from) == design_allowed(action), action
    assert set(LIVE_STATUSES) == {Status.RUNNING, Status.ROLLBACK}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_refused_from_every_status_the_table_does_not_list(
    action: str, jobs: Jobs, actions: Actions, store: Store
) -> None:
    # A job that has really run: tasks, op runs, a log file and audit rows that must all survive.
    job_id = jobs.in_status(Status.FINISHED)
    assert Path(job_of(store, job_id).log_path).exists()
    wrong: list[str] = []
    for status in Status:
        if status in design_allowed(action):
            continue
        force_status(store, job_id, status)
        expected = (
            f"{display_action(action)}: job {job_id} is {status.value}; allowed from {allowed_list(action)}"
        )
        before = snapshot(store)
        assert actions.allowed(job_id)[action] == expected
        with pytest.raises(Refused) as refused:
            perform(actions, action, job_id, comment="should not happen")
        if str(refused.value) != expected:
            wrong.append(f"{status.value}: {refused.value!s}")
        after = snapshot(store)
        for table in before:
            assert after[table] == before[table], f"{action} from {status.value} changed {table}"
    assert wrong == []


def test_an_unknown_job_is_reported_and_changes_nothing(
    actions: Actions, store: Store, submit: Callable[..., int]
) -> None:
    submit(plain_def())
    before = snapshot(store)
    for action in ACTIONS:
        with pytest.raises(UnknownJob, match=f"^{display_action(action)}: no job 999$"):
            perform(actions, action, 999)
    assert actions.allowed(999) == {}
    assert snapshot(store) == before


def test_bad_input_to_an_action_changes_nothing(jobs: Jobs, actions: Actions, store: Store) -> None:
    job_id = jobs.in_status(Status.FINISHED)
    waiting = jobs.in_status(Status.READY)
    before = snapshot(store)

    with pytest.raises(ValueError) as bad_step:
        actions.rerun(job_id, "END")
    assert str(bad_step.value) == 'rerun: step must be PRE, RUN or POST, not "END"'
    with pytest.raises(ValueError, match="is not a date"):
        actions.reschedule(waiting, "next blursday")
    with pytest.raises(ValueError) as bad_trap:
        actions.trap(job_id, "undo")
    assert str(bad_trap.value) == 'trap: expected one of retry, skip, abort, pause, resume, not "undo"'

    assert snapshot(store) == before


def expected_comment(action: str, comment: str) -> Callable[[str | None], bool]:
    if action == "delete":
        return lambda got: got == "job deleted"
    if action == "rerun":
        return lambda got: got == f"from PRE; {comment}"
    if action == "reschedule":
        return lambda got: got is not None and got.startswith("RUN at ")
    if action == "retry":
        return lambda got: got is not None and got.endswith("retry after failure")
    if action in ("trap_retry", "trap_skip", "trap_abort"):  # the op resolved, then the why
        return lambda got: got is not None and got.startswith('RUN op "') and got.endswith(f"; {comment}")
    return lambda got: got == comment


def act_and_check_allowed(actions: Actions, store: Store, action: str, job_id: int, status: Status) -> None:
    """Do an allowed action; it must land in one of the table's results, audited and in the change feed."""
    assert status_of(store, job_id) == status
    assert actions.allowed(job_id)[action] is None, f"{action} from {status.value}"
    audit_before, seq_before = last_audit_id(store), last_seq(store)
    comment = f"operator says {action}"

    perform(actions, action, job_id, comment)

    rows = [row for row in audit_rows(store, job_id, audit_before) if row[2] == display_action(action)]
    assert len(rows) == 1, audit_rows(store, job_id, audit_before)
    _, who, _, from_status, to_status, got_comment = rows[0]
    assert who == "tester"
    assert from_status == status.value
    assert expected_comment(action, comment)(got_comment), got_comment
    if action == "delete":
        assert to_status is None
        assert query(store, "SELECT id FROM jobs WHERE id = ?", job_id) == []
    else:
        assert Status(to_status) in ACTIONS[action].results, f"{action} from {status.value} -> {to_status}"
        assert status_of(store, job_id) == to_status
    changes = query(store, "SELECT seq FROM changes WHERE seq > ? AND job_id = ?", seq_before, job_id)
    assert changes, "no change-feed row for the job: viewers would never repaint it"


@pytest.mark.parametrize(
    ("action", "status"), ALLOWED_PAIRS, ids=[f"{a}-{s.value}" for a, s in ALLOWED_PAIRS]
)
def test_allowed_from_each_status_the_table_lists(
    action: str, status: Status, jobs: Jobs, actions: Actions, store: Store
) -> None:
    act_and_check_allowed(actions, store, action, jobs.in_status(status), status)


@pytest.mark.parametrize("action", ["delete", "rerun"])
def test_allowed_from_every_status_without_a_live_process(
    action: str, jobs: Jobs, actions: Actions, store: Store
) -> None:
    # No condition beyond the status: a submitted job put in each status is enough.
    for status in Status:
        if status in LIVE_STATUSES:
            continue
        job_id = jobs.submit(plain_def(name=f"from-{status.value.lower()}"))
        force_status(store, job_id, status)
        act_and_check_allowed(actions, store, action, job_id, status)


# -- approve and reject ------------------------------------------------------------------------------------


def test_approve_readies_run_and_the_job_runs_to_finished(jobs: Jobs, actions: Actions, store: Store) -> None:
    job_id = jobs.run(approval_def(pre=True, post=True), Status.APPROVAL)
    parked = job_of(store, job_id)
    assert parked.step == Step.RUN
    assert [(op.step, op.status) for op in op_runs(store, job_id)] == [
        ("PRE", "done"),
        ("RUN", "pending"),
        ("POST", "pending"),
    ]

    actions.approve(job_id, "looks good")

    job = job_of(store, job_id)
    assert (job.status, job.step, job.approved) == (Status.READY, Step.RUN, True)
    job = run_until_status(jobs.engine, job_id, Status.FINISHED)
    assert job.progress == 100
    assert [(op.step, op.status) for op in op_runs(store, job_id)] == [
        ("PRE", "done"),
        ("RUN", "done"),
        ("POST", "done"),
    ]


@pytest.mark.parametrize("status", [Status.APPROVAL, Status.REJECTED])
def test_a_rerun_from_post_never_skips_the_approval_of_run(
    status: Status, jobs: Jobs, actions: Actions, store: Store
) -> None:
    job_id = jobs.run(approval_def(pre=True, post=True), Status.APPROVAL)
    if status == Status.REJECTED:
        actions.reject(job_id, "not today")
        run_until_status(jobs.engine, job_id, Status.REJECTED)
    before = snapshot(store)

    with pytest.raises(Refused, match=f"job {job_id} was never approved; from POST it would skip RUN"):
        actions.rerun(job_id, "POST")

    assert snapshot(store) == before
    refused = query(store, "SELECT action, comment FROM audit WHERE job_id = ? AND refused", job_id)
    assert [action for action, _ in refused] == ["rerun"]
    # From RUN, the gate stands: the job waits for its approval again.
    actions.rerun(job_id, "RUN")
    assert run_until_status(jobs.engine, job_id, Status.APPROVAL).status == Status.APPROVAL


def test_a_rerun_from_post_never_passes_a_run_that_failed(jobs: Jobs, actions: Actions, store: Store) -> None:
    """It did: POST ran alone and the job ended FINISHED, its failed RUN gone from view, and an envelope
    waiting on it went on with the next job."""
    with_post = '\n[[post]]\nname = "notify"\nrun = "true"\n'
    failed = jobs.run(failing_def() + with_post, Status.ERROR)
    before = snapshot(store)

    with pytest.raises(Refused, match=f"job {failed} failed in RUN; from POST it would end without a RUN"):
        actions.rerun(failed, "POST")
    assert snapshot(store) == before
    refused = query(store, "SELECT action FROM audit WHERE job_id = ? AND refused", failed)
    assert [action for (action,) in refused] == ["rerun"]
    # Whose POST failed after a RUN that succeeded: POST again is what an operator wants.
    post_failed = jobs.run(
        plain_def(name="post-fails") + '[[post]]\nname = "notify"\nrun = "false"\n', Status.ERROR
    )
    actions.rerun(post_failed, "POST")
    assert status_of(store, post_failed) == Status.READY


def test_a_rerun_from_run_never_passes_a_pre_that_failed(jobs: Jobs, actions: Actions, store: Store) -> None:
    """It did: RUN deployed after a failed build and the job ended FINISHED at 100%, the failed PRE gone
    from its steps."""
    pre_fails = '[[pre]]\nname = "build"\nrun = "false"\n'
    failed = jobs.run(plain_def(name="pre-fails") + pre_fails, Status.ERROR)
    before = snapshot(store)

    with pytest.raises(Refused, match=f"job {failed} failed in PRE; from RUN it would run without a PRE"):
        actions.rerun(failed, "RUN", run_now=True)
    assert snapshot(store) == before
    refused = query(store, "SELECT action FROM audit WHERE job_id = ? AND refused", failed)
    assert [action for (action,) in refused] == ["rerun"]
    actions.rerun(failed, "PRE")
    assert status_of(store, failed) == Status.READY


def test_a_rerun_of_an_expired_job_runs_now_from_either_step(
    jobs: Jobs, actions: Actions, store: Store, clock: FakeClock
) -> None:
    """Its Max Start Date had passed: the rerun was accepted and the job expired again at once, PRE never
    run (only RUN with "run now" moved the date)."""
    # (From RUN, a job whose PRE never ran is refused: a job without PRE.)
    for step, pre in (("PRE", '[[pre]]\nname = "build"\nrun = "true"\n'), ("RUN", "")):
        job_id = jobs.submit(plain_def(name=f"late-{step}") + pre, at="+1h")
        clock.advance(26 * 3600)  # past its Max Start Date (a day after its date) with no engine up
        run_until_status(jobs.engine, job_id, Status.EXPIRED)
        actions.rerun(job_id, step)
        assert run_until_status(jobs.engine, job_id, Status.FINISHED).status == Status.FINISHED


def test_reject_without_post_ends_rejected_and_nothing_runs(
    jobs: Jobs, actions: Actions, store: Store
) -> None:
    job_id = jobs.run(approval_def(pre=True), Status.APPROVAL)

    actions.reject(job_id, "not today")

    job = job_of(store, job_id)
    assert (job.status, job.step) == (Status.REJECTED, Step.END)
    assert job.ended_at == jobs.clock.now()
    assert job.reason == "rejected by tester: not today"  # a canceled job says by whom; so does this
    assert [t.status for t in tasks(store, job_id)] == [TaskStatus.CANCELLED]
    for _ in range(3):
        jobs.engine.tick()
    assert status_of(store, job_id) == Status.REJECTED
    assert [(op.step, op.status) for op in op_runs(store, job_id)] == [("PRE", "done"), ("RUN", "skipped")]


def test_reject_runs_post_first_and_the_job_still_ends_rejected(
    jobs: Jobs, actions: Actions, store: Store
) -> None:
    job_id = jobs.run(approval_def(pre=True, post=True), Status.APPROVAL)

    actions.reject(job_id, "not today")

    job = job_of(store, job_id)
    assert (job.status, job.step) == (Status.READY, Step.POST)
    job = run_until_status(jobs.engine, job_id, Status.REJECTED, Status.FINISHED, Status.ERROR)
    assert (job.status, job.reason) == (Status.REJECTED, "rejected by tester: not today")
    assert [(op.step, op.status) for op in op_runs(store, job_id)] == [
        ("PRE", "done"),
        ("RUN", "skipped"),
        ("POST", "done"),
    ]
    assert [t.status for t in tasks(store, job_id)] == [TaskStatus.CANCELLED]


# -- cancel and delete -------------------------------------------------------------------------------------


def test_cancel_of_a_ready_job_cancels_its_tasks_and_nothing_runs(
    jobs: Jobs, actions: Actions, store: Store
) -> None:
    body = 'name = "two"\ntargets = ["a", "b"]\n[[run]]\nper_target = true\nrun = "true"\n'
    job_id = jobs.submit(body)

    actions.cancel(job_id, "wrong day")

    job = job_of(store, job_id)
    assert job.status == Status.CANCELED
    assert job.ended_at == jobs.clock.now()
    assert [t.status for t in tasks(store, job_id)] == [TaskStatus.CANCELLED, TaskStatus.CANCELLED]
    for _ in range(3):
        jobs.engine.tick()
    assert status_of(store, job_id) == Status.CANCELED
    assert {op.status for op in op_runs(store, job_id)} == {OpStatus.SKIPPED}
    assert all(op.started_at is None for op in op_runs(store, job_id))


@pytest.mark.parametrize("status", [Status.REJECTED, Status.EXPIRED])
def test_cancel_of_a_job_that_had_ended_keeps_when_it_ended(
    status: Status, jobs: Jobs, actions: Actions, store: Store, clock: FakeClock
) -> None:
    job_id = jobs.in_status(status)
    ended = job_of(store, job_id).ended_at
    assert ended is not None
    clock.advance(600)

    actions.cancel(job_id, "tidy up")

    assert (status_of(store, job_id), job_of(store, job_id).ended_at) == (Status.CANCELED, ended)


def test_cancel_of_a_running_job_kills_its_op_and_ends_canceled(
    jobs: Jobs, actions: Actions, store: Store
) -> None:
    job_id, pgid = jobs.running()
    assert live_pids_of_group(pgid)

    actions.cancel(job_id)

    assert status_of(store, job_id) == Status.CANCELED
    jobs.engine.run_until(lambda: not live_pids_of_group(pgid), timeout=10)
    for _ in range(3):
        jobs.engine.tick()
    job = job_of(store, job_id)
    assert job.status == Status.CANCELED, "a cancelled running job must not end ABEND"
    wait = next(op for op in op_runs(store, job_id) if op.name == "wait")
    # Stopped for its job's cancel, not failed of itself (it read "failed exit -" beside a cancelled task).
    assert wait.status == OpStatus.SKIPPED and wait.skipped_at is not None and wait.exit_code is None
    assert wait.error == "canceled by tester"


def test_delete_removes_job_tasks_steps_and_log_but_keeps_a_tombstone(
    jobs: Jobs, actions: Actions, store: Store
) -> None:
    job_id = jobs.in_status(Status.FINISHED)
    other = jobs.in_status(Status.FINISHED)
    log_path = Path(job_of(store, job_id).log_path)
    assert log_path.exists()
    trail_before = audit_rows(store, job_id)

    actions.delete(job_id)

    assert query(store, "SELECT id FROM jobs WHERE id = ?", job_id) == []
    assert query(store, "SELECT id FROM tasks WHERE job_id = ?", job_id) == []
    assert query(store, "SELECT id FROM op_runs WHERE job_id = ?", job_id) == []
    assert not log_path.exists()
    assert list(store.log_dir.glob(f"job-{job_id}.*")) == []
    trail = audit_rows(store, job_id)
    assert trail[: len(trail_before)] == trail_before
    tombstone = trail[-1]
    assert tombstone[1:5] == ("tester", "delete", "FINISHED", None)
    # The other job is untouched.
    assert status_of(store, other) == Status.FINISHED
    assert Path(job_of(store, other).log_path).exists()
    with pytest.raises(UnknownJob):
        actions.rerun(job_id, "PRE")


def test_a_deleted_jobs_id_never_comes_back_with_its_trail(
    jobs: Jobs, actions: Actions, store: Store
) -> None:
    """SQLite gives a new row the highest id plus one: deleting the newest job must not hand its id, and
    the audit trail it leaves behind, to the next job submitted (nor to the jobs of one submission)."""
    newest = jobs.in_status(Status.FINISHED)
    actions.delete(newest)

    resubmitted = actions.submit_many(definition('name = "after"\n[[run]]\nrun = "true"\n'), 2)

    assert newest not in resubmitted
    assert min(resubmitted) > newest
    for job_id in resubmitted:
        assert [row[2] for row in audit_rows(store, job_id)] == ["submit"]
    assert [row[2] for row in audit_rows(store, newest)][-1] == "delete"
    actions.delete(max(resubmitted))
    bulk_load(store, 3)  # the demo's history, loaded after
    loaded = [row[0] for row in query(store, "SELECT id FROM jobs WHERE id > ?", min(resubmitted))]
    assert len(loaded) == 3 and min(loaded) > max(resubmitted)


# -- rerun -------------------------------------------------------------------------------------------------


def test_rerun_pre_keeps_a_future_run_date(
    jobs: Jobs, actions: Actions, store: Store, clock: FakeClock
) -> None:
    job_id = jobs.run(full_def(), Status.FINISHED)
    later = clock.now().add(hours=3)
    with store.write() as s:  # setup: the job's RUN date lies in the future
        s.execute(
            update(Job).where(Job.id == job_id).values(scheduled_at=later, max_start_at=later.add(days=1))
        )
    assert job_of(store, job_id).scheduled_at == later

    actions.rerun(job_id, "PRE")

    jobs.engine.run_until(
        lambda: any(op.step == "PRE" and op.status == OpStatus.DONE for op in op_runs(store, job_id, 2))
    )
    for _ in range(3):
        jobs.engine.tick()
    job = job_of(store, job_id)
    assert (job.status, job.step, job.scheduled_at) == (Status.READY, Step.RUN, later)
    assert [(op.step, op.status) for op in op_runs(store, job_id, 2)] == [
        ("PRE", "done"),
        ("RUN", "pending"),
        ("POST", "pending"),
    ]

    clock.set(later.add(seconds=1))
    job = run_until_status(jobs.engine, job_id, Status.FINISHED)
    run_op = next(op for op in op_runs(store, job_id, 2) if op.step == "RUN")
    assert run_op.started_at is not None and run_op.started_at >= later
    assert job.run_started_at is not None and job.run_started_at >= later


def test_rerun_run_now_overrides_a_future_date_and_moves_max_start_by_the_same_span(
    jobs: Jobs, actions: Actions, store: Store, clock: FakeClock
) -> None:
    job_id = jobs.submit(full_def(), at="+2h", max_start="+30m")
    job = job_of(store, job_id)
    assert job.scheduled_at is not None and job.max_start_at is not None
    assert job.max_start_at - job.scheduled_at == pendulum.duration(minutes=30)
    # PRE runs now; RUN waits for its date.
    jobs.engine.run_until(
        lambda: job_of(store, job_id).step == Step.RUN and job_of(store, job_id).lease is None
    )
    assert status_of(store, job_id) == Status.READY
    assert [t.status for t in tasks(store, job_id)] == [TaskStatus.SCHEDULED]  # its RUN op is to come
    clock.advance(60)

    actions.rerun(job_id, "RUN", run_now=True)

    job = job_of(store, job_id)
    assert job.scheduled_at == clock.now()
    assert job.max_start_at == clock.now().add(minutes=30)
    job = run_until_status(jobs.engine, job_id, Status.FINISHED)
    assert job.run_started_at == clock.now()


def test_rerun_resets_progress_and_counts_the_execution(jobs: Jobs, actions: Actions, store: Store) -> None:
    job_id = jobs.run(full_def(), Status.FINISHED)
    job = job_of(store, job_id)
    assert (job.progress, job.exec) == (100, 1)

    actions.rerun(job_id, "PRE")

    job = job_of(store, job_id)
    assert (job.status, job.progress, job.exec, job.step) == (Status.READY, 0, 2, Step.PRE)
    assert [t.status for t in tasks(store, job_id)] == [TaskStatus.SCHEDULED]
    job = run_until_status(jobs.engine, job_id, Status.FINISHED)
    assert (job.progress, job.exec) == (100, 2)
    assert [op.status for op in op_runs(store, job_id, 2)] == ["done", "done", "done"]


# -- reschedule and expiry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.READY, Status.APPROVAL, Status.EXPIRED])
def test_reschedule_moves_run_date_and_max_start_by_the_same_span(
    status: Status, jobs: Jobs, actions: Actions, store: Store, clock: FakeClock
) -> None:
    job_id = jobs.in_status(status)
    before = job_of(store, job_id)
    assert before.scheduled_at is not None and before.max_start_at is not None
    span = before.max_start_at - before.scheduled_at
    new = clock.now().add(hours=5)

    actions.reschedule(job_id, new)

    job = job_of(store, job_id)
    assert job.scheduled_at == new
    assert job.max_start_at == new + span
    expected = Status.APPROVAL if status == Status.APPROVAL else Status.READY
    assert job.status == expected
    if status == Status.APPROVAL:
        actions.approve(job_id)
    # Nothing of RUN happens before the new date, and the job does not expire again.
    for _ in range(3):
        jobs.engine.tick()
        clock.advance(60)
    assert job_of(store, job_id).run_started_at is None
    assert status_of(store, job_id) == Status.READY
    clock.set(new.add(seconds=1))
    job = run_until_status(jobs.engine, job_id, Status.FINISHED, Status.EXPIRED, Status.ERROR)
    assert job.status == Status.FINISHED
    assert job.run_started_at is not None and job.run_started_at >= new


@pytest.mark.parametrize("status", [Status.READY, Status.EXPIRED])
def test_reschedule_to_a_past_date_runs_as_soon_as_it_can_and_does_not_expire(
    status: Status, jobs: Jobs, actions: Actions, store: Store, clock: FakeClock
) -> None:
    job_id = jobs.in_status(status)
    before = job_of(store, job_id)
    assert before.scheduled_at is not None and before.max_start_at is not None
    span = before.max_start_at - before.scheduled_at

    actions.reschedule(job_id, "2020-01-01T00:00")

    job = job_of(store, job_id)
    assert (job.scheduled_at, job.max_start_at) == (clock.now(), clock.now() + span)
    job = run_until_status(jobs.engine, job_id, Status.FINISHED, Status.EXPIRED, Status.ERROR)
    assert job.status == Status.FINISHED


def test_reschedule_accepts_the_operators_words(jobs: Jobs, actions: Actions, store: Store) -> None:
    job_id = jobs.in_status(Status.READY)
    actions.reschedule(job_id, "+3h")
    assert job_of(store, job_id).scheduled_at == jobs.clock.now().add(hours=3)


def test_reschedule_is_refused_once_run_has_started(jobs: Jobs, actions: Actions, store: Store) -> None:
    job_id = jobs.in_status(Status.FINISHED)
    actions.rerun(job_id, "POST")  # READY again, but its RUN step already ran
    assert status_of(store, job_id) == Status.READY
    before = snapshot(store)

    with pytest.raises(Refused) as refused:
        actions.reschedule(job_id, "+1h")

    assert str(refused.value) == f"reschedule: job {job_id} has already started its RUN step"
    assert actions.allowed(job_id)["reschedule"] == str(refused.value)
    assert snapshot(store) == before


def test_a_job_past_its_max_start_expires_on_the_next_tick(jobs: Jobs, store: Store) -> None:
    # Submitted an hour ago with ten minutes to start, and no engine ran since.
    now = jobs.clock.now()
    jobs.clock.set(now.subtract(hours=1))
    job_id = jobs.submit(full_def(), max_start="+10m")
    jobs.clock.set(now)
    assert status_of(store, job_id) == Status.READY

    jobs.engine.tick()

    job = job_of(store, job_id)
    assert job.status == Status.EXPIRED
    assert job.reason == "passed Max Start Date"
    assert job.ended_at == jobs.clock.now()  # it ended: its elapsed time stops
    assert all(op.started_at is None for op in op_runs(store, job_id))


def test_a_job_waiting_for_run_expires_when_the_clock_passes_max_start(
    jobs: Jobs, actions: Actions, store: Store, clock: FakeClock
) -> None:
    """Its PRE ran: RUN is skipped and its POST step still runs (seed 001: POST runs after PRE or RUN,
    whatever happened), then it ends EXPIRED (found by a review against the seeds: it never ran POST)."""
    job_id = jobs.submit(full_def(), at="+1h", max_start="+10m")
    jobs.engine.run_until(
        lambda: job_of(store, job_id).step == Step.RUN and job_of(store, job_id).lease is None
    )
    assert status_of(store, job_id) == Status.READY

    clock.advance(70 * 60 + 1)
    job = run_until_status(jobs.engine, job_id, Status.EXPIRED)
    assert (job.reason, job.step, job.ended_at is not None) == ("passed Max Start Date", Step.END, True)
    assert [(op.step, op.status) for op in op_runs(store, job_id)] == [
        ("PRE", "done"),
        ("RUN", "skipped"),
        ("POST", "done"),
    ]
    (expire,) = [row for row in audit_rows(store, job_id) if row[2] == "expire"]
    assert expire[3:5] == ("READY", "READY")
    assert expire[5].startswith("RUN had not started by Max Start Date ") and expire[5].endswith(
        "; POST runs"
    )

    # Rescheduled, it waits for its new date and then runs RUN and POST again (PRE already ran).
    actions.reschedule(job_id, "+1h")
    assert (status_of(store, job_id), job_of(store, job_id).ended_at) == (Status.READY, None)
    for _ in range(3):
        jobs.engine.tick()
    assert job_of(store, job_id).run_started_at is None
    clock.advance(3601)
    assert run_until_status(jobs.engine, job_id, Status.FINISHED, Status.EXPIRED).status == Status.FINISHED
    assert [(op.step, op.status) for op in op_runs(store, job_id, exec_=2)] == [
        ("RUN", "done"),
        ("POST", "done"),
    ]


def test_a_job_expired_before_its_pre_succeeded_runs_no_post_and_its_reschedule_runs_pre(
    jobs: Jobs, actions: Actions, store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    """Found by review: a job expired with a PRE op still to run (a trap retried after its Max Start Date)
    went on to POST, its PRE skipped, and a reschedule then ran RUN without the PRE that never succeeded."""
    fixed, ledger = tmp_path / "fixed", tmp_path / "ledger"
    job_id = jobs.submit(
        f'name = "rel"\n[[pre]]\nname = "build"\nrun = "test -f {fixed} && echo build >> {ledger}"\n'
        f'on_error = "trap"\n[[run]]\nname = "deploy"\nrun = "echo deploy >> {ledger}"\n'
        f'[[post]]\nname = "notify"\nrun = "echo notify >> {ledger}"\n',
        max_start="+10m",
    )
    run_until_status(jobs.engine, job_id, Status.TRAPPED)
    clock.advance(11 * 60)
    actions.trap(job_id, "retry")  # READY in PRE, past its Max Start Date: the next pass expires it
    job = run_until_status(jobs.engine, job_id, Status.EXPIRED, Status.TRAPPED)
    assert (job.status, job.step) == (Status.EXPIRED, Step.PRE)
    assert [(op.step, op.status) for op in op_runs(store, job_id)] == [
        ("PRE", "pending"),
        ("RUN", "pending"),
        ("POST", "pending"),
    ]
    assert not ledger.exists()
    fixed.touch()
    actions.reschedule(job_id, "+1m")
    clock.advance(61)
    assert run_until_status(jobs.engine, job_id, Status.FINISHED, Status.ERROR, Status.EXPIRED).status == (
        Status.FINISHED
    )
    assert ledger.read_text().split() == ["build", "deploy", "notify"]


def test_a_job_on_its_way_to_post_after_expiring_refuses_a_reschedule_and_says_what_comes(
    jobs: Jobs, actions: Actions, store: Store, clock: FakeClock
) -> None:
    """Found by review: with the queue paused, an expired job waiting READY to run its POST step took a
    reschedule ("RUN at 13:10") and still ended EXPIRED; `show` said its next run was "its scheduled date"."""
    job_id = jobs.submit(full_def(), at="+1h", max_start="+10m")
    jobs.engine.run_until(
        lambda: job_of(store, job_id).step == Step.RUN and job_of(store, job_id).lease is None
    )
    actions.queue_pause("maintenance")
    clock.advance(70 * 60 + 1)
    jobs.engine.run_until(lambda: job_of(store, job_id).step == Step.POST)
    assert status_of(store, job_id) == Status.READY
    with pytest.raises(Refused) as refused:
        actions.reschedule(job_id, "+2h")
    assert str(refused.value) == (
        f"reschedule: job {job_id} is ending EXPIRED: its POST step runs first, RUN never will"
    )
    # Nor a rerun (found by an operator): it dropped the POST the job owed, and its end.
    with pytest.raises(Refused, match=f"rerun: job {job_id} is ending EXPIRED"):
        actions.rerun(job_id, "RUN")
    assert detail(store, job_id)["next_run_why"] == "its POST step runs, then the job ends"
    actions.queue_resume()
    assert run_until_status(jobs.engine, job_id, Status.EXPIRED).reason == "passed Max Start Date"


def test_a_job_whose_pre_outlasts_its_max_start_runs_post_and_ends_expired(
    jobs: Jobs, store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    """The engine holding the job finds its Max Start Date passed at RUN's gate: on to POST, then EXPIRED."""
    gate = tmp_path / "built"
    job_id = jobs.submit(
        full_def().replace(
            'name = "prepare"\nrun = "true"',
            f"name = \"prepare\"\nrun = 'while [ ! -f {gate} ]; do sleep 0.02; done'",
        ),
        max_start="+10m",
    )
    jobs.engine.run_until(lambda: any(op.status == "running" for op in op_runs(store, job_id)))
    clock.advance(11 * 60)
    gate.touch()
    job = run_until_status(jobs.engine, job_id, Status.EXPIRED, Status.FINISHED)
    assert (job.status, job.reason) == (Status.EXPIRED, "passed Max Start Date")
    assert [(op.step, op.status) for op in op_runs(store, job_id)] == [
        ("PRE", "done"),
        ("RUN", "skipped"),
        ("POST", "done"),
    ]


def test_a_job_waiting_for_approval_expires_when_the_clock_passes_max_start(
    jobs: Jobs, store: Store, clock: FakeClock
) -> None:
    job_id = jobs.in_status(Status.APPROVAL)
    max_start = job_of(store, job_id).max_start_at
    assert max_start is not None

    clock.set(max_start.add(seconds=1))
    jobs.engine.tick()

    job = job_of(store, job_id)
    assert (job.status, job.reason, job.ended_at) == (Status.EXPIRED, "passed Max Start Date", clock.now())


@pytest.mark.parametrize("how", ["rerun RUN now", "reschedule"])
def test_rerun_or_reschedule_brings_an_expired_job_back(
    how: str, jobs: Jobs, actions: Actions, store: Store, clock: FakeClock
) -> None:
    job_id = jobs.in_status(Status.EXPIRED)

    if how == "reschedule":
        actions.reschedule(job_id, "+1m")
        clock.advance(61)
    else:
        actions.rerun(job_id, "RUN", run_now=True)
    assert status_of(store, job_id) == Status.READY

    job = run_until_status(jobs.engine, job_id, Status.FINISHED, Status.EXPIRED, Status.ERROR)
    assert job.status == Status.FINISHED


# -- retry -------------------------------------------------------------------------------------------------


def flaky_def(mark: Path, project: str = "default", name: str = "flaky") -> str:
    """RUN fails the first time and succeeds once the mark file exists."""
    return (
        f'name = "{name}"\nproject = "{project}"\n'
        '[[pre]]\nname = "prepare"\nrun = "true"\n'
        f'[[run]]\nname = "deploy"\nrun = \'test -f "$MARK" || {{ touch "$MARK"; exit 1; }}\'\n'
        f'env = {{ MARK = "{mark}" }}\n'
        '[[post]]\nname = "notify"\nrun = "true"\n'
    )


def test_retry_runs_an_error_job_again_from_its_failed_step(
    jobs: Jobs, actions: Actions, store: Store, tmp_path: Path
) -> None:
    job_id = jobs.run(flaky_def(tmp_path / "mark"), Status.ERROR)
    assert job_of(store, job_id).failed_step == Step.RUN

    actions.retry(job_id)

    job = job_of(store, job_id)
    assert (job.status, job.step, job.exec) == (Status.READY, Step.RUN, 2)
    job = run_until_status(jobs.engine, job_id, Status.FINISHED, Status.ERROR)
    assert job.status == Status.FINISHED
    # PRE is not run again: the second execution starts at RUN.
    assert [(op.step, op.status) for op in op_runs(store, job_id, 2)] == [("RUN", "done"), ("POST", "done")]
    assert audit_rows(store, job_id)[-1][1:5] == (
        "engine@" + jobs.engine.host,
        "finish",
        "RUNNING",
        "FINISHED",
    )
    retry_rows = [row for row in audit_rows(store, job_id) if row[2] == "retry"]
    assert [row[1:5] for row in retry_rows] == [("tester", "retry", "ERROR", "READY")]


def partly_failing_def(tmp_path: Path, failing_in: str = "run") -> str:
    """Three targets; b's "deploy" (or its "prepare", in PRE) fails until the fix file exists. Each op
    run appends "op target" to the ledger."""
    ledger, fix = tmp_path / "ledger", tmp_path / "fixed"

    def op(step: str, name: str, fails: bool) -> str:
        check = f' && {{ [ "$JOBTUI_TARGET" != b ] || test -f {fix}; }}' if fails else ""
        return (
            f'[[{step}]]\nname = "{name}"\nper_target = true\nrollback = "true"\n'
            f"run = 'echo \"{name} $JOBTUI_TARGET\" >> {ledger}{check}'\n"
        )

    return (
        'name = "partly"\ntargets = ["a", "b", "c"]\n'
        + op("pre", "prepare", failing_in == "pre")
        + op("run", "deploy", failing_in == "run")
        + op("run", "verify", False)
        + f"[[post]]\nname = \"notify\"\nrun = 'echo notify >> {ledger}'\n"
    )


@pytest.mark.parametrize("failing_in", ["pre", "run"])
def test_retry_of_a_partial_job_runs_again_only_its_failed_tasks_from_where_they_failed(
    jobs: Jobs, actions: Actions, store: Store, tmp_path: Path, failing_in: str
) -> None:
    """QA: "retry: job 6 is PARTIAL; allowed from ABEND, ERROR"; a rerun ran the targets that had
    succeeded again too."""
    job_id = jobs.run(partly_failing_def(tmp_path, failing_in), Status.PARTIAL)
    ledger = tmp_path / "ledger"
    first = ledger.read_text().splitlines()
    assert actions.allowed(job_id)["retry"] is None  # the key, the palette and the CLI follow it
    (tmp_path / "fixed").touch()

    actions.retry(job_id)

    job = job_of(store, job_id)
    step = failing_in.upper()
    assert (job.status, job.step, job.exec, job.ended_at) == (Status.READY, step, 1, None)
    shown = detail(store, job_id)
    assert [(t["target"], t["status"], t["progress"], t["attempts"]) for t in shown["tasks"]] == [
        ("a", "SUCCEEDED", 100, 1),
        ("b", "SCHEDULED", 33 if failing_in == "run" else 0, 2),
        ("c", "SUCCEEDED", 100, 1),
    ]
    b_steps = [(s["name"], s["status"]) for s in shown["tasks"][1]["steps"]]
    assert b_steps == [
        ("prepare", "done" if failing_in == "run" else "pending"),
        ("deploy", "pending"),
        ("verify", "pending"),
    ]
    retried = [row for row in audit_rows(store, job_id) if row[2] == "retry"]
    assert [row[1:] for row in retried] == [
        (
            "tester",
            "retry",
            "PARTIAL",
            "READY",
            f"from {step}, the 1 task that did not succeed (b); retry after failure",
        )
    ]

    job = run_until_status(jobs.engine, job_id, Status.FINISHED, Status.PARTIAL, Status.ERROR)
    assert (job.status, job.progress) == (Status.FINISHED, 100)
    again = ledger.read_text().splitlines()[len(first) :]
    b_ops = ["deploy b", "verify b"] if failing_in == "run" else ["prepare b", "deploy b", "verify b"]
    assert again == [*b_ops, "notify"], "a and c are left alone; b goes on from where it failed"
    assert [t["status"] for t in detail(store, job_id)["tasks"]] == ["SUCCEEDED"] * 3


def test_retry_is_refused_naming_a_later_job_of_the_same_project(
    jobs: Jobs, actions: Actions, store: Store, clock: FakeClock
) -> None:
    failed = jobs.run(failing_def("payments"), Status.ERROR)
    clock.advance(60)
    jobs.run(plain_def("web", "elsewhere"), Status.FINISHED)  # another project does not count
    assert actions.allowed(failed)["retry"] is None
    clock.advance(60)
    later = jobs.run(plain_def("payments", "nightly"), Status.FINISHED)
    before = snapshot(store)

    with pytest.raises(Refused) as refused:
        actions.retry(failed)

    assert str(refused.value) == (
        f"retry: job {later} (nightly) of project payments has run since job {failed} failed; "
        "rerun it instead"
    )
    assert actions.allowed(failed)["retry"] == str(refused.value)
    assert snapshot(store) == before
    actions.rerun(failed, "RUN")  # what the message suggests is allowed
    assert status_of(store, failed) == Status.READY


def test_rollback_is_refused_without_completed_ops_that_declare_one(
    jobs: Jobs, actions: Actions, store: Store
) -> None:
    job_id = jobs.run(plain_def(), Status.FINISHED)
    before = snapshot(store)

    with pytest.raises(Refused) as refused:
        actions.rollback(job_id)

    assert str(refused.value) == f"rollback: job {job_id} has no completed ops with a rollback command"
    assert snapshot(store) == before


# -- the queue ---------------------------------------------------------------------------------------------


def test_queue_pause_stops_claims_and_resume_starts_them_again(
    jobs: Jobs, actions: Actions, store: Store, clock: FakeClock
) -> None:
    seq_before = last_seq(store)
    actions.queue_pause("maintenance")
    assert actions.queue_state().paused
    job_id = jobs.submit(full_def())

    for _ in range(5):
        jobs.engine.tick()
        clock.advance(30)
    job = job_of(store, job_id)
    assert (job.status, job.step, job.started_at) == (Status.READY, Step.INIT, None)

    actions.queue_resume()
    assert not actions.queue_state().paused
    run_until_status(jobs.engine, job_id, Status.FINISHED)

    queue_audit = query(store, "SELECT who, action, comment FROM audit WHERE job_id = 0 ORDER BY id")
    assert queue_audit == [("tester", "queue pause", "maintenance"), ("tester", "queue resume", None)]
    kinds = query(store, "SELECT kind FROM changes WHERE seq > ? AND job_id IS NULL", seq_before)
    assert kinds == [("queue",), ("queue",)]


def test_queue_clear_cancels_queued_jobs_and_leaves_running_ones_running(
    jobs: Jobs, actions: Actions, store: Store
) -> None:
    running, pgid = jobs.running()
    actions.queue_pause()
    queued = [jobs.submit(plain_def(name=f"q{n}")) for n in range(2)]

    cleared = actions.queue_clear()

    assert cleared == queued
    with store.read() as s:
        said = s.scalars(
            select(AuditEvent.comment).where(AuditEvent.job_id == 0, AuditEvent.action == "queue clear")
        ).all()
    assert said == ["2 jobs canceled"]
    for job_id in queued:
        assert status_of(store, job_id) == Status.CANCELED
        assert [t.status for t in tasks(store, job_id)] == [TaskStatus.CANCELLED]
    assert status_of(store, running) == Status.RUNNING
    assert live_pids_of_group(pgid)
    # Running jobs finish while the queue stays paused; cleared jobs never start.
    jobs.go.touch()
    assert run_until_status(jobs.engine, running, Status.FINISHED, Status.ERROR).status == Status.FINISHED
    assert actions.queue_state().paused
    actions.queue_resume()
    for _ in range(3):
        jobs.engine.tick()
    assert [status_of(store, job_id) for job_id in queued] == [Status.CANCELED, Status.CANCELED]
    assert all(op.started_at is None for job_id in queued for op in op_runs(store, job_id))
