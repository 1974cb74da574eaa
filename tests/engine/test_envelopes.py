"""Envelopes (seed 004) on the real engine: chain order, stop on failure, derived status, corrupt files,
the rollback stack, notifications, retry and pause-on-failure."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from jobtui.engine.db.models import AuditEvent, Envelope, Job, OpRun
from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.states import Status
from jobtui.engine.formats.envelope_file import EnvelopeCorrupt, envelope_of_files, load_envelope
from jobtui.engine.service.actions import Actions, Refused
from jobtui.engine.service.envelope_actions import EnvelopeActions
from jobtui.engine.service.envelope_tree import load_tree
from jobtui.engine.service.views import audit_json
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import detail, job_of, status_of
from tests.support.transitions import Jobs, assert_audit_within_table

# The engine behaves the same on both backends (several hosts share PostgreSQL).
BACKENDS = ("sqlite", "postgresql")

FINAL = ("FINISHED", "ERROR", "CANCELED", "PARTIAL", "ABEND", "ROLLEDBACK", "EXPIRED", "REJECTED")


@pytest.fixture
def envelopes(actions: Actions) -> EnvelopeActions:
    return EnvelopeActions(actions)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def step_def(
    directory: Path, name: str, run: str = "true", project: str = "payments", rollback: str = ""
) -> Path:
    ledger = directory / "ledger"
    undo = f"\nrollback = 'echo undo {name} >> {ledger}'" if rollback else ""
    return write(
        directory,
        f"{name}.toml",
        f"""
        name = "{name}"
        project = "{project}"
        [[run]]
        name = "{name}-op"
        run = 'echo {name} >> {ledger}; {run}'{undo}
        """,
    )


def ledger(directory: Path) -> list[str]:
    path = directory / "ledger"
    return path.read_text().split("\n")[:-1] if path.exists() else []


def envelope_file(directory: Path, name: str, files: list[str], project: str = "payments") -> Path:
    jobs = "".join(f'[[jobs]]\nfile = "{f}"\n' for f in files)
    return write(directory, f"{name}.envelope.toml", f'envelope = "{name}"\nproject = "{project}"\n{jobs}')


def run_chain(engine: Engine, ids: list[int]) -> list[str]:
    engine.run_until(lambda: all(status_of(engine.store, i) in FINAL for i in ids))
    return [status_of(engine.store, i) for i in ids]


def notes(envelopes: EnvelopeActions, envelope_id: int) -> list[tuple[str, str]]:
    return [(n["level"], n["text"]) for n in envelopes.detail(envelope_id)["notifications"]]


def test_jobs_run_in_chain_order_each_after_the_previous_finished(
    envelopes: EnvelopeActions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    for name in ("build", "migrate", "deploy"):
        step_def(tmp_path, name)
    spec = load_envelope(envelope_file(tmp_path, "release-42", ["build.toml", "migrate.toml", "deploy.toml"]))
    envelope_id, ids = envelopes.submit(spec)
    # Only the first is due; the others wait for the chain.
    assert [job_of(store, i).due_at is None for i in ids] == [False, True, True]
    assert job_of(store, ids[1]).reason == f"waits for job {ids[0]} of envelope release-42"
    assert envelopes.detail(envelope_id)["status"] == "SUCCESS_ACTIVE"
    assert run_chain(engine, ids) == ["FINISHED"] * 3
    assert ledger(tmp_path) == ["build", "migrate", "deploy"]
    starts = [job_of(store, i).started_at for i in ids]
    ends = [job_of(store, i).ended_at for i in ids]
    assert all(end is not None and start is not None for start, end in zip(starts, ends, strict=True))
    assert starts[1] >= ends[0] and starts[2] >= ends[1]  # type: ignore[operator]
    data = envelopes.detail(envelope_id)
    assert (data["status"], [j["id"] for j in data["jobs"]]) == ("SUCCESS", ids)
    assert all(j["envelope"] == envelope_id for j in data["jobs"])
    assert ("info", "envelope release-42 finished: SUCCESS") in notes(envelopes, envelope_id)


def test_a_failure_stops_the_chain_and_the_rest_end_canceled_with_a_reason(
    envelopes: EnvelopeActions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    step_def(tmp_path, "build")
    step_def(tmp_path, "migrate", run="echo boom >&2; exit 3")
    step_def(tmp_path, "deploy")
    spec = envelope_of_files([str(tmp_path / f"{n}.toml") for n in ("build", "migrate", "deploy")], "rel")
    envelope_id, ids = envelopes.submit(spec)
    assert run_chain(engine, ids) == ["FINISHED", "ERROR", "CANCELED"]
    assert ledger(tmp_path) == ["build", "migrate"], "deploy never started"
    assert job_of(store, ids[2]).reason == f"envelope rel: job {ids[1]} (migrate) ended ERROR"
    data = envelopes.detail(envelope_id)
    assert data["status"] == "ERRORS"
    levels = notes(envelopes, envelope_id)
    assert any(level == "error" and f"job {ids[1]} (migrate) ended ERROR" in text for level, text in levels)
    assert ("error", "envelope rel finished: ERRORS") in levels


def test_an_envelope_whose_job_ends_partial_ended_with_errors(
    envelopes: EnvelopeActions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    """A job of several targets one of which failed ends PARTIAL, which stops a chain as a failure does:
    its envelope read SUCCESS (and notified "finished: SUCCESS") when that job was its last."""
    step_def(tmp_path, "build")
    write(
        tmp_path,
        "roll.toml",
        """
        name = "roll"
        project = "payments"
        targets = ["web-01", "web-02"]
        [[run]]
        name = "roll-op"
        per_target = true
        run = '[ "$JOBTUI_TARGET" = web-01 ]'
        """,
    )
    envelope_id, ids = envelopes.submit(
        envelope_of_files([str(tmp_path / "build.toml"), str(tmp_path / "roll.toml")], "rel")
    )
    assert run_chain(engine, ids) == ["FINISHED", "PARTIAL"]
    assert envelopes.detail(envelope_id)["status"] == "ERRORS"
    assert ("error", "envelope rel finished: ERRORS") in notes(envelopes, envelope_id)


def test_derived_status_errors_active_while_a_failed_envelope_is_retried(
    envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path
) -> None:
    step_def(tmp_path, "a", run="exit 1")
    step_def(tmp_path, "b")
    envelope_id, ids = envelopes.submit(
        envelope_of_files([str(tmp_path / "a.toml"), str(tmp_path / "b.toml")], "e")
    )
    run_chain(engine, ids)
    actions.retry(ids[0])  # the retry rule allows it: nothing of the project ran since
    assert envelopes.detail(envelope_id)["status"] == "ERRORS_ACTIVE"


def test_cancel_makes_the_envelope_cancelled_for_good(
    envelopes: EnvelopeActions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    step_def(tmp_path, "a", run="sleep 30")
    step_def(tmp_path, "b")
    envelope_id, ids = envelopes.submit(
        envelope_of_files([str(tmp_path / "a.toml"), str(tmp_path / "b.toml")], "e")
    )
    engine.run_until(lambda: status_of(store, ids[0]) == "RUNNING")
    assert envelopes.cancel(envelope_id) == ids
    assert [status_of(store, i) for i in ids] == ["CANCELED", "CANCELED"]
    assert envelopes.detail(envelope_id)["status"] == "CANCELLED"
    with pytest.raises(Refused, match="is CANCELLED"):
        envelopes.cancel(envelope_id)


@pytest.mark.parametrize(("b_runs", "ended"), [("true", "SUCCESS"), ("false", "ERRORS")])
def test_an_ended_envelope_cannot_be_cancelled_and_keeps_how_it_ended(
    envelopes: EnvelopeActions, engine: Engine, tmp_path: Path, store: Store, b_runs: str, ended: str
) -> None:
    """It was "cancelled" (exit 0, nothing canceled): CANCELLED replaced SUCCESS, or an ERRORS envelope's
    failure went off record (found by QA)."""
    step_def(tmp_path, "a")
    step_def(tmp_path, "b", run=b_runs)
    envelope_id, ids = envelopes.submit(
        envelope_of_files([str(tmp_path / "a.toml"), str(tmp_path / "b.toml")], "done")
    )
    engine.run_until(lambda: envelopes.detail(envelope_id)["status"] == ended)
    with pytest.raises(Refused, match=f"ended {ended}: nothing left to cancel"):
        envelopes.cancel(envelope_id)
    assert envelopes.detail(envelope_id)["status"] == ended
    assert [status_of(store, i) for i in ids] == ["FINISHED", "FINISHED" if b_runs == "true" else "ERROR"]


def test_deleting_a_job_the_chain_waits_on_is_refused_and_audited(
    envelopes: EnvelopeActions, actions: Actions, tmp_path: Path, store: Store
) -> None:
    """Deleted, the job would never end, so the chain would neither release nor cancel the next job: it
    stayed READY forever, the envelope SUCCESS_ACTIVE, and nothing said why."""
    step_def(tmp_path, "a")
    step_def(tmp_path, "b")
    envelope_id, ids = envelopes.submit(
        envelope_of_files([str(tmp_path / "a.toml"), str(tmp_path / "b.toml")], "dup")
    )
    with pytest.raises(Refused) as refused:
        actions.delete(ids[0])
    said = f"delete: job {ids[1]} (b) of envelope {envelope_id} (dup) waits for job {ids[0]}; cancel job"
    assert str(refused.value).startswith(said)
    assert [status_of(store, i) for i in ids] == ["READY", "READY"]
    with store.read() as s:
        audit = s.scalars(select(AuditEvent).where(AuditEvent.job_id == ids[0], AuditEvent.refused)).all()
    assert [(row.action, row.comment) for row in audit] == [("delete", str(refused.value))]
    # As the refusal says: cancelled, the job ends the chain (the rest are cancelled), then it can go.
    actions.cancel(ids[0])
    actions.delete(ids[0])
    assert status_of(store, ids[1]) == "CANCELED"
    assert envelopes.detail(envelope_id)["status"] == "ERRORS"


def test_deleting_the_last_job_of_an_envelope_before_it_ended_is_refused(
    envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    """Found by an operator: deleting the chain's last job while the first ran went through, and the envelope
    then read SUCCESS, its notifications "finished: SUCCESS", for a chain whose last job never ran."""
    step_def(tmp_path, "a")
    step_def(tmp_path, "b")
    envelope_id, ids = envelopes.submit(
        envelope_of_files([str(tmp_path / "a.toml"), str(tmp_path / "b.toml")], "rel-2")
    )
    with pytest.raises(Refused) as refused:
        actions.delete(ids[1])
    assert str(refused.value) == (
        f"delete: job {ids[1]} of envelope {envelope_id} (rel-2) has not ended (READY): deleted, the "
        f"envelope would read as if it had never had it; cancel job {ids[1]} first or cancel the envelope"
    )
    with store.read() as s:
        audit = s.scalars(select(AuditEvent).where(AuditEvent.job_id == ids[1], AuditEvent.refused)).all()
    assert [(row.action, row.comment) for row in audit] == [("delete", str(refused.value))]
    # As the refusal says: cancelled, it ended (the envelope's failure on record), then it can go.
    actions.cancel(ids[1])
    actions.delete(ids[1])
    engine.run_until(lambda: status_of(store, ids[0]) == "FINISHED")
    assert envelopes.detail(envelope_id)["status"] == "ERRORS"


# -- corrupt envelopes ----------------------------------------------------------------------------------


def corrupt_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    step_def(tmp_path, "good")
    step_def(tmp_path, "other", project="analytics")
    write(tmp_path, "broken.toml", 'name = "broken"\n[[run]]\nrun = "true"\ntimeout = "soon"\n')
    unreadable = write(tmp_path, "locked.envelope.toml", 'envelope = "locked"\n')
    unreadable.write_bytes(b'envelope = "locked"\n\xff\xfe not text')
    return {
        "unreadable": (unreadable, "cannot read file"),
        "invalid TOML": (write(tmp_path, "bad.envelope.toml", 'envelope = "bad"\n[[jobs]\n'), "invalid TOML"),
        "missing definition": (envelope_file(tmp_path, "m", ["good.toml", "nope.toml"]), "nope.toml"),
        "invalid definition": (envelope_file(tmp_path, "i", ["good.toml", "broken.toml"]), '"soon"'),
        "mixed projects": (envelope_file(tmp_path, "x", ["good.toml", "other.toml"]), "share one project"),
    }


@pytest.mark.parametrize(
    ("spelled", "name"),
    [
        ('"Bob\'s release \\"v2\\""', 'Bob\'s release "v2"'),
        ("'rel 42'", "rel 42"),
        ('"rel-\\u001b[31m"', "rel-\x1b[31m"),
        ('"""multi"""', "multi"),
    ],
)
def test_an_envelope_is_named_as_toml_reads_its_name(tmp_path: Path, spelled: str, name: str) -> None:
    step_def(tmp_path, "build")
    path = write(
        tmp_path,
        "e.envelope.toml",
        f'envelope = {spelled}\nproject = "payments"\n[[jobs]]\nfile = "build.toml"\n',
    )
    assert load_envelope(path).name == name


@pytest.mark.parametrize(
    "case", ["unreadable", "invalid TOML", "missing definition", "invalid definition", "mixed projects"]
)
def test_a_corrupt_envelope_is_stored_with_its_reason_and_runs_nothing(
    case: str, envelopes: EnvelopeActions, tmp_path: Path, store: Store
) -> None:
    path, needle = corrupt_cases(tmp_path)[case]
    with pytest.raises(EnvelopeCorrupt) as info:
        load_envelope(path)
    assert needle in info.value.reason and str(path) in info.value.reason
    envelope_id = envelopes.record_corrupt(info.value)
    data = envelopes.detail(envelope_id)
    assert (data["status"], data["jobs"]) == ("CORRUPT", [])
    assert needle in data["reason"]
    assert notes(envelopes, envelope_id)[0][0] == "error"
    with store.read() as s:
        assert s.scalars(select(Job)).all() == []
    with pytest.raises(Refused, match="is CORRUPT"):
        envelopes.rollback(envelope_id, "why not")


def test_an_envelopes_dates_are_checked_on_the_databases_clock(
    envelopes: EnvelopeActions, tmp_path: Path, clock: FakeClock
) -> None:
    """Submission resolves dates on the database's clock (a shared server's): the file is checked on the
    same one, so a date past there is this envelope's error at its line, recorded as corrupt, whatever
    this host's own clock says (the check used it, and submission then refused the job bare)."""
    clock.set(clock.now().add(years=5))  # the database's clock; this host's is years behind it
    yesterday = clock.now().subtract(days=1).to_iso8601_string()  # past there, years ahead here
    (tmp_path / "a.toml").write_text('name = "a"\n[[run]]\nrun = "true"\n')
    path = tmp_path / "rel.toml"
    path.write_text(f'envelope = "rel"\n[[jobs]]\nfile = "a.toml"\nat = "{yesterday}"\nmax_start = "+1h"\n')
    with pytest.raises(EnvelopeCorrupt) as info:
        envelopes.read_file(str(path))
    # The RUN date it counts from is what is too old, at its line.
    assert info.value.reason.startswith(f'{path}:4: [[jobs]] #1 "at": "{yesterday}": the Max Start Date ')
    assert "(+1h after this RUN date) is already past" in info.value.reason
    job = tmp_path / "late.toml"
    job.write_text(
        f'name = "late"\n[schedule]\nat = "{yesterday}"\nmax_start = "+1h"\n[[run]]\nrun = "true"\n'
    )
    with pytest.raises(EnvelopeCorrupt, match="is already past"):
        envelopes.of_files([str(tmp_path / "a.toml"), str(job)], "adhoc")


# -- rollback -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("newer", ["nothing to roll back", "cancelled"])
def test_a_newer_envelope_that_can_never_be_rolled_back_does_not_block_an_older_one(
    newer: str, envelopes: EnvelopeActions, engine: Engine, tmp_path: Path
) -> None:
    step_def(tmp_path, "a1", rollback="yes")
    step_def(tmp_path, "plain")
    step_def(tmp_path, "later", rollback="yes")
    first, first_jobs = envelopes.submit(envelope_of_files([str(tmp_path / "a1.toml")], "r1"))
    run_chain(engine, first_jobs)
    if newer == "cancelled":
        second, _ = envelopes.submit(envelope_of_files([str(tmp_path / "later.toml")], "r2"))
        envelopes.cancel(second)
    else:
        second, second_jobs = envelopes.submit(envelope_of_files([str(tmp_path / "plain.toml")], "r2"))
        run_chain(engine, second_jobs)
    with pytest.raises(Refused):
        envelopes.rollback(second, "nothing to undo")

    job_id = envelopes.rollback(first, "bad release")

    assert run_chain(engine, [job_id]) == ["ROLLEDBACK"]
    assert ledger(tmp_path)[-1:] == ["undo a1"]


def test_rollback_is_a_stack_per_project_and_runs_undo_commands_newest_first(
    envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    for name in ("a1", "a2", "b1"):
        step_def(tmp_path, name, rollback="yes")
    first, first_jobs = envelopes.submit(
        envelope_of_files([str(tmp_path / f) for f in ("a1.toml", "a2.toml")], "r1")
    )
    run_chain(engine, first_jobs)
    second, second_jobs = envelopes.submit(envelope_of_files([str(tmp_path / "b1.toml")], "r2"))
    run_chain(engine, second_jobs)

    with pytest.raises(Refused) as refused:
        envelopes.rollback(first, "bad release")
    assert (
        f"envelope {second} (r2) of project payments is newer and not rolled back; roll it back first"
        in str(refused.value)
    )
    with pytest.raises(ValueError, match="a reason is required"):
        envelopes.rollback(second, " ")

    job_id = envelopes.rollback(second, "bad release")
    assert run_chain(engine, [job_id]) == ["ROLLEDBACK"]
    assert envelopes.detail(second)["status"] == "ROLLEDBACK"
    # Run again, a job of it would apply what the rollback undid (the envelope still read ROLLEDBACK).
    for again in (lambda j: actions.rerun(j, "RUN"), lambda j: actions.rerun(j, "PRE")):
        with pytest.raises(Refused, match=rf"envelope {second} \(r2\) of job {second_jobs[0]} was rolled"):
            again(second_jobs[0])
    job_id = envelopes.rollback(first, "also bad")
    assert run_chain(engine, [job_id]) == ["ROLLEDBACK"]
    assert ledger(tmp_path)[-3:] == ["undo b1", "undo a2", "undo a1"]
    with store.read() as s:
        assert all(op.rolled_back for op in s.scalars(select(OpRun).where(OpRun.job_id.in_(first_jobs))))
        audit = s.scalars(
            select(AuditEvent).where(AuditEvent.job_id == job_id).order_by(AuditEvent.id)
        ).first()
        envelope = s.get(Envelope, first)
    assert audit is not None and (audit.action, audit.comment, audit.to_status) == (
        "envelope rollback",
        "also bad",
        "ROLLBACK",
    )
    assert envelope is not None and envelope.rollback_job_id == job_id
    texts = [text for _, text in notes(envelopes, first)]
    assert "rollback started by tester: also bad" in texts and "rollback of envelope r1 ended" in texts
    with pytest.raises(Refused, match="is ROLLEDBACK"):
        envelopes.rollback(first, "again")


def test_rollback_waits_for_an_envelope_that_is_still_running_or_its_cancel(
    envelopes: EnvelopeActions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    step_def(tmp_path, "done", rollback="yes")
    step_def(tmp_path, "slow", run="sleep 30", rollback="yes")
    envelope_id, ids = envelopes.submit(
        envelope_of_files([str(tmp_path / "done.toml"), str(tmp_path / "slow.toml")], "e")
    )
    engine.run_until(lambda: status_of(store, ids[1]) == "RUNNING")
    with pytest.raises(Refused, match="queued or running; wait for them or cancel the envelope"):
        envelopes.rollback(envelope_id, "stop")
    # Cancelled as the refusal says, it can be rolled back: "done" changed things (it was refused for good).
    envelopes.cancel(envelope_id, "stop it")
    assert envelopes.detail(envelope_id)["reason"] == "cancelled by tester: stop it"
    job_id = envelopes.rollback(envelope_id, "undo what ran")
    assert run_chain(engine, [job_id]) == ["ROLLEDBACK"]
    detail = envelopes.detail(envelope_id)
    # Not the cancel's reason still, as the envelope read before (found by an operator's use).
    assert (detail["status"], detail["reason"]) == ("ROLLEDBACK", "rolled back by tester: undo what ran")
    assert ledger(tmp_path)[-1] == "undo done"


# -- notifications, retry, queue ----------------------------------------------------------------------


def test_a_trapped_job_notifies_its_envelope(
    envelopes: EnvelopeActions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    write(
        tmp_path, "t.toml", 'name = "t"\nproject = "payments"\n[[run]]\nrun = "exit 1"\non_error = "trap"\n'
    )
    envelope_id, ids = envelopes.submit(envelope_of_files([str(tmp_path / "t.toml")], "e"))
    engine.run_until(lambda: status_of(store, ids[0]) == "TRAPPED")
    assert notes(envelopes, envelope_id)[-1][0] == "warning"
    assert f"job {ids[0]} (t) trapped" in notes(envelopes, envelope_id)[-1][1]


def test_an_envelope_whose_job_rolls_back_after_its_op_failed_reads_errors_active_then_errors(
    envelopes: EnvelopeActions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    """Seed 004: ErrorsActive, "actively processing data but errors have occurred". A job rolling back
    after its op failed is that: it read "Success, active" until the job ended ROLLEDBACK."""
    gate = tmp_path / "undone"
    write(
        tmp_path,
        "t.toml",
        f"""
        name = "t"
        project = "payments"
        rollback_on_error = true
        [[run]]
        name = "deploy"
        run = "true"
        rollback = "while [ ! -f {gate} ]; do sleep 0.02; done"
        [[run]]
        name = "smoke"
        run = "false"
        """,
    )
    envelope_id, ids = envelopes.submit(envelope_of_files([str(tmp_path / "t.toml")], "e"))
    engine.run_until(lambda: status_of(store, ids[0]) == "ROLLBACK")

    def everywhere() -> set[str]:
        listed = [e["status"] for e in envelopes.all_envelopes() if e["id"] == envelope_id]
        tree = [e.status.value for e in load_tree(store).envelopes if e.id == envelope_id]
        return {envelopes.detail(envelope_id)["status"], *listed, *tree}

    try:
        assert everywhere() == {"ERRORS_ACTIVE"}
    finally:
        gate.touch()
    assert run_chain(engine, ids) == ["ROLLEDBACK"]
    assert everywhere() == {"ERRORS"}


def test_an_envelope_with_a_trapped_job_reads_errors_active_everywhere(
    envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    """Seed 004: ErrorsActive, "actively processing data but errors have occurred". A job that failed and
    waits for a person (trapped, its countdown paused or not) is that; QA saw "Success, active" with job 8
    TRAPPED under it, in the tree and in `jobtui envelope`."""
    write(
        tmp_path, "t.toml", 'name = "t"\nproject = "payments"\n[[run]]\nrun = "exit 1"\non_error = "trap"\n'
    )
    step_def(tmp_path, "after")
    envelope_id, ids = envelopes.submit(
        envelope_of_files([str(tmp_path / "t.toml"), str(tmp_path / "after.toml")], "e")
    )
    assert envelopes.detail(envelope_id)["status"] == "SUCCESS_ACTIVE"
    engine.run_until(lambda: status_of(store, ids[0]) == "TRAPPED")

    def everywhere() -> set[str]:
        listed = [e["status"] for e in envelopes.all_envelopes() if e["id"] == envelope_id]
        tree = [e.status.value for e in load_tree(store).envelopes if e.id == envelope_id]
        return {envelopes.detail(envelope_id)["status"], *listed, *tree}

    assert everywhere() == {"ERRORS_ACTIVE"}
    actions.trap(ids[0], "pause")
    assert status_of(store, ids[0]) == "TRAP_PAUSED"
    assert everywhere() == {"ERRORS_ACTIVE"}
    # Skipped, the op no longer stands failed: the chain goes on as one that had no error.
    actions.trap(ids[0], "skip")
    assert everywhere() == {"SUCCESS_ACTIVE"}
    assert run_chain(engine, ids) == ["FINISHED", "FINISHED"]
    assert everywhere() == {"SUCCESS"}


def test_retry_is_refused_once_another_job_of_the_project_ran(
    envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path
) -> None:
    step_def(tmp_path, "fails", run="exit 1")
    step_def(tmp_path, "later")
    _, (failed,) = envelopes.submit(envelope_of_files([str(tmp_path / "fails.toml")], "e1"))
    run_chain(engine, [failed])
    engine.store.clock.advance(1)  # type: ignore[attr-defined]
    _, (later,) = envelopes.submit(envelope_of_files([str(tmp_path / "later.toml")], "e2"))
    run_chain(engine, [later])
    with pytest.raises(Refused, match=f"job {later} \\(later\\) of project payments has run since"):
        actions.retry(failed)


def test_a_failing_envelope_job_pauses_the_queue_when_configured(
    envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path
) -> None:
    actions.set_setting("pause_queue_on_failure", True)
    step_def(tmp_path, "fails", run="exit 1")
    _, ids = envelopes.submit(envelope_of_files([str(tmp_path / "fails.toml")], "e"))
    assert run_chain(engine, ids) == [Status.ERROR.value]
    state = actions.queue_state()
    assert state.paused and state.reason == f"job {ids[0]} (fails) ended ERROR"
    # The engine's pause is in the queue's trail, as an operator's is, and in the job's that caused it.
    queue = [(r["action"], r["who"], r["comment"]) for r in audit_json(actions.store, 0)]
    assert queue[-1] == ("queue pause", engine.who, f"job {ids[0]} (fails) ended ERROR")
    assert [r["action"] for r in audit_json(actions.store, ids[0])][-1] == "queue pause"


@pytest.mark.parametrize("status", ["ERROR", "ABEND", "PARTIAL", "EXPIRED"])
def test_every_end_that_is_not_a_success_pauses_the_queue_when_configured(
    status: str, actions: Actions, engine: Engine, store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    actions.set_setting("pause_queue_on_failure", True)
    job_id = Jobs(store, engine, clock, actions, tmp_path).in_status(Status(status))
    state = actions.queue_state()
    name = job_of(store, job_id).name
    assert state.paused and state.reason == f"job {job_id} ({name}) ended {status}"


def test_a_success_or_a_cancel_does_not_pause_the_queue(
    actions: Actions, engine: Engine, store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    actions.set_setting("pause_queue_on_failure", True)
    jobs = Jobs(store, engine, clock, actions, tmp_path)
    for status in (Status.FINISHED, Status.CANCELED, Status.REJECTED):
        jobs.in_status(status)
    assert not actions.queue_state().paused


# -- resuming a stopped chain (seed 004: fix the issue, retry the job, resume processing) --------------


def three_step_chain(envelopes: EnvelopeActions, tmp_path: Path) -> tuple[int, list[int]]:
    """build, migrate, deploy: migrate fails until the file `fixed` exists."""
    step_def(tmp_path, "build")
    step_def(tmp_path, "migrate", run=f"test -e {tmp_path / 'fixed'}")
    step_def(tmp_path, "deploy")
    files = [str(tmp_path / f"{n}.toml") for n in ("build", "migrate", "deploy")]
    return envelopes.submit(envelope_of_files(files, "rel"))


@pytest.mark.parametrize("how", ["retry", "rerun"])
def test_retrying_the_job_that_stopped_the_chain_resumes_it(
    how: str, envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    actions.set_setting("pause_queue_on_failure", True)
    envelope_id, ids = three_step_chain(envelopes, tmp_path)
    assert run_chain(engine, ids) == ["FINISHED", "ERROR", "CANCELED"]
    assert actions.queue_state().paused
    assert envelopes.detail(envelope_id)["status"] == "ERRORS"

    (tmp_path / "fixed").touch()
    if how == "retry":
        actions.retry(ids[1])
    else:
        actions.rerun(ids[1], "PRE")
    done = {"retry": "retried", "rerun": "rerun"}[how]
    third = job_of(store, ids[2])
    assert (third.status, third.due_at, third.reason) == (
        "READY",
        None,
        f"waits for job {ids[1]} of envelope rel",
    )
    assert envelopes.detail(envelope_id)["status"] == "ERRORS_ACTIVE"
    with store.read() as s:
        last = s.scalars(
            select(AuditEvent).where(AuditEvent.job_id == ids[2]).order_by(AuditEvent.id.desc())
        ).first()
    assert last is not None
    assert (last.action, last.from_status, last.to_status, last.comment) == (
        "chain resume",
        "CANCELED",
        "READY",
        f"resumed after job {ids[1]} was {done}",
    )
    # The action taken, as the trail names it (a rerun read "was retried").
    assert (
        "info",
        f"envelope rel resumed: job {ids[1]} (migrate) was {done}; job {ids[2]} waits in order",
    ) in notes(envelopes, envelope_id)

    actions.queue_resume()
    assert run_chain(engine, ids) == ["FINISHED"] * 3
    assert ledger(tmp_path) == ["build", "migrate", "migrate", "deploy"]
    assert envelopes.detail(envelope_id)["status"] == "SUCCESS"
    assert ("info", "envelope rel finished: SUCCESS") in notes(envelopes, envelope_id)
    assert_audit_within_table(store)
    actions.rerun(ids[2], "PRE")  # nothing failed since: running again is not "errors"
    assert envelopes.detail(envelope_id)["status"] == "SUCCESS_ACTIVE"


def test_retrying_a_partially_succeeded_job_resumes_its_chain_and_leaves_its_good_targets_alone(
    envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    """QA: a PARTIAL end paused the queue (pause_queue_on_failure) and stopped the chain, yet the
    documented `jobtui retry N` was refused ("allowed from ABEND, ERROR"); a rerun ran the good targets
    again too."""
    actions.set_setting("pause_queue_on_failure", True)
    fixed, log = tmp_path / "fixed", tmp_path / "ledger"
    write(
        tmp_path,
        "flaky.toml",
        f"""
        name = "flaky"
        project = "payments"
        targets = ["t1", "t2"]
        [[run]]
        name = "apply"
        per_target = true
        run = 'echo "apply $JOBTUI_TARGET" >> {log}; [ "$JOBTUI_TARGET" = t1 ] || test -f {fixed}'
        """,
    )
    step_def(tmp_path, "deploy")
    files = [str(tmp_path / "flaky.toml"), str(tmp_path / "deploy.toml")]
    envelope_id, ids = envelopes.submit(envelope_of_files(files, "rel"))
    assert run_chain(engine, ids) == ["PARTIAL", "CANCELED"]
    assert actions.queue_state().paused
    fixed.touch()
    actions.retry(ids[0])
    assert (
        "info",
        f"envelope rel resumed: job {ids[0]} (flaky) was retried; job {ids[1]} waits in order",
    ) in notes(envelopes, envelope_id)
    actions.queue_resume()
    assert run_chain(engine, ids) == ["FINISHED", "FINISHED"]
    assert ledger(tmp_path) == ["apply t1", "apply t2", "apply t2", "deploy"]
    assert envelopes.detail(envelope_id)["status"] == "SUCCESS"


def test_a_resumed_chain_that_fails_again_stops_again(
    envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path
) -> None:
    envelope_id, ids = three_step_chain(envelopes, tmp_path)
    run_chain(engine, ids)
    actions.retry(ids[1])
    assert run_chain(engine, ids) == ["FINISHED", "ERROR", "CANCELED"]
    assert envelopes.detail(envelope_id)["status"] == "ERRORS"


def test_an_envelope_cancelled_by_an_operator_stays_cancelled_after_a_rerun(
    envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    step_def(tmp_path, "a")
    step_def(tmp_path, "b", run="sleep 30")
    step_def(tmp_path, "c")
    files = [str(tmp_path / f"{n}.toml") for n in ("a", "b", "c")]
    envelope_id, ids = envelopes.submit(envelope_of_files(files, "e"))
    engine.run_until(lambda: status_of(store, ids[1]) == "RUNNING")
    envelopes.cancel(envelope_id)
    actions.rerun(ids[1], "PRE")
    assert status_of(store, ids[2]) == "CANCELED"
    assert envelopes.detail(envelope_id)["status"] == "CANCELLED"


def test_deleting_the_failed_jobs_of_an_envelope_leaves_it_errors(
    envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path
) -> None:
    """Its status came from its jobs alone: with the failed ones deleted, a failed release read SUCCESS."""
    step_def(tmp_path, "a")
    step_def(tmp_path, "b", run="exit 1")
    step_def(tmp_path, "c")
    files = [str(tmp_path / f"{n}.toml") for n in ("a", "b", "c")]
    envelope_id, ids = envelopes.submit(envelope_of_files(files, "e"))
    assert run_chain(engine, ids) == ["FINISHED", "ERROR", "CANCELED"]
    actions.delete(ids[2])
    actions.delete(ids[1])
    assert envelopes.detail(envelope_id)["status"] == "ERRORS"


def test_a_deleted_failure_stays_on_record_when_the_chain_resumes(
    envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path
) -> None:
    """The resumed chain's ERRORS_ACTIVE replaced the record, and its end read SUCCESS, c never run."""
    fixed = tmp_path / "fixed"
    step_def(tmp_path, "a", run=f"test -f {fixed}")
    step_def(tmp_path, "b")
    step_def(tmp_path, "c")
    files = [str(tmp_path / f"{n}.toml") for n in ("a", "b", "c")]
    envelope_id, ids = envelopes.submit(envelope_of_files(files, "e"))
    assert run_chain(engine, ids) == ["ERROR", "CANCELED", "CANCELED"]
    actions.delete(ids[2])
    fixed.touch()
    actions.retry(ids[0])
    assert run_chain(engine, ids[:2]) == ["FINISHED", "FINISHED"]
    assert envelopes.detail(envelope_id)["status"] == "ERRORS"


def test_the_tree_counts_the_ops_of_each_job_s_current_execution(
    envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    """A rerun's earlier ops were counted too: "1 task · 2 ops" for a job of one op."""
    step_def(tmp_path, "a")
    _, ids = envelopes.submit(envelope_of_files([str(tmp_path / "a.toml")], "e"))
    assert run_chain(engine, ids) == ["FINISHED"]
    actions.rerun(ids[0], "RUN")
    assert run_chain(engine, ids) == ["FINISHED"]
    stats = load_tree(store).stats[ids[0]]
    assert (stats.tasks, stats.ops, stats.done, stats.failed) == (1, 1, 1, 0)


def test_an_op_stopped_by_a_cancel_is_no_failure_of_its_job(
    envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    """QA: after an envelope-cancel the killed op read "failed exit -" and the pane said "1 op: 0 done,
    1 failed" beside a task that reads CANCELLED: the op was stopped for the cancel, skipped past."""
    ready = tmp_path / "running"
    write(tmp_path, "a.toml", f'name = "a"\n[[run]]\nname = "work"\nrun = "touch {ready}; sleep 30"\n')
    envelope_id, ids = envelopes.submit(envelope_of_files([str(tmp_path / "a.toml")], "e"))
    engine.run_until(ready.exists)
    envelopes.cancel(envelope_id)
    engine.run_until(lambda: not engine.busy)
    stats = load_tree(store).stats[ids[0]]
    assert (stats.tasks, stats.ops, stats.done, stats.failed) == (1, 1, 0, 0)
    shown = detail(store, ids[0])
    assert [task["status"] for task in shown["tasks"]] == ["CANCELLED"]
    (work,) = shown["tasks"][0]["steps"]
    assert (work["status"], work["exit_code"], work["error"]) == ("skipped", None, "canceled by tester")
    assert work["started_at"] is not None and work["skipped_at"] is not None


@pytest.mark.parametrize("undo_a", ["true", "exit 1"])
def test_an_envelope_rollback_job_and_its_task_read_how_far_the_rollback_went(
    envelopes: EnvelopeActions, engine: Engine, tmp_path: Path, store: Store, undo_a: str
) -> None:
    """QA: `show` of the rollback job printed "task release-1: SUCCEEDED 0%" under "progress 100%"; the job
    read 100 from its first rollback run on (it has no pipeline op), a failed rollback too."""
    for name, undo in (("a", undo_a), ("b", "true")):
        write(tmp_path, f"{name}.toml", f'name = "{name}"\n[[run]]\nrun = "true"\nrollback = "{undo}"\n')
    envelope_id, ids = envelopes.submit(envelope_of_files([str(tmp_path / f"{n}.toml") for n in "ab"], "rel"))
    assert run_chain(engine, ids) == ["FINISHED", "FINISHED"]
    job_id = envelopes.rollback(envelope_id, "bad release")

    def seen() -> tuple[str, int, list[tuple[str, int]]]:
        shown = detail(store, job_id)
        return shown["status"], shown["progress"], [(t["status"], t["progress"]) for t in shown["tasks"]]

    assert seen() == ("ROLLBACK", 0, [("SCHEDULED", 0)])
    # b's undo first (newest first): half of the job's work, while a's runs.
    engine.run_until(lambda: detail(store, job_id)["steps"][0]["status"] == "done")
    assert seen()[:2] == ("ROLLBACK", 50)
    run_chain(engine, [job_id])
    if undo_a == "true":
        assert seen() == ("ROLLEDBACK", 100, [("SUCCEEDED", 100)])
    else:  # a failed rollback keeps where it stopped, as a failed job does
        assert seen() == ("ERROR", 50, [("FAILED", 0)])


def test_an_expired_job_of_a_rolled_back_envelope_is_not_rescheduled(
    envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path, clock: FakeClock
) -> None:
    """Rescheduled, it ran its RUN op: what the rollback undid applied again, the envelope ROLLEDBACK."""
    write(
        tmp_path,
        "a.toml",
        f"""
        name = "a"
        project = "payments"
        [[pre]]
        run = "echo apre >> {tmp_path / "ledger"}"
        rollback = "echo undo apre >> {tmp_path / "ledger"}"
        [[run]]
        run = "echo a >> {tmp_path / "ledger"}"
        """,
    )
    path = write(
        tmp_path,
        "e.envelope.toml",
        'envelope = "e"\nproject = "payments"\n[[jobs]]\nfile = "a.toml"\nat = "+1h"\nmax_start = "+30m"\n',
    )
    envelope_id, ids = envelopes.submit(envelopes.read_file(str(path)))
    engine.run_until(lambda: ledger(tmp_path) == ["apre"] and not engine.busy)
    clock.advance(2 * 3600)
    assert run_chain(engine, ids) == ["EXPIRED"]
    assert run_chain(engine, [envelopes.rollback(envelope_id, "bad release")]) == ["ROLLEDBACK"]
    with pytest.raises(Refused, match="was rolled back"):
        actions.reschedule(ids[0], "now")
    assert ledger(tmp_path) == ["apre", "undo apre"]


def test_a_rolled_back_envelope_is_not_resumed(
    envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    step_def(tmp_path, "a", rollback="yes")
    step_def(tmp_path, "b", run="exit 1")
    step_def(tmp_path, "c")
    files = [str(tmp_path / f"{n}.toml") for n in ("a", "b", "c")]
    envelope_id, ids = envelopes.submit(envelope_of_files(files, "e"))
    assert run_chain(engine, ids) == ["FINISHED", "ERROR", "CANCELED"]
    rollback = envelopes.rollback(envelope_id, "bad release")
    assert run_chain(engine, [rollback]) == ["ROLLEDBACK"]
    # Nor is a job of it run again: it would apply what the rollback undid.
    with pytest.raises(Refused, match="was rolled back"):
        actions.rerun(ids[1], "PRE")
    assert [status_of(store, job) for job in ids] == ["FINISHED", "ERROR", "CANCELED"]
    assert envelopes.detail(envelope_id)["status"] == "ROLLEDBACK"


def test_cancelling_an_envelope_notifies_a_cancel_not_a_finish_with_errors(
    envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    write(
        tmp_path, "t.toml", 'name = "t"\nproject = "payments"\n[[run]]\nrun = "exit 1"\non_error = "trap"\n'
    )
    step_def(tmp_path, "b")
    envelope_id, ids = envelopes.submit(
        envelope_of_files([str(tmp_path / "t.toml"), str(tmp_path / "b.toml")], "e")
    )
    engine.run_until(lambda: status_of(store, ids[0]) == "TRAPPED")
    envelopes.cancel(envelope_id, "abandon")
    said = notes(envelopes, envelope_id)
    assert said[-1] == ("warning", f"envelope e cancelled by {actions.actor.user}: abandon")
    assert not [text for _level, text in said if "finished" in text], said
    # Every job's trail says who cancelled it and why, the one after the trapped job too (it got the
    # chain's own reason, as if the trapped job's end had cancelled it).
    with store.read() as s:
        rows = s.scalars(
            select(AuditEvent).where(AuditEvent.to_status == "CANCELED").order_by(AuditEvent.job_id)
        )
        cancels = [(row.job_id, row.who, row.comment) for row in rows]
    assert cancels == [(job_id, actions.actor.user, "abandon") for job_id in ids]


def test_a_chain_stopped_by_a_queue_clear_resumes_when_its_first_job_is_rerun(
    envelopes: EnvelopeActions, actions: Actions, engine: Engine, tmp_path: Path, store: Store
) -> None:
    """Found by an operator: the clear cancelled the first job (its chain cancelling the second), then
    cancelled the second again (`queue clear CANCELED → CANCELED`): its reason no longer named the chain's
    stop, and a rerun of the first finished it alone, the envelope "finished: ERRORS" a second time."""
    for name in ("build", "deploy"):
        step_def(tmp_path, name)
    actions.queue_pause()
    envelope_id, ids = envelopes.submit(
        load_envelope(envelope_file(tmp_path, "rel", ["build.toml", "deploy.toml"]))
    )
    assert sorted(actions.queue_clear()) == ids
    assert [status_of(store, i) for i in ids] == ["CANCELED", "CANCELED"]
    trail = [(row["action"], row["from"], row["to"]) for row in audit_json(store, ids[1])]
    assert trail[-1] == ("chain cancel", "READY", "CANCELED")
    assert ("queue clear", "CANCELED", "CANCELED") not in trail
    actions.queue_resume()
    actions.rerun(ids[0], "PRE")
    assert run_chain(engine, ids) == ["FINISHED", "FINISHED"]
    assert ledger(tmp_path) == ["build", "deploy"]
    assert envelopes.detail(envelope_id)["status"] == "SUCCESS"
