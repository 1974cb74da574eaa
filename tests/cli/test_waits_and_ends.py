"""What the readable commands say about a job that waits or has ended (`show` says when a waiting job
runs next and why, `log --follow` says how the job it followed ended) and about the engines (`workers`)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pendulum
import pytest
from sqlalchemy import text

from jobtui.cli import main
from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.service.actions import Actions
from jobtui.engine.service.reads import Reads
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import START, definition, job_of, run_until_status


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err


def test_show_says_a_paused_job_waits_for_its_window_and_when_it_runs_next(
    actions: Actions,
    engine: Engine,
    clock: FakeClock,
    store: Store,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate = tmp_path / "go"
    clock.set(pendulum.datetime(2026, 12, 7, 10, 14, tz="UTC"))
    job_id = actions.submit(
        definition(
            f"""
            name = "nightly"
            [schedule]
            mode = "window"
            timezone = "UTC"
            window = {{ from = "10:14", to = "10:16" }}
            expires = "+3d"
            [[run]]
            name = "long"
            run = 'while [ ! -f {gate} ]; do sleep 0.02; done'
            [[run]]
            name = "after"
            run = "true"
            """
        )
    )
    engine.run_until(lambda: job_of(store, job_id).status == "RUNNING" and engine.busy)
    clock.set(pendulum.datetime(2026, 12, 7, 10, 17, tz="UTC"))
    gate.touch()
    run_until_status(engine, job_id, "PAUSED")
    out, _ = run(capsys, "show", str(job_id), "--db", db_url)
    assert "  reason  schedule window closed; reopens 2026-12-08 10:14 UTC\n" in out
    assert "  next_run_at   2026-12-08T10:14:00+00:00  (its schedule window reopens)\n" in out


def test_show_lists_the_steps_in_the_order_the_engine_runs_them(
    actions: Actions, engine: Engine, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Listed task by task and then the job-wide ops, the job-wide PRE check read as if it ran after the
    targets' RUN ops, and the job-wide RUN op verify before them."""
    job_id = actions.submit(
        definition(
            """
            name = "rollout"
            targets = ["web-01", "web-02"]
            [[pre]]
            name = "check"
            run = "echo ran check"
            [[run]]
            name = "deploy"
            run = 'echo ran deploy "$JOBTUI_TARGET"'
            per_target = true
            [[run]]
            name = "verify"
            run = "echo ran verify"
            [[post]]
            name = "notify"
            run = "echo ran notify"
            """
        )
    )
    run_until_status(engine, job_id, "FINISHED")
    out, _ = run(capsys, "show", str(job_id), "--db", db_url)
    # Each says where it ran (found by a multi-host probe: nothing said which host ran a job).
    on = f"  on {socket.gethostname()}"
    assert out.splitlines()[-8:] == [
        "  task web-01: SUCCEEDED 100%",
        "  task web-02: SUCCEEDED 100%",
        "  steps, in the order they run:",
        "    PRE      check                    done     exit 0     job-wide" + on,
        "    RUN      deploy                   done     exit 0     task web-01" + on,
        "    RUN      deploy                   done     exit 0     task web-02" + on,
        "    RUN      verify                   done     exit 0     job-wide" + on,
        "    POST     notify                   done     exit 0     job-wide" + on,
    ]
    out, _ = run(capsys, "show", str(job_id), "--db", db_url, "--json")
    shown = json.loads(out)
    steps = [*shown["steps"], *(step for task in shown["tasks"] for step in task["steps"])]
    assert {step["host"] for step in steps} == {socket.gethostname()}
    # That is the order they ran in.
    out, _ = run(capsys, "log", str(job_id), "--db", db_url)
    assert [line for line in out.splitlines() if line.startswith("ran ")] == [
        "ran check",
        "ran deploy web-01",
        "ran deploy web-02",
        "ran verify",
        "ran notify",
    ]


def test_log_follow_says_on_stderr_how_the_job_ended(
    actions: Actions, engine: Engine, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = actions.submit(definition('name = "fails"\n[[run]]\nname = "boom"\nrun = "echo out; exit 3"'))
    run_until_status(engine, job_id, "ERROR")
    out, err = run(capsys, "log", str(job_id), "--follow", "--db", db_url)
    assert "out\n" in out
    assert err == f'log: job {job_id} ended ERROR: RUN op "boom" failed\n'
    _, err = run(capsys, "log", str(job_id), "--db", db_url)
    assert err == "", "without --follow the log is all it prints"


def test_workers_lists_the_engines_with_their_slots_jobs_heartbeat_and_state(
    actions: Actions,
    engine: Engine,
    clock: FakeClock,
    store: Store,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate = tmp_path / "go"
    try:
        job_id = actions.submit(
            definition(f"name = \"w\"\n[[run]]\nrun = 'while [ ! -f {gate} ]; do sleep 0.02; done'")
        )
        run_until_status(engine, job_id, "RUNNING")
        engine.run_until(lambda: engine.busy)
        (row,) = Reads(store, Actor("tester")).workers()
        assert row == {
            "worker_id": engine.worker_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "kind": None,
            "started_at": START.isoformat(),
            "heartbeat_at": START.isoformat(),
            "heartbeat_age_s": 0.0,
            "stopped_at": None,
            "stopping_at": None,
            "slots": 2,
            "busy": 1,
            "jobs": [job_id],
            "state": "live",
        }
        clock.advance(60)  # no heartbeat for a minute: lost, as the dashboard says it
        assert Reads(store, Actor("tester")).workers()[0]["state"] == "stale"
        out, _ = run(capsys, "workers", "--json", "--db", db_url)
        assert [(w["worker_id"], w["jobs"]) for w in json.loads(out)] == [(engine.worker_id, [job_id])]
        out, _ = run(capsys, "workers", "--db", db_url)
        header, line = out.splitlines()
        assert header.split() == ["WORKER", "HOST", "KIND", "PID", "BUSY", "HEARTBEAT", "STATE", "JOBS"]
        assert line.startswith(engine.worker_id[:8]) and " 1/2 " in line and line.endswith(f" {job_id}")
    finally:
        gate.touch()  # the op ends even when the test fails


def test_a_worker_of_this_host_whose_process_is_gone_reads_stale_at_once(
    engine: Engine, store: Store
) -> None:
    """Found by a multi-host probe: after a kill -9 the daemon's row read "live" for the 30 s its heartbeat
    stayed fresh, while the header (which asks whether the process lives) said no daemon served."""
    engine.tick()
    gone = subprocess.Popen(["true"])
    gone.wait()
    with store.engine.begin() as conn:  # as a daemon killed with -9 leaves its row: fresh, not stopped
        conn.execute(
            text("UPDATE workers SET pid = :pid, pid_create_time = 1, pid_start = NULL WHERE id = :id"),
            {"pid": gone.pid, "id": engine.worker_id},
        )
    (row,) = Reads(store, Actor("tester")).workers()  # `workers --json`, on the engine's clock
    assert (row["pid"], row["heartbeat_age_s"], row["state"]) == (gone.pid, 0.0, "stale")


def test_reject_says_the_job_reads_ready_while_its_post_runs(
    actions: Actions, engine: Engine, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """It printed 'rejected (Ready)', which read as if the rejection had not taken."""
    job_id = actions.submit(
        definition('name = "gated"\napproval = true\n[[run]]\nrun = "true"\n[[post]]\nrun = "true"\n')
    )
    run_until_status(engine, job_id, "APPROVAL")
    out, _ = run(capsys, "reject", str(job_id), "--comment", "not today", "--db", db_url)
    assert out == f"job {job_id}: rejected (Ready: POST runs, then Rejected)\n"


def test_show_says_who_may_approve_a_job_waiting_for_approval(
    actions: Actions, engine: Engine, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = actions.submit(
        definition('name = "gated"\napproval = true\napprovers = ["alice"]\n[[run]]\nrun = "true"\n')
    )
    run_until_status(engine, job_id, "APPROVAL")
    out, _ = run(capsys, "show", str(job_id), "--db", db_url)
    assert "  approvers  alice (or whoever has action.job.approve_all on the project)\n" in out
    out, _ = run(capsys, "show", str(job_id), "--json", "--db", db_url)
    assert json.loads(out)["approvers"] == ["alice"]


def test_log_follow_of_a_job_canceled_meanwhile_shows_how_its_op_was_stopped(
    actions: Actions,
    engine: Engine,
    store: Store,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The follower saw CANCELED and stopped before the op's engine shipped the line saying it stopped
    the op, which `log` showed a moment later (found by QA)."""
    import threading

    job_id = actions.submit(
        definition(
            f'name = "long"\n[[run]]\n'
            f"run = 'echo before; while [ ! -f {tmp_path}/never ]; do sleep 0.02; done'"
        )
    )
    engine.run_until(lambda: b"before" in _log_bytes(store, job_id))
    codes: list[int] = []
    follower = threading.Thread(
        target=lambda: codes.append(main(["log", str(job_id), "--follow", "--db", db_url]))
    )
    follower.start()
    actions.cancel(job_id)
    follower.join(timeout=0.6)  # long enough for a follower that stops at the end it sees
    engine.run_until(lambda: b"op terminated (job CANCELED)" in _log_bytes(store, job_id))
    follower.join(timeout=10)
    assert codes == [0]
    out, err = capsys.readouterr()
    assert "op terminated (job CANCELED): SIGTERM to process group" in out
    assert err == f"log: job {job_id} ended CANCELED: canceled by tester\n"


def _log_bytes(store: Store, job_id: int) -> bytes:
    piece = Reads(store, Actor("tester")).log_read(job_id, None, 1 << 20)
    return piece.data


def test_show_says_a_ready_job_waits_for_the_paused_queue(
    actions: Actions, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said "(its scheduled date)" beside a date long past, and no reason (found by QA); `--json` said
    no why at all (found by an operator: a script could not learn why a job did not start)."""
    job_id = actions.submit(definition('name = "held"\n[[run]]\nrun = "true"\n'))
    actions.queue_pause("maintenance window")
    out, _ = run(capsys, "show", str(job_id), "--db", db_url)
    assert "  (the queue is paused: maintenance window)\n" in out
    out, _ = run(capsys, "show", str(job_id), "--db", db_url, "--json")
    assert json.loads(out)["next_run_why"] == "the queue is paused: maintenance window"
    actions.queue_resume()
    out, _ = run(capsys, "show", str(job_id), "--db", db_url)
    assert "  (its scheduled date)\n" in out
    out, _ = run(capsys, "show", str(job_id), "--db", db_url, "--json")
    assert json.loads(out)["next_run_why"] == "its scheduled date"


@pytest.mark.parametrize("pre", [True, False])
def test_next_run_of_a_job_whose_pre_step_runs_before_its_run_date_is_now(
    actions: Actions, store: Store, db_url: str, capsys: pytest.CaptureFixture[str], pre: bool
) -> None:
    """Found by a review against seed 001 ("Ready: picked up at any moment, except for the RUN step"):
    a job with PRE ops and RUN in two hours read "Next run in 2 h" while its PRE was about to run. One
    without PRE ops is picked up only to wait: its next run is its RUN date."""
    pre_op = '[[pre]]\nname = "build"\nrun = "true"\n' if pre else ""
    job_id = actions.submit(definition(f'name = "rel"\n{pre_op}[[run]]\nrun = "true"\n'), at="+2h")
    out, _ = run(capsys, "show", str(job_id), "--db", db_url, "--json")
    shown = json.loads(out)
    submitted, scheduled = pendulum.parse(shown["created_at"]), pendulum.parse(shown["scheduled_at"])
    assert pendulum.parse(shown["next_run_at"]) == (submitted if pre else scheduled)
    assert shown["next_run_why"] == (
        "its PRE step runs (RUN waits for its scheduled date)" if pre else "its scheduled date"
    )
    out, _ = run(capsys, "jobs", "--db", db_url, "--json")
    (listed,) = json.loads(out)
    assert pendulum.parse(listed["next_run_at"]) == submitted  # a list knows no ops: PRE may run


def test_show_says_why_an_op_failed_where_its_exit_code_does_not(
    actions: Actions, engine: Engine, store: Store, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by review: an op that could not start read `failed exit 127` and nothing more; why (a
    program missing, a log that cannot be written) was only in `--json`'s `error`. A plain exit code
    needs no second line."""
    missing = actions.submit(definition('name = "m"\n[[run]]\nname = "go"\nargv = ["/nonexistent/deploy"]\n'))
    plain = actions.submit(definition('name = "p"\n[[run]]\nname = "go"\nrun = "exit 3"\n'))
    run_until_status(engine, missing, "ERROR")
    run_until_status(engine, plain, "ERROR")
    out, _ = run(capsys, "--db", db_url, "show", str(missing))
    step, why = out.splitlines()[-2:]
    assert step.split()[:5] == ["RUN", "go", "failed", "exit", "127"]
    assert why.startswith(" " * 13 + "cannot start op: ") and "/nonexistent/deploy" in why
    out, _ = run(capsys, "--db", db_url, "show", str(plain))
    assert out.splitlines()[-1].split()[:5] == ["RUN", "go", "failed", "exit", "3"]
