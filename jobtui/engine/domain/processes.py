"""Whether a recorded process is still the process it names. Kept free of SQLAlchemy so the monitor's fast
read path can ask it before the engine is imported.

A pid is reused once its process is gone: what it started tells the same process from a new one. Its
*start* ("<boot id>:<clock ticks since boot>", both read from /proc) says so exactly and for good. Its
create time (wall-clock seconds, psutil's) is kept for rows recorded before starts were: it is the boot's
wall-clock time plus the ticks, and that boot time moves when the wall clock is stepped (NTP, a resumed
virtual machine), so two processes that read it either side of a step disagree about every process's create
time by whole seconds, and a live engine would read as gone."""

from __future__ import annotations

import functools

import psutil

CREATE_TIME_TOLERANCE_S = 0.05


def is_same_process(pid: int, create_time: float, start: str | None = None) -> bool:
    """Whether `pid` is still the live process (not a zombie) that started at `start` (else: was created
    at `create_time`)."""
    if start and boot_id():
        stat = _stat_fields(pid)
        return stat is not None and stat[0] != b"Z" and _start_in(stat) == start
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(proc.create_time() - create_time) < CREATE_TIME_TOLERANCE_S
    except psutil.Error:
        return False


def is_stopped(pid: int) -> bool:
    """Whether `pid` is stopped (SIGSTOP, a debugger's stop): it does nothing until it is continued."""
    stat = _stat_fields(pid)
    if stat is not None:
        return stat[0] in (b"T", b"t")
    try:
        return psutil.Process(pid).status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
    except psutil.Error:
        return False


def is_unreaped_process(pid: int, create_time: float, start: str | None = None) -> bool:
    """Whether the process is still there, running or a zombie its parent has not reaped yet (an op's starter
    writes its status before reaping it)."""
    if start and boot_id():
        stat = _stat_fields(pid)
        return stat is not None and _start_in(stat) == start
    try:
        return abs(psutil.Process(pid).create_time() - create_time) < CREATE_TIME_TOLERANCE_S
    except psutil.Error:
        return False


def start_of(pid: int) -> str | None:
    """Process `pid`'s start, "<boot id>:<clock ticks since boot>" (None when it is gone or /proc cannot
    say): the same in every process that asks, whatever the wall clock did."""
    stat = _stat_fields(pid)
    return None if stat is None or not boot_id() else _start_in(stat)


@functools.cache
def boot_id() -> str:
    """This boot's id, "" where the system does not say it (then only create times are compared)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command's name (state first), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rpartition(b")")[2].split()
    except OSError:
        return None


def _ticks_in(stat: list[bytes]) -> int | None:
    try:
        return int(stat[19])
    except (IndexError, ValueError):
        return None


def _start_in(stat: list[bytes]) -> str | None:
    ticks = _ticks_in(stat)
    return None if ticks is None else f"{boot_id()}:{ticks}"
