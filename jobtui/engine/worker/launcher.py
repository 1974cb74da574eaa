"""Starting an op: what to run and with which environment, then the process or call itself.

An op's identity (its status file and the token in its environment) is recorded with its start, in the
transaction that marks it running, before its process exists: an engine killed between the spawn and the
pid's commit leaves an op the next engine finds by its token (sweeps), so it never runs twice.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from jobtui.engine.db.models import Job, OpRun, Task
from jobtui.engine.db.raw import execute_many
from jobtui.engine.domain.definitions import OpDef
from jobtui.engine.domain.states import ROLLBACK_STEP
from jobtui.engine.worker import pipeline
from jobtui.engine.worker.logcap import LogCap
from jobtui.engine.worker.runner import TOKEN_VAR, CallHandle, OpContext, ProcessHandle, op_title
from jobtui.engine.worker.slots import SlotHandle, Slots
from jobtui.engine.worker.state import FAULT_VAR, EngineState, Held, LaunchSpec, StartedPid

log = logging.getLogger("jobtui.engine")

# FAULT_VAR, the test-only fault injection hook: "kill-after-spawn" makes the engine SIGKILL itself right
# after starting an op's process, before recording its pid; "kill-before-spawn" just before starting it,
# after the op was recorded as running.
# Taken by the slot that dies for the hook and never released: the other slots stop before spawning, so
# the engine dies after exactly one spawn, whatever the number of slots.
_FAULT_LOCK = threading.Lock()


def launch_spec(state: EngineState, s: Session, job: Job, op_run: OpRun) -> LaunchSpec:
    assert job.id is not None and op_run.id is not None
    target = ""
    if op_run.task_id is not None:
        task = s.get(Task, op_run.task_id)
        target = task.target if task else ""
    spec = build_spec(
        state,
        OpToStart(
            job.id,
            job.name,
            job.exec,
            state.store.log_file(job.id),
            op_run.id,
            op_run.step,
            op_run.name,
            op_run.rollback,
            target,
            op_def(job, op_run),
        ),
    )
    # Recorded in the caller's transaction, the one marking the op running, committed before the start.
    op_run.token, op_run.host, op_run.status_file = spec.token, state.host, spec.status_file
    op_run.pid = op_run.pid_create_time = op_run.pid_start = None
    s.add(op_run)
    return spec


@dataclass(frozen=True)
class OpToStart:
    """The facts an op's launch needs, from the database rows or an engine's plan of the job."""

    job_id: int
    job_name: str
    exec: int
    log_path: str
    op_run_id: int
    step: str
    name: str
    rollback: str | None
    target: str
    op: OpDef | None  # None for a rollback command


def build_spec(state: EngineState, start: OpToStart) -> LaunchSpec:
    """What to run, with which environment, token and status file (the caller records the last two
    with the op's start)."""
    natures_file = f"{state.log_dir}/job-{start.job_id}.natures"
    env = state.op_environment()
    if start.op is not None:
        # First: what the engine sets wins (over a definition stored before setting it was refused).
        env.update(dict(start.op.env))
    env.update(
        JOBTUI_JOB_ID=str(start.job_id),
        JOBTUI_JOB_NAME=start.job_name,
        JOBTUI_STEP=start.step,
        JOBTUI_TARGET=start.target,
        JOBTUI_EXEC=str(start.exec),
        JOBTUI_NATURES_FILE=natures_file,
    )
    op = start.op
    argv: list[str] | None = None
    call: str | None = None
    timeout_s: float | None = None
    if start.step == ROLLBACK_STEP:
        argv = ["/bin/sh", "-c", start.rollback or "true"]
    else:
        assert op is not None
        timeout_s = op.timeout_s or None
        if op.call:
            call = op.call
        elif op.argv:
            argv = list(op.argv)
        else:
            argv = ["/bin/sh", "-c", op.run or "true"]
    token = state.new_token()
    env[TOKEN_VAR] = token  # after the op's own env: the engine's, whatever the definition says
    context = OpContext(
        start.job_id,
        start.job_name,
        start.step,
        start.target,
        start.exec,
        natures_file,
        env,
        start.log_path,
    ).before_log(functools.partial(state.write_held_back, start.log_path))
    title = op_title(start.step, start.name, start.target)
    status_file = state.status_ref(token)
    return LaunchSpec(start.op_run_id, argv, call, env, context, status_file, timeout_s, title, token)


def op_def(job: Job, op_run: OpRun) -> OpDef | None:
    if op_run.step == ROLLBACK_STEP:
        return None
    ops = pipeline.definition_of(job).ops(op_run.step)
    return ops[op_run.op_index] if op_run.op_index < len(ops) else None


def start(state: EngineState, slots: Slots, held: Held, spec: LaunchSpec) -> None:
    """Queue the op for `held` to the worker slots: the next free slot starts it (`_begin`)."""
    held.op_run_id = spec.op_run_id
    held.title = spec.title
    held.log_path = spec.context.log_file  # the file the shipper reads
    held.timeout_s = spec.timeout_s
    held.deadline = None  # its timeout counts from its start, not from its wait for a slot
    held.timed_out = False
    held.log_cap = None
    # Read here, not on the slot: only a failure to start the op itself may fail it (never the database's).
    cap_bytes = state.log_cap_bytes()
    handle = SlotHandle(spec.context.log_file, spec.token, queued_at=state.store.clock.elapsed())
    held.handle = slots.submit(handle, lambda handle: _begin(state, held, spec, cap_bytes, handle))


def _begin(
    state: EngineState, held: Held, spec: LaunchSpec, cap_bytes: int, handle: SlotHandle
) -> Callable[[], None]:
    """On a slot's thread: the op's first line in its log, then the op (see `Starter`)."""
    started = f"{spec.title}: started"
    state.last_slot_start = state.store.clock.elapsed()
    if spec.timeout_s:
        held.deadline = state.store.now().add(seconds=spec.timeout_s)
    if spec.call is not None:
        state.hold_back(spec.context.log_file, started)
        call = CallHandle(
            spec.context.log_file, functools.partial(state.write_held_back, spec.context.log_file)
        )
        handle.inner = call
        target, context = spec.call, spec.context
        return lambda: call.run(target, context)
    assert spec.argv is not None
    fault = os.environ.get(FAULT_VAR)
    if fault in ("kill-before-spawn", "kill-after-spawn"):
        _FAULT_LOCK.acquire()
    if fault == "kill-before-spawn":
        state.append_log(spec.context.log_file, started)
        os.kill(os.getpid(), signal.SIGKILL)  # test hook: see FAULT_VAR
    process = ProcessHandle.start(
        state.spawner,
        spec.argv,
        spec.env,
        spec.context.log_file,
        spec.status_file,
        spec.token,
        first_line=state.log_line(started),
    )
    if fault == "kill-after-spawn":
        # Test hook (tests/engine/test_spawn_window.py): die as `kill -9` would, between the spawn and
        # the pid's commit. It changes nothing else and nothing of the op.
        os.kill(os.getpid(), signal.SIGKILL)
    # Everything after the log's size at the spawn is the op's.
    cap = LogCap(spec.context.log_file, process.log_start, cap_bytes)
    held.log_cap = cap
    # Recorded by the next pass's batch (woken at once), with every other op started meanwhile: an
    # engine dying before that leaves an op the take-over finds by its token, as between spawn and commit.
    # Before the op's handle is seen: a pass that records its end (an abend) has its pid too. An op that
    # ended as it started has no pid to record: its end is (the slot wakes the engine for it); nor has one
    # that vanished before anyone saw its pid.
    if process.pid is not None and not process.ended_at_start:
        state.add_started_pid(
            StartedPid(spec.op_run_id, process.pid, process.create_time, held.deadline, process.process_start)
        )
        state.wake()
    handle.inner = process
    return process.wait


_STARTED_PID = (
    "UPDATE op_runs SET pid = :pid, pid_create_time = :ct, pid_start = :start, host = :host, "
    "deadline_at = :dl WHERE id = :id"
)


def record_started_pids(state: EngineState, s: Session, started: list[StartedPid]) -> None:
    """Write the pids of the ops started since the last pass, in one statement."""
    execute_many(
        s,
        _STARTED_PID,
        [
            {
                "pid": p.pid,
                "ct": p.create_time,
                "start": p.process_start,
                "host": state.host,
                "dl": p.deadline,
                "id": p.op_run_id,
            }
            for p in started
        ],
    )
