"""Stopping a canceled job's op on this host from the service, when no live engine of this host holds the
job (its engine died, or was stopped): what an engine does for an op it lets go, done by the canceller."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import time
from dataclasses import dataclass

import psutil

from jobtui.engine.db.models import OpRun
from jobtui.engine.domain.processes import is_same_process
from jobtui.engine.worker.runner import describe, processes_with_token

# How long a canceller that stops an op itself waits for it to end on SIGTERM before it sends SIGKILL to
# what is left of it, as an engine does for an op it lets go (Engine.kill_grace_s).
KILL_GRACE_S = 5.0
_LOOK_EVERY_S = 0.05


@dataclass(frozen=True)
class Signalled:
    """An op sent SIGTERM by its canceller: its group (None: its process was gone already), and what was
    signalled, as the job's log says it."""

    op_run: OpRun
    group: int | None
    what: str
    owner: int | None = None  # the real uid of its process, looked at before it was signalled


def terminate_local(op_run: OpRun) -> Signalled | None:
    """SIGTERM to a canceled op running on this host: its process group, and what it started outside the
    group (found by its token), even when no engine holds the job any more. None: nothing of the op runs
    here."""
    if op_run.host != socket.gethostname():
        return None
    signalled: list[str] = []
    alive = op_run.pid and is_same_process(op_run.pid, op_run.pid_create_time or 0, op_run.pid_start)
    group = op_run.pid if alive else None
    owner = _owner_of(group) if group is not None else None
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
    return Signalled(op_run, group, " and ".join(signalled), owner) if signalled else None


def _owner_of(pid: int) -> int | None:
    try:
        return int(psutil.Process(pid).uids().real)
    except psutil.Error:
        return None


def may_write_for(path: str, stopped: Signalled) -> bool:
    """Whether a canceller may write the op's log at `path` (in its engine's folder, as the op's status
    reference in the database names it): a folder, not a link to one; run as root, only one owned by the
    op's own user, so that whoever can write the database cannot steer root's writes elsewhere (the file
    itself is opened with O_NOFOLLOW)."""
    try:
        folder = os.lstat(os.path.dirname(path) or ".")
    except OSError:
        return False
    if not stat.S_ISDIR(folder.st_mode):
        return False
    return os.geteuid() != 0 or folder.st_uid == stopped.owner


def append(path: str, text: str) -> None:
    """Append `text` to the op's log at `path` (nothing when it cannot be)."""
    if not path:
        return
    with contextlib.suppress(OSError):
        fd = _open_for_append(path)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


def append_placed(path: str, text: str) -> tuple[int, int] | None:
    """Append `text` to the log at `path`; where in the file it went, start and end (None: nowhere). The
    op may still append too: the file's size afterwards does not say."""
    if not path:
        return None
    try:
        fd = _open_for_append(path)
    except OSError:
        return None
    try:
        written = os.write(fd, text.encode())
        end = os.lseek(fd, 0, os.SEEK_CUR)  # just past what this write appended
        return end - written, end
    except OSError:
        return None
    finally:
        os.close(fd)


def _open_for_append(path: str) -> int:
    """Open the op's log to append to, creating it if need be. One root creates (`sudo jobtui cancel` of a
    silent op, whose file comes with its first byte) is given to the owner of its folder: the engine and
    the op, running as that user, append to it after."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # nor wait on a FIFO
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return os.open(path, flags)
    if os.geteuid() == 0:
        folder = os.stat(os.path.dirname(path) or ".")
        with contextlib.suppress(OSError):
            os.fchown(fd, folder.st_uid, folder.st_gid)
    return fd


def kill_what_outlives(signalled: list[Signalled], grace_s: float | None = None) -> dict[int, str]:
    """Wait up to the grace period for the ops sent SIGTERM to end, then SIGKILL to whatever of them still
    runs: an op that ignores SIGTERM ran on for good when no engine of its host was there to escalate.
    By op run id, the processes killed, as the job's log says them."""
    deadline = time.monotonic() + (KILL_GRACE_S if grace_s is None else grace_s)
    left = [op for op in signalled if _still_running(op)]
    while left and time.monotonic() < deadline:
        time.sleep(_LOOK_EVERY_S)  # real processes ending in real time: nothing to wait on but them
        left = [op for op in left if _still_running(op)]
    killed: dict[int, str] = {}
    for op in left:
        processes = _still_running(op)
        names = [describe(process) for process in processes]  # while they are there to describe
        if op.group is not None:  # the group at once: a shell forks anew between a listing and its kills
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(op.group, signal.SIGKILL)
        for process in processes:
            with contextlib.suppress(psutil.Error):
                process.kill()
        if names:
            killed[op.op_run.id or 0] = ", ".join(names)
    return killed


def _still_running(op: Signalled) -> list[psutil.Process]:
    """The op's processes still alive (zombies aside): its group's, and those carrying its token."""
    found = {process.pid: process for process in processes_with_token(op.op_run.token)}
    if op.group is not None:
        for process in psutil.process_iter(["pid"]):
            with contextlib.suppress(psutil.Error, OSError):
                if process.pid not in found and os.getpgid(process.pid) == op.group:
                    found[process.pid] = process
    alive = []
    for process in found.values():
        with contextlib.suppress(psutil.Error):
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
    return alive


def _group_of(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except OSError:
        return None
