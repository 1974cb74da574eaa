"""Real processes under supervision: abend, cancel of a whole tree, engine restart, two engines."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pendulum
import psutil
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from jobtui.engine.db.models import AuditEvent, Job, OpRun
from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.domain.reasons import reason_of
from jobtui.engine.formats.envelope_file import envelope_of_files
from jobtui.engine.read.engines import engines
from jobtui.engine.read.listing import JobListing
from jobtui.engine.service import local_ops
from jobtui.engine.service.actions import Actions, Refused
from jobtui.engine.service.envelope_actions import EnvelopeActions
from jobtui.engine.service.host_actions import HostActions
from jobtui.engine.service.reads import Reads
from jobtui.engine.service.views import audit_json
from jobtui.engine.worker.loop import Engine
from jobtui.engine.worker.spawner import Spawner
from jobtui.i18n import refusal_text
from tests.support.helpers import (
    ROOT,
    definition,
    detail,
    job_log,
    job_of,
    live_pids_of_group,
    run_until_status,
    status_of,
    wait_for,
)
from tests.support.ops_running import running_op, wait_op_started

BACKENDS = ("sqlite", "postgresql")

Submit = Callable[..., int]


def gated(gate: Path, name: str = "long") -> str:
    """A job whose op runs until `gate` exists."""
    return f'name = "{name}"\n[[run]]\nrun = "while [ ! -f {gate} ]; do sleep 0.02; done"\n'


def test_kill_9_of_an_op_makes_the_job_abend(engine: Engine, store: Store, submit: Submit) -> None:
    job_id = submit('name = "victim"\n[[run]]\nrun = "sleep 60"\n[[post]]\nrun = "true"\n')
    op = wait_op_started(engine, store, job_id)
    assert op.pid is not None
    os.kill(op.pid, signal.SIGKILL)
    job = run_until_status(engine, job_id, "ABEND")
    assert job.reason and "vanished without an exit status" in job.reason
    assert job.ended_at is not None and job.worker_id is None
    from jobtui.engine.service.views import audit_json

    abends = [r for r in audit_json(store, job_id) if r["to"] == "ABEND"]
    assert len(abends) == 1 and abends[0]["who"] == engine.who
    for _ in range(3):
        engine.tick()
    assert job_of(store, job_id).status == "ABEND"


def test_an_abend_leaves_nothing_running_and_nothing_pending(
    engine: Engine, store: Store, submit: Submit, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    job_id = submit(
        f'name = "suicide"\ntargets = ["a"]\n[[run]]\nrun = "touch {started}; kill -9 $PPID; sleep 60"\n'
        '[[post]]\nrun = "true"\n'
    )
    job = run_until_status(engine, job_id, "ABEND")
    # The op may die before any pass commits it as running: its pid is recorded with the abend then.
    with store.read() as s:
        pid = s.scalars(select(OpRun.pid).where(OpRun.job_id == job_id, OpRun.step == "RUN")).one()
    assert started.exists() and pid is not None
    engine.run_until(lambda: not live_pids_of_group(pid))  # the orphaned sleep is killed too
    from jobtui.engine.service.views import job_detail_json

    with store.read() as s:
        found = s.get(Job, job_id)
        assert found is not None
        data = job_detail_json(found, s, store.now())
    assert data["tasks"][0]["status"] == "FAILED" and data["tasks"][0]["current_step"] is None
    assert [st["status"] for st in data["tasks"][0]["steps"]] == ["failed", "skipped"]
    assert job.progress == 0  # where it stopped: no op done (the RUN op abended, POST never ran)


def test_an_op_killed_alone_is_a_failure_not_an_abend(engine: Engine, store: Store, submit: Submit) -> None:
    job_id = submit('name = "child"\n[[run]]\nrun = "sleep 60; true"\n')
    op = wait_op_started(engine, store, job_id)
    assert op.pid is not None
    shell = psutil.Process(op.pid)

    def sleepers() -> list[psutil.Process]:
        return [p for p in shell.children(recursive=True) if p.name() == "sleep"]

    engine.run_until(lambda: bool(sleepers()))  # the shell may not have forked it yet
    sleepers()[0].kill()
    job = run_until_status(engine, job_id, "ERROR", "ABEND", "FINISHED")
    assert job.status == "FINISHED"  # `; true` ran after the killed sleep: the op itself exited 0


def test_an_op_ended_by_a_signal_other_than_sigkill_fails_with_that_status(
    engine: Engine, store: Store, submit: Submit
) -> None:
    """SIGKILL ends an op abnormally (ABEND); any other signal is how the op ended, as a shell says it."""
    job_id = submit('name = "termed"\n[[run]]\nrun = "sleep 60"\n')
    op = wait_op_started(engine, store, job_id)
    assert op.pid is not None
    os.kill(op.pid, signal.SIGTERM)
    job = run_until_status(engine, job_id, "ERROR", "ABEND")
    assert job.status == "ERROR"
    step = detail(store, job_id)["tasks"][0]["steps"][0]
    assert step["exit_code"] == 143 and step["error"] == "exit 143 (killed by SIGTERM)"


def test_an_op_killing_its_parent_abends_alone_and_the_op_beside_it_finishes(
    engine: Engine, store: Store, submit: Submit, tmp_path: Path
) -> None:
    """Each worker slot starts its ops through a starter of its own: an op that kills its parent loses its
    own exit status (ABEND), never that of the op running on the other slot."""
    gate = tmp_path / "go"
    beside = submit(gated(gate, "beside"))
    wait_op_started(engine, store, beside)
    killer = submit('name = "killer"\n[[run]]\nrun = "kill -9 $PPID; sleep 60"\n')
    run_until_status(engine, killer, "ABEND")
    assert job_of(store, beside).status == "RUNNING"
    # Silent, it had no log yet: its "started" line is not lost with its starter.
    assert job_log(store, killer).splitlines()[0].endswith("] RUN run-1 [killer]: started")
    gate.touch()
    assert run_until_status(engine, beside, "FINISHED", "ERROR", "ABEND").status == "FINISHED"


def test_an_op_that_talks_then_kills_its_starter_at_once_has_its_started_line_once(
    engine: Engine, store: Store, submit: Submit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its starter wrote the op's first line and what the op said, then died before answering (here: a
    window no op outlasts, so it never answers); the engine, finding the op by its token, does not take
    the op's words for the log's part before the op, nor write the line again."""
    monkeypatch.setattr(engine._state, "spawner", Spawner(quick_s=30.0))
    log_file = f"{store.log_dir}/job-$JOBTUI_JOB_ID.log"
    said = "0" * 100
    job_id = submit(
        f'name = "talker"\n[[run]]\nrun = "echo {said}; until grep -q {said} {log_file}; '
        'do sleep 0.01; done; kill -9 $PPID; sleep 60"\n'
    )
    run_until_status(engine, job_id, "ABEND")
    log = job_log(store, job_id)
    assert log.count("RUN run-1 [talker]: started") == 1
    assert log.index("RUN run-1 [talker]: started") < log.index(said)


def test_an_op_that_kills_its_starter_and_ends_at_once_abends_with_its_started_line(
    engine: Engine,
    store: Store,
    submit: Submit,
    actions: Actions,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Gone before the engine could look for it by its token (most often): its pid and status were lost
    with its starter, but its engine's journal says it ran; it vanished, and its log says it started."""
    monkeypatch.setattr(engine._state, "spawner", Spawner(quick_s=30.0))
    job_id = submit('name = "gone"\n[[run]]\nrun = "kill -9 $PPID"\n')
    run_until_status(engine, job_id, "ABEND")
    lines = job_log(store, job_id).splitlines()
    assert lines[0].endswith("] RUN run-1 [gone]: started")
    assert "vanished without an exit status" in lines[1]
    # Run again, a second later: the first run's line in the log is not taken for this run's.
    clock.advance(1)
    actions.rerun(job_id, "RUN")
    engine.run_until(lambda: job_log(store, job_id).count("vanished without an exit status") == 2)
    assert job_log(store, job_id).count("] RUN run-1 [gone]: started") == 2


def test_an_op_killed_by_sigkill_as_it_starts_takes_its_process_group_with_its_abend(
    engine: Engine, store: Store, submit: Submit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Told in one answer with its end (it ended inside its starter's window), its pid is still recorded:
    the abend kills what it left in its group, even what carries no trace of the op in its environment."""
    monkeypatch.setattr(engine._state, "spawner", Spawner(quick_s=30.0))
    job_id = submit('name = "sudden"\n[[run]]\nrun = "env -i sleep 60 & kill -9 $$"\n')
    run_until_status(engine, job_id, "ABEND")
    with store.read() as s:
        pid = s.scalars(select(OpRun.pid).where(OpRun.job_id == job_id, OpRun.step == "RUN")).one()
    assert pid is not None
    engine.run_until(lambda: not live_pids_of_group(pid))  # the sleep it left is killed too
    assert f"op terminated (abend): SIGTERM to process group {pid}" in job_log(store, job_id)


def test_an_op_whose_program_does_not_exist_fails_with_127_and_says_so_in_its_log(
    engine: Engine, store: Store, submit: Submit
) -> None:
    job_id = submit('name = "typo"\n[[run]]\nargv = ["no-such-program-jobtui", "x"]\n')
    job = run_until_status(engine, job_id, "ERROR")
    assert detail(store, job_id)["tasks"][0]["steps"][0]["exit_code"] == 127
    assert "no-such-program-jobtui: not found" in Path(job.log_path).read_text()


@pytest.mark.backends("sqlite")  # the op starter's, whatever the database
def test_an_op_whose_program_cannot_be_run_fails_with_126_and_says_why(
    engine: Engine, store: Store, submit: Submit, tmp_path: Path
) -> None:
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\necho never\n")
    script.chmod(0o644)
    job_id = submit(f'name = "no-x"\n[[run]]\nargv = ["{script}"]\n')
    job = run_until_status(engine, job_id, "ERROR")
    assert detail(store, job_id)["tasks"][0]["steps"][0]["exit_code"] == 126  # as a shell says it
    assert f"{script}: Permission denied" in Path(job.log_path).read_text()


@pytest.mark.backends("sqlite")  # the op starter's, whatever the database
def test_an_op_leaving_a_process_that_holds_its_output_ends_when_it_exits(
    engine: Engine, store: Store, submit: Submit, tmp_path: Path
) -> None:
    """The starter reads an op's output from pipes; it sees the op end by its pidfd, not by the pipes
    closing, which what the op left in the background holds (the job does not wait 30 s for it). What is
    left may still write (its pipe stays read: no SIGPIPE), into the job's log file."""
    late = tmp_path / "late"
    job_id = submit(
        'name = "leaves-one"\n[[run]]\n'
        f'run = "sleep 30 & (sleep 0.5; echo late-output; touch {late}) & echo op-done"\n'
    )
    job = run_until_status(engine, job_id, "FINISHED", timeout=10)
    wait_for(late.exists, what="the process left behind to write after the op ended")
    wait_for(lambda: "late-output" in Path(job.log_path).read_text(), what="its output in the log")
    assert "op-done" in Path(job.log_path).read_text()


@pytest.mark.backends("sqlite")  # the op starter's, whatever the database
def test_what_an_op_left_running_can_still_write_after_the_engine_stops(
    engine: Engine, store: Store, submit: Submit, tmp_path: Path
) -> None:
    """The starter leaves with its engine; a child of its own goes on reading the pipes that what an op
    left in the background still holds, so that process never writes to a closed pipe (SIGPIPE)."""
    late, gate = tmp_path / "late", tmp_path / "gate"
    wait = f"while [ ! -f {gate} ]; do sleep 0.02; done"
    left = f"({wait}; echo late-output; echo late-err >&2; touch {late}) &"
    job_id = submit(f'name = "leaves-one"\n[[run]]\nrun = "{left}"\n')
    job = run_until_status(engine, job_id, "FINISHED", timeout=10)
    engine.shutdown()  # its starters leave
    gate.touch()
    wait_for(late.exists, what="the process left behind to write after its engine stopped")
    wait_for(lambda: "late-err" in Path(job.log_path).read_text(), what="its output in the log")


def test_cancel_terminates_the_whole_process_tree(
    engine: Engine, store: Store, submit: Submit, actions: Actions
) -> None:
    job_id = submit(
        'name = "tree"\n[[run]]\nrun = "sleep 60 & sleep 60 & (sleep 60 & wait) & wait"\n'
        '[[post]]\nrun = "true"\n'
    )
    op = wait_op_started(engine, store, job_id)
    assert op.pid is not None
    engine.run_until(lambda: len(live_pids_of_group(op.pid or 0)) >= 5)
    actions.cancel(job_id, comment="wrong release")
    engine.run_until(lambda: not live_pids_of_group(op.pid or 0))
    job = job_of(store, job_id)
    assert job.status == "CANCELED"
    with store.read() as s:
        ops = {o.name: o for o in s.scalars(select(OpRun).where(OpRun.job_id == job_id))}
    assert ops["run-1"].status == "skipped" and "canceled by tester" in (ops["run-1"].error or "")
    assert ops["post-1"].status == "skipped"


def test_an_op_ignoring_sigterm_is_killed_after_the_grace_period(
    engine: Engine, store: Store, submit: Submit, actions: Actions, clock: FakeClock, tmp_path: Path
) -> None:
    ready = tmp_path / "trap-set"
    job_id = submit(
        f'name = "stubborn"\n[[run]]\n'
        f"""run = "trap '' TERM; touch {ready}; while true; do sleep 0.05; done"\n"""
    )
    op = wait_op_started(engine, store, job_id)
    engine.run_until(ready.exists)
    actions.cancel(job_id)
    for _ in range(5):
        engine.tick()
    assert live_pids_of_group(op.pid or 0), "an op that ignores SIGTERM survives until the grace period"
    clock.advance(engine.kill_grace_s + 1)
    engine.run_until(lambda: not live_pids_of_group(op.pid or 0))
    assert job_of(store, job_id).status == "CANCELED"
    # Said where every host reads the log, not only in this host's file (QA: the dashboard and `jobtui
    # log` never showed that the op was killed rather than ending clean), once what its pipes held is in.
    engine.run_until(lambda: "SIGKILL after the grace period to: " in _read_shipped(store, job_id))
    shipped = _read_shipped(store, job_id)
    assert "SIGKILL after the grace period to: " in shipped
    assert shipped.count("op terminated (job CANCELED): SIGTERM to process group") == 1


def test_the_sigkill_line_of_a_canceled_op_is_in_the_log_once_after_its_job_reruns_on_the_same_host(
    engine: Engine, store: Store, submit: Submit, actions: Actions, clock: FakeClock, tmp_path: Path
) -> None:
    """The SIGKILL line of a job let go was shipped on its own and was in the host's file too: a rerun on
    the same host shipped the file on from where it had been shipped, and the line was in the log twice."""
    ready, once = tmp_path / "trap-set", tmp_path / "ran-once"
    job_id = submit(
        f'name = "stubborn-once"\n[[run]]\n'
        f'run = "if [ -f {once} ]; then echo second run; exit 0; fi; touch {once}; '
        f"trap '' TERM; touch {ready}; while true; do sleep 0.05; done\"\n"
    )
    op = wait_op_started(engine, store, job_id)
    engine.run_until(ready.exists)
    actions.cancel(job_id)
    for _ in range(5):
        engine.tick()
    clock.advance(engine.kill_grace_s + 1)
    engine.run_until(lambda: not live_pids_of_group(op.pid or 0))
    engine.run_until(lambda: "SIGKILL after the grace period to: " in _read_shipped(store, job_id))
    assert _read_shipped(store, job_id).count("SIGKILL after the grace period to: ") == 1
    actions.rerun(job_id, "RUN", run_now=True)
    run_until_status(engine, job_id, "FINISHED")
    shipped = _read_shipped(store, job_id)
    assert "second run" in shipped
    assert shipped.count("SIGKILL after the grace period to: ") == 1, shipped
    assert shipped.count("op terminated (job CANCELED): SIGTERM to process group") == 1, shipped


def _read_shipped(store: Store, job_id: int) -> str:
    from jobtui.engine.db.models import LOG_CHUNKS

    with store.read() as s:
        chunks = s.execute(
            select(LOG_CHUNKS.c.data).where(LOG_CHUNKS.c.job_id == job_id).order_by(LOG_CHUNKS.c.id)
        ).all()
    return b"".join(bytes(chunk.data) for chunk in chunks).decode()


TIDY_OP = (
    "trap 'echo term >> {ledger}; sleep 0.3; exit 1' TERM; touch {ready}; while true; do sleep 0.05; done"
)


def test_a_canceled_op_gets_one_sigterm_and_its_clean_up_runs_once(
    engine: Engine, store: Store, submit: Submit, actions: Actions, tmp_path: Path
) -> None:
    """The canceller signalled the op and so did its engine, seeing its lease gone: a clean-up run on
    SIGTERM ran twice, the second time cut short by the first."""
    ready, ledger = tmp_path / "trap-set", tmp_path / "terms"
    op_text = TIDY_OP.format(ledger=ledger, ready=ready)
    job_id = submit(f'name = "tidy"\n[[run]]\nrun = "{op_text}"\n')
    op = wait_op_started(engine, store, job_id)
    engine.run_until(ready.exists)
    actions.cancel(job_id)
    engine.run_until(lambda: not live_pids_of_group(op.pid or 0))
    assert ledger.read_text() == "term\n"
    assert job_of(store, job_id).status == "CANCELED"


def test_a_canceled_envelopes_op_gets_one_sigterm_too(
    engine: Engine, store: Store, actions: Actions, tmp_path: Path
) -> None:
    ready, ledger, spec = tmp_path / "trap-set", tmp_path / "terms", tmp_path / "tidy.toml"
    op_text = TIDY_OP.format(ledger=ledger, ready=ready)
    spec.write_text(f'name = "tidy"\n[[run]]\nrun = "{op_text}"\n')
    envelopes = EnvelopeActions(actions)
    envelope_id, (job_id,) = envelopes.submit(envelope_of_files([str(spec)], "release"))
    op = wait_op_started(engine, store, job_id)
    engine.run_until(ready.exists)
    envelopes.cancel(envelope_id)
    engine.run_until(lambda: not live_pids_of_group(op.pid or 0))
    assert ledger.read_text() == "term\n"


def cleaning_op(tmp_path: Path, after_term: str = "echo cleanup-2") -> str:
    """An op that traps SIGTERM and writes after it: cleanup-1, then (once the test opens the gate)
    `after_term`, and exits 143."""
    ready, gate = tmp_path / "trap-set", tmp_path / "gate"
    wait = f"while [ ! -f {gate} ]; do sleep 0.02; done"
    return (
        f"echo start; trap 'echo cleanup-1; {wait}; {after_term}; exit 143' TERM; touch {ready}; "
        "sleep 30 & wait"
    )


@pytest.mark.parametrize("how", ["cancel", "envelope-cancel"])
def test_what_a_canceled_op_writes_after_sigterm_reaches_the_log_once(
    engine: Engine, store: Store, actions: Actions, tmp_path: Path, how: str
) -> None:
    """QA: `jobtui log` ended with "op terminated (job CANCELED): SIGTERM to process group ...": what the op
    wrote after it (its clean-up) stayed in the engine host's file and never reached the database."""
    spec = tmp_path / "termtest.toml"
    spec.write_text(f'name = "termtest"\n[[run]]\nname = "work"\nrun = "{cleaning_op(tmp_path)}"\n')
    if how == "cancel":
        job_id = actions.submit(definition(spec.read_text()))
    else:
        envelope_id, (job_id,) = EnvelopeActions(actions).submit(envelope_of_files([str(spec)], "release"))
    op = wait_op_started(engine, store, job_id)
    engine.run_until((tmp_path / "trap-set").exists)
    if how == "cancel":
        actions.cancel(job_id)
    else:
        EnvelopeActions(actions).cancel(envelope_id)
    local = Path(job_of(store, job_id).log_path)
    engine.run_until(lambda: local.exists() and "cleanup-1" in local.read_text())
    (tmp_path / "gate").touch()
    engine.run_until(lambda: not live_pids_of_group(op.pid or 0))
    engine.run_until(lambda: "cleanup-2" in _read_shipped(store, job_id))
    for _ in range(3):
        engine.tick()
    shipped = _read_shipped(store, job_id)
    assert shipped == local.read_text(), "the log reads as the engine's file does"
    terminated = "op terminated (job CANCELED): SIGTERM to process group"
    for once in ("\nstart\n", "cleanup-1", terminated, "cleanup-2"):
        assert shipped.count(once) == 1, shipped
    # cleanup-1 may come before the engine's line or after it: the op runs its trap as the signal lands.
    assert shipped.index("\nstart\n") < shipped.index(terminated) < shipped.index("cleanup-2")
    assert job_log(store, job_id) == shipped  # as `jobtui log` and the dashboard read it


@pytest.mark.backends("sqlite")  # the engine's bookkeeping: the same on both
def test_what_a_canceled_op_writes_after_sigterm_ships_once_the_database_takes_it(
    engine: Engine, store: Store, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The op's clean-up ended while the database refused the engine's write of it (a job the engine no
    longer holds): it stayed in the host's file for good. It ships at a later pass, once."""
    job_id = actions.submit(definition(f'name = "tidy"\n[[run]]\nrun = "{cleaning_op(tmp_path)}"\n'))
    op = wait_op_started(engine, store, job_id)
    engine.run_until((tmp_path / "trap-set").exists)
    actions.cancel(job_id)
    local = Path(job_of(store, job_id).log_path)
    engine.run_until(lambda: local.exists() and "cleanup-1" in local.read_text())
    real_write = store.write
    monkeypatch.setattr(store, "write", walking_writes_refused(real_write))
    (tmp_path / "gate").touch()
    engine.run_until(lambda: not live_pids_of_group(op.pid or 0) and not engine._supervisor.dying)
    assert "cleanup-2" in local.read_text()
    assert "cleanup-2" not in _read_shipped(store, job_id)
    monkeypatch.setattr(store, "write", real_write)
    engine.run_until(lambda: "cleanup-2" in _read_shipped(store, job_id))
    for _ in range(3):
        engine.tick()
    assert _read_shipped(store, job_id) == local.read_text()


def test_what_a_canceled_op_writes_after_sigterm_is_capped_and_ships_once_after_a_rerun_here(
    engine: Engine, store: Store, actions: Actions, clock: FakeClock, tmp_path: Path
) -> None:
    """Capped as an op's output is, with the marker; killed after the grace period, what it wrote till then
    and the SIGKILL line ship; a rerun on the same host ships its file on from after them."""
    actions.set_setting("op_log_cap_mib", 1)
    once = tmp_path / "ran-once"
    flood = f"yes | head -c {3 << 20}; echo cleanup-2; trap '' TERM; while true; do sleep 0.05; done"
    op_text = cleaning_op(tmp_path, flood)
    job_id = actions.submit(
        definition(
            f'name = "floods"\n[[run]]\nrun = "if [ -f {once} ]; then echo second run; exit 0; fi; '
            f'touch {once}; {op_text}"\n'
        )
    )
    op = wait_op_started(engine, store, job_id)
    engine.run_until((tmp_path / "trap-set").exists)
    actions.cancel(job_id)
    local = Path(job_of(store, job_id).log_path)
    engine.run_until(lambda: local.exists() and "cleanup-1" in local.read_text())
    (tmp_path / "gate").touch()
    engine.run_until(lambda: "cleanup-2" in local.read_bytes()[-200:].decode(errors="replace"))
    clock.advance(engine.kill_grace_s + 1)
    engine.run_until(lambda: not live_pids_of_group(op.pid or 0))
    engine.run_until(lambda: "SIGKILL after the grace period to: " in _read_shipped(store, job_id))
    shipped = _read_shipped(store, job_id)
    assert shipped == local.read_text()
    assert shipped.count("y\n") < (1 << 20) // 2, "no more than the op's cap of its output"
    assert len(re.findall(r"… [\d,]+ bytes of this op's output skipped", shipped)) == 1, shipped[-600:]
    assert shipped.index("cleanup-1") < shipped.index("bytes of this op's output skipped")
    assert "cleanup-2" not in shipped  # past the cap
    actions.rerun(job_id, "RUN", run_now=True)
    run_until_status(engine, job_id, "FINISHED")
    shipped = _read_shipped(store, job_id)
    assert "second run" in shipped
    for once_only in ("cleanup-1", "bytes of this op's output skipped", "SIGKILL after the grace period"):
        assert shipped.count(once_only) == 1, once_only
    assert shipped.count("op terminated (job CANCELED): SIGTERM to process group") == 1


@pytest.fixture
def daemon_env(db_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("JOBTUI_POLICY", None)
    env["JOBTUI_DB"] = db_url
    return env


def start_daemon(env: dict[str, str], workers: int = 2) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "jobtui.cli", "daemon", "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _pump(stream: IO[bytes], into: bytearray) -> None:
    """What a daemon writes to a pipe, as it comes (the test never blocks on it)."""
    while piece := stream.read1(4096):  # type: ignore[attr-defined]
        into.extend(piece)


@pytest.fixture
def daemons() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_restarted_engine_readopts_a_live_op_and_marks_only_dead_ones_abend(
    tmp_path: Path, daemon_env: dict[str, str], daemons: list[subprocess.Popen[bytes]]
) -> None:
    store = Store(daemon_env["JOBTUI_DB"])
    actions = Actions(store, Actor("tester"))
    gate, ledger = tmp_path / "go", tmp_path / "ledger"
    live = actions.submit(
        definition(
            f'name = "live"\n[[run]]\nrun = "echo start >> {ledger}; '
            f"while [ ! -f {gate} ]; do sleep 0.02; done; "
            f'echo end >> {ledger}"\n[[post]]\nrun = "echo post >> {ledger}"\n'
        )
    )
    doomed = actions.submit(definition('name = "doomed"\n[[run]]\nrun = "sleep 60"\n'))
    daemon = start_daemon(daemon_env)
    daemons.append(daemon)
    wait_for(
        lambda: running_op(store, live) is not None and running_op(store, doomed) is not None,
        what="both ops to start",
    )
    live_op, doomed_op = running_op(store, live), running_op(store, doomed)
    assert live_op and doomed_op and live_op.pid and doomed_op.pid
    daemon.kill()  # kill -9 of the engine: its ops live on, orphaned
    daemon.wait()
    os.killpg(doomed_op.pid, signal.SIGKILL)  # this op dies while no engine watches
    assert psutil.pid_exists(live_op.pid)

    engine = Engine(store, workers=2)
    try:
        engine.run_until(lambda: job_of(store, doomed).status == "ABEND")
        assert job_of(store, live).status == "RUNNING"
        assert job_of(store, live).worker_id == engine.worker_id
        gate.touch()
        run_until_status(engine, live, "FINISHED")
    finally:
        engine.shutdown()
    assert ledger.read_text().split() == ["start", "end", "post"]  # the op ran exactly once
    from jobtui.engine.service.views import audit_json

    # Its end line names the op as its start line did (found by a multi-host probe: "RUN deploy: done",
    # its target left out, after a re-adoption).
    said = Path(store.log_file(live)).read_text()
    (started,) = [line for line in said.splitlines() if line.endswith(": started") and "] RUN " in line]
    title = started.split("] ", 1)[1].removesuffix(": started")
    assert "[live]" in title and f"] {title}: done" in said
    assert [r["to"] for r in audit_json(store, doomed)].count("ABEND") == 1
    assert any(r["action"] == "take over" for r in audit_json(store, live))


def lingering_op(done: Path) -> str:
    """A job whose op takes its time over a SIGTERM: it exits only once `done` exists."""
    return (
        'name = "svc"\n[[run]]\n'
        f'run = \'trap "while [ ! -f {done} ]; do sleep 0.02; done; exit 143" TERM; '
        "while true; do sleep 0.02; done'\n"
    )


def _left_by_a_killed_daemon(
    store: Store, job_id: int, daemon_env: dict[str, str], daemons: list[subprocess.Popen[bytes]]
) -> OpRun:
    """The job's op, once a daemon started it and was killed with -9: its op lives on."""
    daemon = start_daemon(daemon_env)
    daemons.append(daemon)
    wait_for(lambda: running_op(store, job_id) is not None, what="the op to start")
    op = running_op(store, job_id)
    assert op is not None and op.pid is not None
    daemon.kill()
    daemon.wait()
    return op


def _first_sweep(engine: Engine, clock: FakeClock) -> None:
    """Tick until the engine has swept once: its first sweep sees the other engines' heartbeats, and it
    counts their silence from then on. On PostgreSQL the session of a daemon just killed may hold the
    sweep lock a moment longer (the test then timed out waiting for a take-over that never came)."""
    for _ in range(100):
        engine.tick()
        if engine._sweeps._heartbeats:
            return
        clock.advance(engine.sweep_s)  # the next tick sweeps again
    raise AssertionError("the engine never swept")


def _kills_recorded(store: Store, job_id: int) -> list[dict[str, object]]:
    return [r for r in audit_json(store, job_id) if r["action"] == "kill op"]


@pytest.mark.parametrize("then", ["still-running", "ended-meanwhile", "declared-gone"])
def test_an_op_left_on_a_lost_host_is_killed_by_the_next_daemon_of_that_host_and_retry_waits_for_it(
    then: str,
    store: Store,
    clock: FakeClock,
    tmp_path: Path,
    daemon_env: dict[str, str],
    daemons: list[subprocess.Popen[bytes]],
) -> None:
    clock.set(pendulum.now("UTC"))  # the daemon runs on the real clock
    actions = Actions(store, Actor("tester"))
    envelopes = EnvelopeActions(actions)
    gate = tmp_path / "go"
    long = tmp_path / "long.toml"
    long.write_text(
        'name = "long"\n[[run]]\nrun = "true"\nrollback = "true"\n'
        f'[[run]]\nrun = "while [ ! -f {gate} ]; do sleep 0.02; done"\n'
    )
    envelope_id, (job_id,) = envelopes.submit(envelope_of_files([str(long)], "release"))
    daemon = start_daemon(daemon_env)
    daemons.append(daemon)
    # The second op: were the daemon killed while `true` reads running, the next engine would find it ended.
    wait_for(lambda: running_op(store, job_id, op_index=1) is not None, what="the op to start")
    op = running_op(store, job_id, op_index=1)
    assert op is not None and op.pid is not None
    daemon.kill()  # kill -9 of this host's engine: its op lives on, for a restarted engine to re-adopt
    daemon.wait()
    clock.set(pendulum.now("UTC"))  # after the daemon's last heartbeat
    host = socket.gethostname()
    elsewhere, here = Engine(store, host="elsewhere"), Engine(store)
    hosts = HostActions(actions)
    try:
        _first_sweep(elsewhere, clock)
        with pytest.raises(Refused, match=rf"engine .* of {re.escape(host)} \(pid {daemon.pid}\) is live"):
            hosts.declare_gone(host)  # its heartbeat is fresh: nobody can tell it from a live one yet
        clock.advance(elsewhere.lease_s + 1)
        job = run_until_status(elsewhere, job_id, "ABEND")
        # Another host cannot kill it, and says so.
        assert f"worker {host} lost" in (job.reason or "")
        assert f"may still run on {host} (pid {op.pid})" in (job.reason or "")
        assert live_pids_of_group(op.pid)
        # Each would start an op of the job while that one may still run: rollback's commands too, and
        # its envelope's.
        for verb in (
            actions.retry,
            lambda j: actions.rerun(j, "RUN"),
            lambda j: actions.rollback(j, "undo"),
            lambda _: envelopes.rollback(envelope_id, "undo"),
        ):
            with pytest.raises(Refused, match=rf"may still run on {re.escape(host)} \(pid {op.pid}\)"):
                verb(job_id)

        if then == "declared-gone":  # an admin's word that the host will not come back
            assert hosts.declare_gone(host, "board replaced") == [job_id]
            trail = [(r["action"], r["who"], r["comment"]) for r in audit_json(store, job_id)]
            assert trail[-1] == (
                "host gone",
                "tester",
                f"{host} declared gone for good by tester: board replaced; op of exec 1 (pid {op.pid}) "
                "no longer waited for",
            )
            actions.retry(job_id)
            assert job_of(store, job_id).status == "READY"
        if then == "ended-meanwhile":  # the op ends on its own while nobody watches it
            gate.touch()
            wait_for(lambda: not live_pids_of_group(op.pid or 0), what="the op to end")
        here.tick()  # a daemon of that host comes back
        # Signalled in that pass; its kill said once it is dead, at a later pass (a loaded machine
        # delivered the SIGTERM after the assertion: it failed once in a full run).
        here.run_until(lambda: not live_pids_of_group(op.pid or 0))
        if then != "ended-meanwhile":
            here.run_until(lambda: bool(_kills_recorded(store, job_id)))
        trail = [(r["action"], r["who"], r["comment"]) for r in audit_json(store, job_id)]
        kills = _kills_recorded(store, job_id)
        if then == "ended-meanwhile":
            assert ("op gone", f"engine@{host}", f"op of exec 1 (pid {op.pid}) no longer runs") in trail
            assert not kills
        elif then == "declared-gone":  # it was not gone after all: its op dies, though its job ran on
            assert [k["who"] for k in kills] == [f"engine@{host}"]
            assert (
                f"op of exec 1 (pid {op.pid}) killed: its job was taken over while its engine was gone "
                in (str(kills[0]["comment"]))
            )
        else:
            assert [(k["who"], k["to"]) for k in kills] == [(f"engine@{host}", "ABEND")]
            assert f"op of exec 1 (pid {op.pid}) killed: its job was taken over" in str(kills[0]["comment"])
        if then != "declared-gone":
            actions.retry(job_id)
            assert job_of(store, job_id).status == "READY"
    finally:
        gate.touch()
        elsewhere.shutdown()
        here.shutdown()


def test_a_retry_waits_until_the_op_a_dead_engine_left_has_died_of_its_kill(
    store: Store,
    clock: FakeClock,
    tmp_path: Path,
    daemon_env: dict[str, str],
    daemons: list[subprocess.Popen[bytes]],
) -> None:
    """Found by a multi-host probe: the daemon starting after a kill -9 sent SIGTERM to the op its dead
    engine left and said "kill op … killed" at once; that row let a retry through while the op still
    cleaned up, and the op ran twice at once. The row comes once the op is gone."""
    clock.set(pendulum.now("UTC"))  # the daemon runs on the real clock
    actions = Actions(store, Actor("tester"))
    lingering = tmp_path / "lingering"
    job_id = actions.submit(definition(lingering_op(lingering)))
    op = _left_by_a_killed_daemon(store, job_id, daemon_env, daemons)
    clock.set(pendulum.now("UTC"))
    elsewhere, here = Engine(store, host="elsewhere"), Engine(store)
    try:
        _first_sweep(elsewhere, clock)
        clock.advance(elsewhere.lease_s + 1)
        run_until_status(elsewhere, job_id, "ABEND")
        here.tick()  # a daemon of that host comes back: SIGTERM, which the op takes its time over
        for _ in range(5):
            here.tick()
        assert live_pids_of_group(op.pid)
        assert not _kills_recorded(store, job_id)
        with pytest.raises(Refused, match=rf"may still run on .* \(pid {op.pid}\)"):
            actions.retry(job_id)
        lingering.touch()  # its clean-up done, it exits
        here.run_until(lambda: bool(_kills_recorded(store, job_id)))
        assert not live_pids_of_group(op.pid)
        actions.retry(job_id)
        assert job_of(store, job_id).status == "READY"
    finally:
        lingering.touch()
        elsewhere.shutdown()
        here.shutdown()


def test_an_op_canceled_from_another_host_while_its_engine_was_gone_is_killed_by_the_next_daemon(
    store: Store,
    clock: FakeClock,
    daemon_env: dict[str, str],
    daemons: list[subprocess.Popen[bytes]],
) -> None:
    """The op a cancel stopped reads skipped (not failed): a daemon starting on its host still finds it."""
    clock.set(pendulum.now("UTC"))  # the daemon runs on the real clock
    actions = Actions(store, Actor("tester"))
    job_id = actions.submit(definition('name = "long"\n[[run]]\nrun = "sleep 60"\n'))
    op = _left_by_a_killed_daemon(store, job_id, daemon_env, daemons)
    clock.set(pendulum.now("UTC"))
    with actions.transaction() as s:  # canceled as from another host, which cannot signal the op
        job = s.get(Job, job_id)
        assert job is not None
        actions.cancel_in(s, job, "from elsewhere")
    assert live_pids_of_group(op.pid)
    here = Engine(store)
    try:
        here.tick()  # a daemon of that host starts
        assert not live_pids_of_group(op.pid)
    finally:
        here.shutdown()
    kills = _kills_recorded(store, job_id)
    assert [k["comment"] for k in kills] == [
        f"op of exec 1 (pid {op.pid}) killed: its job was canceled while its engine was gone"
    ]
    assert detail(store, job_id)["tasks"][0]["steps"][0]["status"] == "skipped"


def test_a_daemon_starting_spares_what_a_finished_op_left_running_on_purpose(
    store: Store,
    clock: FakeClock,
    tmp_path: Path,
    daemon_env: dict[str, str],
    daemons: list[subprocess.Popen[bytes]],
) -> None:
    """A deploy op that starts a service in the background and ends: the service carries the op's token,
    and its engine died since (kill -9); the next engine of the host leaves it running, the job deleted
    or not."""
    clock.set(pendulum.now("UTC"))  # the daemon runs on the real clock
    actions = Actions(store, Actor("tester"))
    pid_files = {name: tmp_path / f"{name}.pid" for name in ("kept", "deleted")}
    ids = {
        name: actions.submit(
            definition(f'name = "{name}"\n[[run]]\nrun = "sleep 300 >/dev/null 2>&1 & echo $! > {path}"\n')
        )
        for name, path in pid_files.items()
    }
    daemon = start_daemon(daemon_env)
    daemons.append(daemon)
    wait_for(lambda: all(job_of(store, j).status == "FINISHED" for j in ids.values()), what="the deploys")
    services = [int(path.read_text()) for path in pid_files.values()]
    daemon.kill()
    daemon.wait()
    actions.delete(ids["deleted"])
    clock.set(pendulum.now("UTC"))
    here = Engine(store)
    try:
        here.tick()  # it registers, having looked for what the dead engine left
        assert all(
            psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
            for pid in services
        )
        assert not _kills_recorded(store, ids["kept"])
    finally:
        here.shutdown()
        for pid in services:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_an_engine_that_finds_its_job_taken_over_kills_its_op_and_says_so(
    store: Store, submit: Submit, actions: Actions, clock: FakeClock, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    # Its op takes its time over a SIGTERM (until `gate` exists): found by a multi-host probe, the engine
    # said "kill op" at SIGTERM, which let a retry run the op again beside the one still cleaning up.
    job_id = submit(lingering_op(gate))
    frozen, other = Engine(store, host="host-a"), Engine(store, host="host-b")
    try:
        op = wait_op_started(frozen, store, job_id)
        other.tick()
        clock.advance(frozen.lease_s + 1)  # host A is frozen (SIGSTOP, a partition) past its lease
        run_until_status(other, job_id, "ABEND")
        assert live_pids_of_group(op.pid or 0)
        with pytest.raises(Refused, match=r"may still run on host-a"):
            actions.retry(job_id)

        for _ in range(5):  # it comes back: SIGTERM to its op, which cleans up
            frozen.tick()
        assert live_pids_of_group(op.pid or 0) and not _kills_recorded(store, job_id)
        with pytest.raises(Refused, match=r"may still run on host-a"):
            actions.retry(job_id)
        gate.touch()
        frozen.run_until(lambda: bool(_kills_recorded(store, job_id)))
        assert not live_pids_of_group(op.pid or 0)  # said once its op is gone, not at SIGTERM
        kills = _kills_recorded(store, job_id)
        assert [k["who"] for k in kills] == ["engine@host-a"]
        assert f"op of exec 1 (pid {op.pid}) killed: its job was taken over" in str(kills[0]["comment"])
        actions.retry(job_id)  # host A was heard from again: nothing of exec 1 runs on
        assert job_of(store, job_id).status == "READY"
    finally:
        gate.touch()
        frozen.shutdown()
        other.shutdown()


def test_an_engine_back_from_a_freeze_says_its_op_ended_meanwhile_and_the_retry_goes_on(
    store: Store, submit: Submit, actions: Actions, clock: FakeClock, tmp_path: Path
) -> None:
    """Its heartbeat no longer lets the retry through (the op may still clean up after its SIGTERM): the
    engine says in the trail that the op is gone, here because it ended while the engine was frozen."""
    gate = tmp_path / "go"
    job_id = submit(gated(gate))
    frozen, other = Engine(store, host="host-a"), Engine(store, host="host-b")
    try:
        op = wait_op_started(frozen, store, job_id)
        other.tick()
        clock.advance(frozen.lease_s + 1)
        run_until_status(other, job_id, "ABEND")
        gate.touch()  # the op ends of itself while its engine is frozen
        wait_for(lambda: not live_pids_of_group(op.pid or 0), what="the op to end")
        frozen.run_until(lambda: any(r["action"] == "op gone" for r in audit_json(store, job_id)))
        (gone,) = [r for r in audit_json(store, job_id) if r["action"] == "op gone"]
        assert gone["who"] == "engine@host-a" and f"(pid {op.pid})" in str(gone["comment"])
        actions.retry(job_id)
        assert job_of(store, job_id).status == "READY"
    finally:
        gate.touch()
        frozen.shutdown()
        other.shutdown()


@pytest.mark.parametrize("then", ["its-engine-comes-back", "declared-gone"])
def test_a_job_canceled_from_another_host_runs_again_only_once_its_op_is_stopped(
    then: str, store: Store, submit: Submit, actions: Actions, clock: FakeClock, tmp_path: Path
) -> None:
    """Its host's daemon is silent (kill -STOP): the cancel cannot signal the op from here, and the rerun was
    accepted while it ran on there, the job running twice at once (found by QA)."""
    gate = tmp_path / "go"
    job_id = submit(gated(gate))
    silent = Engine(store, host="host-c")
    try:
        op = wait_op_started(silent, store, job_id)
        actions.cancel(job_id, comment="wrong release")  # on this host: only host-c can signal the op
        assert live_pids_of_group(op.pid or 0)
        (left,) = [r for r in audit_json(store, job_id) if r["action"] == "op left running"]
        assert f"op of exec 1 runs on host-c (pid {op.pid})" in str(left["comment"])
        verbs: tuple[Callable[[int], object], ...] = (
            lambda j: actions.rerun(j, "RUN"),
            lambda j: actions.rerun(j, "PRE", run_now=True),
            actions.delete,  # it would lose the op's host and pid
        )
        for verb in verbs:
            with pytest.raises(Refused, match=rf"may still run on host-c \(pid {op.pid}\)") as refused:
                verb(job_id)
            # Its engine is not lost (it may be about to stop the op): the refusal says what happened.
            assert "canceled from another host" in str(refused.value)
            assert "engine was lost" not in str(refused.value)
            assert "se canceló desde otro equipo" in refusal_text(reason_of(refused.value), "es", "Relanzar")

        if then == "its-engine-comes-back":  # it signals its op, and says so once the op is gone
            silent.run_until(lambda: bool(_kills_recorded(store, job_id)))
            assert not live_pids_of_group(op.pid or 0)
            (kill,) = _kills_recorded(store, job_id)
            assert kill["who"] == "engine@host-c"
            assert (
                kill["comment"]
                == f"op of exec 1 (pid {op.pid}) killed: its job was canceled from another host"
            )
        else:  # an admin's word that host-c will not come back
            clock.advance(31)  # its heartbeat no longer fresh
            assert HostActions(actions).declare_gone("host-c", "board replaced") == [job_id]
        actions.rerun(job_id, "RUN")
        assert job_of(store, job_id).status == "READY"
    finally:
        gate.touch()
        silent.shutdown()


def walking_writes_refused(real_write: Callable[..., Any]) -> Callable[..., Any]:
    """`Store.write` on a database that refuses the writes of rows about jobs the engine does not hold."""

    @contextlib.contextmanager
    def write(walking: bool = False, **options: Any) -> Iterator[Any]:
        if walking:
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
        with real_write(walking, **options) as session:
            yield session

    return write


def said_gone(store: Store, job_id: int) -> list[tuple[object, ...]]:
    trail = [(r["action"], r["who"], r["comment"]) for r in audit_json(store, job_id)]
    return [row for row in trail if row[0] == "op gone"]


@pytest.mark.backends("sqlite")  # the engine's bookkeeping: the same on both
def test_the_kill_of_an_op_canceled_from_another_host_is_recorded_once_the_database_takes_it(
    store: Store, submit: Submit, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The op's engine saw it gone while its database refused writes: the `kill op` row, which the job's
    rerun waits for, was lost for good (found by review). It is written at a later pass."""
    gate = tmp_path / "go"
    job_id = submit(gated(gate))
    silent = Engine(store, host="host-c")
    real_write = store.write

    try:
        op = wait_op_started(silent, store, job_id)
        actions.cancel(job_id)  # on this host: only host-c can signal the op
        monkeypatch.setattr(store, "write", walking_writes_refused(real_write))
        silent.run_until(lambda: not live_pids_of_group(op.pid or 0) and not silent._supervisor.dying)
        assert not _kills_recorded(store, job_id)
        with pytest.raises(Refused, match="canceled from another host"):
            actions.rerun(job_id, "RUN")
        monkeypatch.setattr(store, "write", real_write)
        silent.run_until(lambda: bool(_kills_recorded(store, job_id)))
        (kill,) = _kills_recorded(store, job_id)
        assert (
            kill["comment"] == f"op of exec 1 (pid {op.pid}) killed: its job was canceled from another host"
        )
        actions.rerun(job_id, "RUN")
        assert job_of(store, job_id).status == "READY"
    finally:
        gate.touch()
        silent.shutdown()


@contextlib.contextmanager
def savepoints_refused(session: Any) -> Iterator[None]:
    """`Store.savepoint` on a database that refuses a pass's writes (a failing disk)."""
    raise OperationalError("SAVEPOINT", {}, Exception("disk I/O error"))
    yield


def _ended_after_a_cancel_from_another_host(
    silent: Engine, store: Store, actions: Actions, job_id: int, gate: Path
) -> OpRun:
    """The job's op runs on `silent` (host-c); canceled from this host, which cannot signal it; then it
    ends (its `gate` opened)."""
    op = wait_op_started(silent, store, job_id)
    actions.cancel(job_id)  # on this host: only host-c can signal the op
    gate.touch()
    wait_for(lambda: not live_pids_of_group(op.pid or 0), what="the op to end")
    # Ended for its engine too: until its slot has reaped it, a pass would find it running and kill it.
    handle = silent._held[job_id].handle
    wait_for(lambda: getattr(handle, "ran_s", None) is not None, what="the op's end on its slot")
    return op


def _its_end_in_a_refused_pass(
    silent: Engine, store: Store, job_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its slot has seen the op end: the next pass records that, and lets the job go, in its transaction,
    which the database refuses."""
    with monkeypatch.context() as refusing:
        refusing.setattr(store, "savepoint", savepoints_refused)
        with pytest.raises(OperationalError):
            silent.tick()


@pytest.mark.backends("sqlite")  # the engine's bookkeeping: the same on both
@pytest.mark.parametrize("database", ["takes it", "refuses it at first"])
def test_an_op_canceled_from_another_host_found_ended_is_said_gone_once(
    database: str,
    store: Store,
    submit: Submit,
    actions: Actions,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The op ended before its engine let its canceled job go. In a pass the database refused, the `op
    gone` row, which the job's rerun waits for, was lost for good (the engine no longer held the job): it
    is written at a later pass. Either way it is written once."""
    gate = tmp_path / "go"
    job_id = submit(gated(gate))
    silent = Engine(store, host="host-c")

    try:
        op = _ended_after_a_cancel_from_another_host(silent, store, actions, job_id, gate)
        if database == "refuses it at first":
            _its_end_in_a_refused_pass(silent, store, job_id, monkeypatch)
            assert not said_gone(store, job_id)
            with pytest.raises(Refused, match="canceled from another host"):
                actions.rerun(job_id, "RUN")
        silent.run_until(lambda: bool(said_gone(store, job_id)))
        for _ in range(3):
            silent.tick()
        gone = ("op gone", "engine@host-c", f"op of exec 1 (pid {op.pid}) no longer runs")
        assert said_gone(store, job_id) == [gone]
        actions.rerun(job_id, "RUN")
        assert job_of(store, job_id).status == "READY"
    finally:
        gate.touch()
        silent.shutdown()


@pytest.mark.backends("sqlite")  # the engine's bookkeeping: the same on both
def test_the_last_words_of_an_op_canceled_from_another_host_reach_the_database_after_a_refused_pass(
    store: Store, submit: Submit, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The op ended before its engine let its canceled job go, in a pass the database refused: what it
    wrote last was shipped in that pass only, and stayed in its host's file, for no other host to read
    (the engine no longer held the job, so no later pass shipped it). A later pass ships it, once."""
    gate = tmp_path / "go"
    job_id = submit(
        f'name = "last-words"\n[[run]]\nrun = "while [ ! -f {gate} ]; do sleep 0.02; done; echo last words"\n'
    )
    silent = Engine(store, host="host-c")

    try:
        _ended_after_a_cancel_from_another_host(silent, store, actions, job_id, gate)
        _its_end_in_a_refused_pass(silent, store, job_id, monkeypatch)
        assert "last words" not in _read_shipped(store, job_id)
        silent.run_until(lambda: "last words" in _read_shipped(store, job_id))
        for _ in range(3):
            silent.tick()
        assert _read_shipped(store, job_id).count("last words") == 1
    finally:
        gate.touch()
        silent.shutdown()


@pytest.mark.backends("sqlite")  # the engine's bookkeeping: the same on both
def test_an_op_a_dead_engine_left_that_ended_meanwhile_is_said_gone_once_the_database_takes_it(
    store: Store, submit: Submit, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next engine of the op's host looks at what a dead one left once, as it starts: an `op gone` row
    the database refused then was lost for good, and the job's rerun waited for it (found by review). It
    is written at a later pass."""
    gate = tmp_path / "go"
    job_id = submit(gated(gate))
    dead = Engine(store, host="host-c")
    real_write = store.write

    try:
        op = wait_op_started(dead, store, job_id)
        actions.cancel(job_id)  # on this host: only host-c can signal the op
        gate.touch()
        wait_for(lambda: not live_pids_of_group(op.pid or 0), what="the op to end")
        with store.write() as s:  # its process is gone (another process holds its pid now)
            s.execute(text("UPDATE workers SET pid_create_time = 1, pid_start = 'gone'"))
        later = Engine(store, host="host-c")
        monkeypatch.setattr(store, "write", walking_writes_refused(real_write))
        later.tick()  # its first pass: it looks at what the dead engine left
        assert not said_gone(store, job_id)
        with pytest.raises(Refused, match="canceled from another host"):
            actions.rerun(job_id, "RUN")
        monkeypatch.setattr(store, "write", real_write)
        later.run_until(lambda: bool(said_gone(store, job_id)))
        later.tick()
        gone = ("op gone", "engine@host-c", f"op of exec 1 (pid {op.pid}) no longer runs")
        assert said_gone(store, job_id) == [gone]
        actions.rerun(job_id, "RUN")
        assert job_of(store, job_id).status == "READY"
        later.shutdown()
    finally:
        gate.touch()
        dead.shutdown()


def test_an_envelope_canceled_from_another_host_is_rolled_back_only_once_its_op_is_stopped(
    store: Store, actions: Actions, tmp_path: Path
) -> None:
    """The envelope's second job runs on host-c, whose daemon is silent: the envelope-cancel cannot signal
    its op from here, and the envelope's rollback was accepted, undoing the first job while the second's op
    still ran there (found by review)."""
    gate = tmp_path / "go"
    first, second = tmp_path / "build.toml", tmp_path / "deploy.toml"
    first.write_text('name = "build"\n[[run]]\nrun = "true"\nrollback = "true"\n')
    second.write_text(gated(gate, "deploy"))
    envelopes = EnvelopeActions(actions)
    envelope_id, (_, job_id) = envelopes.submit(envelope_of_files([str(first), str(second)], "release"))
    silent = Engine(store, host="host-c")
    try:
        op = wait_op_started(silent, store, job_id)
        envelopes.cancel(envelope_id)  # on this host: only host-c can signal the op
        assert live_pids_of_group(op.pid or 0)
        with pytest.raises(Refused, match=rf"may still run on host-c \(pid {op.pid}\)"):
            envelopes.rollback(envelope_id, "bad release")
        silent.run_until(lambda: bool(_kills_recorded(store, job_id)))  # it signals its op, sees it gone
        assert envelopes.rollback(envelope_id, "bad release")
    finally:
        gate.touch()
        silent.shutdown()


@pytest.mark.backends("sqlite")  # the engine's loop, the same on both
def test_an_engine_draining_sees_the_op_it_stops_for_a_cancel_gone_before_it_stops(
    store: Store, submit: Submit, actions: Actions, tmp_path: Path
) -> None:
    """A job canceled from another host; its op's engine signals it, then is asked to stop (a daemon's
    first SIGTERM, a dashboard handing over): it stopped at once, the op's end never recorded, so the job's
    rerun stayed refused until an engine of the host started again (found by review)."""
    slow_exit = "trap 'sleep 0.3; exit 143' TERM; while true; do sleep 0.02; done"
    job_id = submit(f'name = "long"\n[[run]]\nrun = "{slow_exit}"\n')
    silent = Engine(store, host="host-c")
    try:
        op = wait_op_started(silent, store, job_id)
        actions.cancel(job_id)  # on this host: only host-c can signal the op
        silent.tick()  # host-c sees its lease gone: SIGTERM to the op, which takes a moment to end
        stop, drain = threading.Event(), threading.Event()
        drain.set()
        silent.run(stop, drain)
        assert not live_pids_of_group(op.pid or 0)
        assert _kills_recorded(store, job_id), "the op's end is in the job's trail"
        actions.rerun(job_id, "RUN")
    finally:
        silent.shutdown()


def test_a_job_canceled_on_the_host_its_op_runs_on_runs_again_at_once(
    engine: Engine, store: Store, submit: Submit, actions: Actions, tmp_path: Path
) -> None:
    """This host's live engine stops the op: nothing to wait for."""
    gate = tmp_path / "go"
    job_id = submit(gated(gate))
    try:
        wait_op_started(engine, store, job_id)
        actions.cancel(job_id)
        actions.rerun(job_id, "RUN")
        assert job_of(store, job_id).status == "READY"
        assert not [r for r in audit_json(store, job_id) if r["action"] == "op left running"]
    finally:
        gate.touch()


def _daemon_running_a_gated_job(
    store: Store,
    actions: Actions,
    gate: Path,
    daemon_env: dict[str, str],
    daemons: list[subprocess.Popen[bytes]],
) -> tuple[int, subprocess.Popen[bytes], bytearray, threading.Thread]:
    """A daemon running a job whose op waits for `gate` (a POST after it): the job, the daemon, what the
    daemon says on stderr as it comes, and the thread reading it."""
    job_id = actions.submit(
        definition(
            f'name = "j"\n[[run]]\nrun = "while [ ! -f {gate} ]; do sleep 0.02; done"\n'
            '[[post]]\nrun = "true"\n'
        )
    )
    daemon = start_daemon(daemon_env)
    daemons.append(daemon)
    said = bytearray()
    pump = threading.Thread(target=_pump, args=(daemon.stderr, said), daemon=True)
    pump.start()
    wait_for(lambda: running_op(store, job_id) is not None, what="op start")
    return job_id, daemon, said, pump


@pytest.mark.backends("sqlite")  # the canceller's own work on this host: the same on both
@pytest.mark.parametrize("engine_lives", [True, False], ids=["its-engine-lives", "its-engine-died"])
def test_a_canceller_with_another_log_folder_says_it_in_the_log_the_op_writes(
    engine_lives: bool, store: Store, submit: Submit, tmp_path: Path
) -> None:
    """`sudo jobtui cancel` on PostgreSQL: root's log folder is not the daemon's (each user's data folder
    holds its logs). The cancel wrote "op terminated" into a file of its own folder, which no engine
    ships: the job's log never said how its op ended (and with its engine dead, the canceller shipped its
    own short file from where the op's file had been shipped to)."""
    ready = tmp_path / "ready"
    op = f"echo begun; touch {ready}; while true; do sleep 0.05; done"
    job_id = submit(f'name = "j"\n[[run]]\nrun = "{op}"\n')
    canceller = Actions(Store(store.url, log_dir=tmp_path / "root-logs"), Actor("root"))
    op_log = Path(store.log_file(job_id))
    if engine_lives:
        engine = Engine(store)
        try:
            op = wait_op_started(engine, store, job_id)
            engine.run_until(ready.exists)
            canceller.cancel(job_id)
            engine.run_until(lambda: not live_pids_of_group(op.pid or 0))
            for _ in range(3):
                engine.tick()
        finally:
            engine.shutdown()
    else:
        with _left_by_a_dead_engine(store, job_id, ready):
            canceller.cancel(job_id)
    shipped = _read_shipped(store, job_id)
    assert shipped.count("begun\n") == 1
    assert shipped.count("op terminated (job CANCELED): SIGTERM to process group") == 1
    assert shipped == op_log.read_text()
    assert not (tmp_path / "root-logs" / f"job-{job_id}.log").exists()


@pytest.mark.backends("sqlite")  # the canceller's own work on this host: the same on both
@pytest.mark.skipif(os.geteuid() != 0, reason="root cancelling: whoever writes the database steers it")
@pytest.mark.parametrize("steered", ["a link in the op's folder", "another user's folder"])
def test_root_cancelling_writes_no_file_the_database_points_it_at_but_the_op_s_own_log(
    steered: str, store: Store, submit: Submit, tmp_path: Path
) -> None:
    """Found by review: the file a cancel writes, cuts and ships is named by the op's status reference,
    which whoever can write the database chooses. Run as root, it followed a link to any file (cut to a
    few bytes, shipped for every reader) or wrote in any user's folder."""
    ready, victim = tmp_path / "ready", tmp_path / "victim"
    victim.write_text("IMPORTANT\n" * 1000)
    job_id = submit(
        f'name = "j"\n[[run]]\nrun = "echo begun; touch {ready}; while true; do sleep 0.05; done"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chown(elsewhere, 65534, 65534)
    with _left_by_a_dead_engine(store, job_id, ready) as op:
        op_log = Path(store.log_file(job_id))
        if steered == "a link in the op's folder":
            op_log.unlink()
            op_log.symlink_to(victim)
        else:
            with store.write() as s:
                s.execute(
                    text("UPDATE op_runs SET status_file = :ref WHERE id = :id"),
                    {"ref": f"{elsewhere}/ops-x-0.status#{op.token}", "id": op.id},
                )
        actions = Actions(Store(store.url, log_dir=tmp_path / "root-logs"), Actor("root"))
        actions.set_setting("op_log_cap_mib", 0.000001)  # a cut to a byte, were it to follow the link
        actions.cancel(job_id)
    assert victim.read_text() == "IMPORTANT\n" * 1000
    assert "IMPORTANT" not in _read_shipped(store, job_id)
    assert list(elsewhere.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="root writing in another user's log folder")
def test_the_log_root_creates_for_a_silent_op_belongs_to_the_owner_of_its_folder(tmp_path: Path) -> None:
    """A silent op has no log file yet (it comes with the op's first byte): `sudo jobtui cancel` created
    it, root's, in the daemon user's log folder, where that user's engine and ops could no longer append
    to the job's log. A file that exists keeps its owner."""
    folder = tmp_path / "daemon-logs"
    folder.mkdir()
    os.chown(folder, 65534, 65534)  # the daemon's user's folder
    created, existing = folder / "job-1.log", folder / "job-2.log"
    existing.write_text("the op's own output\n")
    assert local_ops.append_placed(str(created), "op terminated\n") == (0, 14)
    assert local_ops.append_placed(str(existing), "op terminated\n") == (20, 34)
    assert (created.stat().st_uid, created.stat().st_gid) == (65534, 65534)
    assert existing.stat().st_uid == 0
    assert existing.read_text() == "the op's own output\nop terminated\n"


@pytest.mark.backends("sqlite")  # the canceller's own work on this host: the same on both
def test_a_cancel_with_no_engine_here_kills_an_op_ignoring_sigterm_and_ships_its_log(
    store: Store, submit: Submit, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The op's engine died: the cancel sent SIGTERM and left it at that. An op that ignores SIGTERM ran
    on for good, and what it wrote, with the line saying it was terminated, stayed in this host's file (no
    engine ships the log of a job it does not hold): no other host could read it."""
    monkeypatch.setattr(local_ops, "KILL_GRACE_S", 0.5)
    ready = tmp_path / "trap-set"
    stubborn = f"echo start; trap 'echo ignoring TERM' TERM; touch {ready}; while true; do sleep 0.05; done"
    job_id = submit(f'name = "stubborn"\n[[run]]\nrun = "{stubborn}"\n')
    with _left_by_a_dead_engine(store, job_id, ready) as op:
        actions.cancel(job_id)
        assert not live_pids_of_group(op.pid or 0)
        shipped = _read_shipped(store, job_id)
        # The op may say it ignores SIGTERM before or after the line saying it was sent: it runs its trap
        # as the signal lands. Killed after both.
        terminated = shipped.index("op terminated (job CANCELED): SIGTERM to process group")
        killed = shipped.index("SIGKILL after the grace period to: ")
        assert max(terminated, shipped.index("ignoring TERM")) < killed
        assert f"{op.pid} (" in shipped[killed:]  # the op's shell, named
        # Its starter wrote the "started" line before the op's first word: the cancel finds it there.
        assert shipped.count(": started\n") == 1, shipped
        assert shipped == Path(job_of(store, job_id).log_path).read_text()


@contextlib.contextmanager
def _left_by_a_dead_engine(store: Store, job_id: int, ready: Path) -> Iterator[OpRun]:
    """The job's op, started by an engine that then died (another process holds its pid now) once the op
    made `ready`; what is left of it is killed at the end."""
    dead = Engine(store)
    op = wait_op_started(dead, store, job_id)
    try:
        dead.run_until(ready.exists)
        with store.write() as s:
            s.execute(text("UPDATE workers SET pid_create_time = 1, pid_start = 'gone'"))
        yield op
    finally:
        with contextlib.suppress(ProcessLookupError):  # it ignores the SIGTERM of the engine's shutdown
            os.killpg(op.pid or 0, signal.SIGKILL)
        dead.shutdown()


@pytest.mark.backends("sqlite")  # the canceller's own work on this host: the same on both
def test_what_an_op_wrote_with_no_engine_to_cap_it_is_cut_to_its_share_as_it_is_canceled(
    store: Store,
    submit: Submit,
    actions: Actions,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by review: with its engine gone, nothing capped what the op wrote, and the cancel shipped all
    of it to the database (gigabytes for a chatty op orphaned for hours). It is cut to the op's share of
    the log (op_log_cap_mib), with the marker, as its engine cuts it."""
    monkeypatch.setattr(local_ops, "KILL_GRACE_S", 0.5)
    actions.set_setting("op_log_cap_mib", 1)
    ready, flood = tmp_path / "ready", tmp_path / "flood"
    chatty = (
        f"touch {ready}; while [ ! -f {flood} ]; do sleep 0.02; done; "
        "head -c 3000000 /dev/zero | tr '\\\\0' x; echo; echo flooded; while true; do sleep 0.05; done"
    )
    job_id = submit(f'name = "chatty"\n[[run]]\nrun = "{chatty}"\n')
    with _left_by_a_dead_engine(store, job_id, ready):
        flood.touch()
        local = Path(job_of(store, job_id).log_path)
        wait_for(lambda: local.exists() and b"flooded" in local.read_bytes()[-100:], what="the flood")
        actions.cancel(job_id)
        shipped = _read_shipped(store, job_id)
        assert len(shipped) < (1 << 20) + 4096
        assert "bytes of this op's output skipped: over the 1 MiB a job's log keeps per op" in shipped
        assert "op terminated (job CANCELED): SIGTERM to process group" in shipped
        assert shipped == local.read_text()


@pytest.mark.backends("sqlite")  # the service's look at the engine: the same on both
def test_a_cancel_on_the_host_of_a_stopped_daemon_stops_its_op_and_the_next_engine_ships_what_it_said(
    tmp_path: Path, daemon_env: dict[str, str], daemons: list[subprocess.Popen[bytes]]
) -> None:
    """The daemon holding the job is stopped (SIGSTOP) with a fresh heartbeat: the cancel left the op to
    it, and it kills nothing until continued; the op ran on meanwhile, and a rerun on another engine of the
    host would run the job twice. The cancel signals the op itself, and leaves the log to the daemon, to
    ship once continued. Killed instead (`kill -9` of a stopped daemon), it never did: the line saying the
    op was terminated stayed in this host's file, for no other host to read. The next engine of the host
    ships it."""
    store = Store(daemon_env["JOBTUI_DB"])
    actions = Actions(store, Actor("tester"))
    gate = tmp_path / "go"
    job_id, daemon, _said, _pump = _daemon_running_a_gated_job(store, actions, gate, daemon_env, daemons)
    op = running_op(store, job_id)
    assert op is not None and op.pid is not None
    daemon.send_signal(signal.SIGSTOP)
    wait_for(lambda: psutil.Process(daemon.pid).status() == psutil.STATUS_STOPPED, what="the stop")
    actions.cancel(job_id)
    wait_for(lambda: not live_pids_of_group(op.pid or 0), what="the op to end")
    assert status_of(store, job_id) == "CANCELED"
    assert "op terminated" not in _read_shipped(store, job_id)  # left to its engine, alive
    daemon.kill()
    daemon.wait(timeout=10)
    # Started with a log folder of its own, it finds the op's log in the dead engine's (found by review).
    after = Engine(Store(daemon_env["JOBTUI_DB"], log_dir=tmp_path / "its-own-logs"))
    try:
        after.tick()
    finally:
        after.shutdown()
    shipped = _read_shipped(store, job_id)
    assert shipped.count("op terminated (job CANCELED): SIGTERM to process group") == 1
    assert shipped == Path(store.log_file(job_id)).read_text()


def test_a_clean_daemon_stop_finishes_ops_in_flight(
    tmp_path: Path, daemon_env: dict[str, str], daemons: list[subprocess.Popen[bytes]]
) -> None:
    store = Store(daemon_env["JOBTUI_DB"])
    actions = Actions(store, Actor("tester"))
    gate = tmp_path / "go"
    job_id, daemon, said, pump = _daemon_running_a_gated_job(store, actions, gate, daemon_env, daemons)
    daemon.send_signal(signal.SIGTERM)
    # Said at once, while the op in flight runs on (for as long as it takes).
    stopping = b"stopping: letting 1 op in flight finish, then handing the jobs back"
    wait_for(lambda: stopping in said, what="the daemon to say it is stopping")
    assert daemon.poll() is None and running_op(store, job_id) is not None
    # Its worker says so too: a dashboard counts it as serving the queue no more (it claims nothing), and
    # runs its own engine meanwhile (found by an operator: "daemon on HOST" while the queue stalled).
    listing = JobListing(store.reader)
    wait_for(lambda: [e.state(store.now()) for e in engines(listing)] == ["stopping"], what="stopping")
    assert listing.live_engine(store.now().subtract(seconds=30)) is None
    gate.touch()
    assert daemon.wait(timeout=20) == 0
    pump.join(timeout=10)
    assert said.index(stopping) < said.index(b"jobtui engine stopped")
    job = job_of(store, job_id)
    # The op in flight finished; the rest of the job waits, handed back, for the next engine.
    assert job.status == "READY" and job.worker_id is None
    with store.read() as s:
        states = [
            o.status for o in s.scalars(select(OpRun).where(OpRun.job_id == job_id).order_by(OpRun.position))
        ]
    assert states == ["done", "pending"]
    engine = Engine(store)
    try:
        run_until_status(engine, job_id, "FINISHED")
    finally:
        engine.shutdown()


@pytest.mark.parametrize("then", ["its-host-re-adopts", "none-of-its-host-starts"])
def test_a_daemon_stopped_hard_says_so_and_leaves_its_ops_to_an_engine_of_its_host(
    then: str,
    store: Store,
    clock: FakeClock,
    tmp_path: Path,
    daemon_env: dict[str, str],
    daemons: list[subprocess.Popen[bytes]],
) -> None:
    """A second SIGTERM: the daemon marks its worker stopped as it leaves (it read `live` for 30 s, and its
    jobs went ABEND "worker HOST lost"); an engine of its host re-adopts its op at once, one of another host
    leaves it a lease to, then takes the job over as stopped."""
    clock.set(pendulum.now("UTC"))  # the daemon runs on the real clock
    actions = Actions(store, Actor("tester"))
    gate = tmp_path / "go"
    job_id, daemon, said, pump = _daemon_running_a_gated_job(store, actions, gate, daemon_env, daemons)
    op = running_op(store, job_id)
    assert op is not None and op.pid is not None
    daemon.send_signal(signal.SIGTERM)
    wait_for(lambda: b"stopping: letting 1 op" in said, what="the first SIGTERM to be taken")
    daemon.send_signal(signal.SIGTERM)  # stop now
    assert daemon.wait(timeout=20) == 0
    pump.join(timeout=10)
    assert b"stopping now: 1 op run on, for an engine of this host to re-adopt" in said
    assert live_pids_of_group(op.pid)  # its op runs on
    (row,) = Reads(store, Actor("tester")).workers()
    assert row["state"] == "stopped"

    host = socket.gethostname()
    clock.set(pendulum.now("UTC"))
    elsewhere = Engine(store, host="elsewhere")
    here: Engine | None = None
    try:
        _first_sweep(elsewhere, clock)
        clock.advance(elsewhere.lease_s - 5)
        for _ in range(3):
            elsewhere.tick()
        assert status_of(store, job_id) == "RUNNING"  # a daemon of its host may yet start
        if then == "its-host-re-adopts":
            here = Engine(store)
            here.run_until(lambda: job_of(store, job_id).worker_id == here.worker_id)
            assert any(
                r["action"] == "take over" and r["comment"] == f"worker {host} stopped"
                for r in audit_json(store, job_id)
            )
            gate.touch()
            assert run_until_status(here, job_id, "FINISHED", "ABEND").status == "FINISHED"
        else:
            clock.advance(10)
            job = run_until_status(elsewhere, job_id, "ABEND")
            assert f"worker {host} stopped; op run-1 may still run on {host} (pid {op.pid})" in (
                job.reason or ""
            )
    finally:
        gate.touch()
        elsewhere.shutdown()
        if here is not None:
            here.shutdown()


@pytest.mark.backends("sqlite")  # PostgreSQL: four daemons drain in test_postgres.py
def test_two_engine_processes_drain_a_queue_running_each_op_once(
    tmp_path: Path, daemon_env: dict[str, str], daemons: list[subprocess.Popen[bytes]]
) -> None:
    store = Store(daemon_env["JOBTUI_DB"])
    actions = Actions(store, Actor("tester"))
    ledger = tmp_path / "ledger.db"
    # Each op works a few milliseconds: ops far shorter than an engine's pass (a no-op call) make it claim
    # hundreds of jobs ahead, and the first engine to see the queue resume could take them all.
    env = f'env = {{ OPS_LEDGER = "{ledger}", OPS_WORK_S = "0.005" }}\n'
    text = (
        'name = "drain"\n[[pre]]\ncall = "tests.support.ops:record_once"\n'
        + env
        + '[[run]]\ncall = "tests.support.ops:record_once"\n'
        + env
    )
    spec = definition(text)
    # Thousands in the reliability run (JOBTUI_DRAIN_JOBS); enough here to make the engines contend.
    total = int(os.environ.get("JOBTUI_DRAIN_JOBS", "300"))
    # Both engines are up before the queue runs: on a loaded machine the first could drain it alone.
    actions.queue_pause("until both engines are up")
    ids = actions.submit_many(spec, total)
    daemons += [start_daemon(daemon_env, workers=2), start_daemon(daemon_env, workers=2)]
    wait_for(lambda: actions.queue_state().workers == 2, timeout=60, what="both engines to register")
    actions.queue_resume()

    def finished() -> int:
        with store.read() as s:
            return len(s.scalars(select(Job.id).where(Job.status == "FINISHED")).all())

    wait_for(lambda: finished() == total, timeout=240, what="all jobs to finish")
    with sqlite3.connect(ledger) as conn:
        rows = conn.execute("SELECT job_id, step FROM ledger").fetchall()
    assert len(rows) == 2 * total
    assert {job_id for job_id, _ in rows} == set(ids)
    with store.read() as s:
        claimed_by = s.execute(
            select(AuditEvent.who, AuditEvent.comment).where(AuditEvent.action == "claim")
        ).all()
    assert len(claimed_by) == total  # each job claimed once, by one of the two engines
    assert len({comment for _, comment in claimed_by}) == 2  # both engines did work
    for proc in daemons:
        proc.send_signal(signal.SIGTERM)
    for proc in daemons:
        assert proc.wait(timeout=30) == 0
