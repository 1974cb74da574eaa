"""Starting an op: what to run and with which environment, then the process or call itself."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text
from sqlmodel import Session

from jobtui.engine.db.models import Job, OpRun, Task
from jobtui.engine.domain.definitions import OpDef
from jobtui.engine.domain.states import ROLLBACK_STEP
from jobtui.engine.worker import pipeline
from jobtui.engine.worker.runner import CallHandle, OpContext, OpOutcome, ProcessHandle
from jobtui.engine.worker.state import EngineState, Held, LaunchSpec, timed

log = logging.getLogger("jobtui.engine")


def launch_spec(state: EngineState, s: Session, job: Job, op_run: OpRun) -> LaunchSpec:
    assert job.id is not None and op_run.id is not None
    target = ""
    if op_run.task_id is not None:
        task = s.get(Task, op_run.task_id)
        target = task.target if task else ""
    natures_file = str(state.store.log_dir / f"job-{job.id}.natures")
    env = dict(os.environ)
    env.update(
        JOBTUI_JOB_ID=str(job.id),
        JOBTUI_JOB_NAME=job.name,
        JOBTUI_STEP=op_run.step,
        JOBTUI_TARGET=target,
        JOBTUI_EXEC=str(job.exec),
        JOBTUI_NATURES_FILE=natures_file,
    )
    op = op_def(job, op_run)
    argv: list[str] | None = None
    call: str | None = None
    timeout_s: float | None = None
    if op_run.step == ROLLBACK_STEP:
        argv = ["/bin/sh", "-c", op_run.rollback or "true"]
    else:
        assert op is not None
        env.update(dict(op.env))
        timeout_s = op.timeout_s or None
        if op.call:
            call = op.call
        elif op.argv:
            argv = list(op.argv)
        else:
            argv = ["/bin/sh", "-c", op.run or "true"]
    context = OpContext(job.id, job.name, op_run.step, target, job.exec, natures_file, env, job.log_path)
    title = f"{op_run.step} {op_run.name}" + (f" [{target}]" if target else "")
    status_file = str(state.store.log_dir / f"job-{job.id}.op-{op_run.id}.rc")
    return LaunchSpec(op_run.id, argv, call, env, context, status_file, timeout_s, title)


def op_def(job: Job, op_run: OpRun) -> OpDef | None:
    if op_run.step == ROLLBACK_STEP:
        return None
    ops = pipeline.definition_of(job).ops(op_run.step)
    return ops[op_run.op_index] if op_run.op_index < len(ops) else None


def start(state: EngineState, pool: ThreadPoolExecutor, held: Held, spec: LaunchSpec) -> OpOutcome | None:
    """Start the op for `held`; the outcome to record when it could not even start."""
    now = state.store.now()
    state.append_log(spec.context.log_path, f"{spec.title}: started")
    held.op_run_id = spec.op_run_id
    held.title = spec.title
    held.timeout_s = spec.timeout_s
    held.deadline = now.add(seconds=spec.timeout_s) if spec.timeout_s else None
    held.timed_out = False
    try:
        if spec.call is not None:
            held.handle = CallHandle.start(pool, spec.call, spec.context, state.wake)
            return None
        assert spec.argv is not None
        handle = ProcessHandle.start(
            spec.argv, spec.env, spec.context.log_path, spec.status_file, None, state.wake
        )
    except Exception as exc:  # any launch failure (a bad path, Popen's ValueError) fails the op, not the job
        return OpOutcome(127, f"cannot start op: {exc}")
    held.handle = handle
    try:
        with state.store.write(walking=True) as s:
            s.execute(
                timed(
                    text(
                        "UPDATE op_runs SET pid = :pid, pid_create_time = :ct, host = :host, "
                        "status_file = :sf, deadline_at = :dl WHERE id = :id"
                    ),
                    "dl",
                ),
                {
                    "pid": handle.pid,
                    "ct": handle.create_time,
                    "host": state.host,
                    "sf": spec.status_file,
                    "dl": held.deadline,
                    "id": spec.op_run_id,
                },
            )
    except Exception:
        log.exception("could not record pid of op run %s", spec.op_run_id)
    return None
