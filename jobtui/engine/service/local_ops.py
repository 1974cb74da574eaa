"""Stopping a canceled job's op on this host from the service, when no live engine of this host holds the
job (its engine died, or was stopped): what an engine does for an op it lets go, done by the canceller."""

from __future__ import annotations

import contextlib
import os
import signal
import socket

import psutil

from jobtui.engine.db.models import OpRun
from jobtui.engine.domain.processes import is_same_process
from jobtui.engine.worker.runner import describe, processes_with_token


def terminate_local(op_run: OpRun) -> str | None:
    """SIGTERM to a canceled op running on this host: its process group, and what it started outside the
    group (found by its token), even when no engine holds the job any more. Returns what it signalled,
    as the job's log says it (None: nothing of the op runs here)."""
    if op_run.host != socket.gethostname():
        return None
    signalled: list[str] = []
    alive = op_run.pid and is_same_process(op_run.pid, op_run.pid_create_time or 0, op_run.pid_start)
    group = op_run.pid if alive else None
    escaped = [p for p in processes_with_token(op_run.token) if group is None or _group_of(p) != group]
    names = [describe(process) for process in escaped]
    if group is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGTERM)
            signalled.append(f"process group {group}")
    for process in escaped:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    if names:
        signalled.append(f"{len(names)} process(es) it started outside its group: {', '.join(names)}")
    return " and ".join(signalled) or None


def _group_of(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except OSError:
        return None
