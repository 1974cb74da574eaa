"""Whether a recorded (pid, create time) is still the process it names. Kept free of SQLAlchemy so the
monitor's fast read path can ask it before the engine is imported."""

from __future__ import annotations

import functools
import os

import psutil

# A pid is reused once its process is gone: only the create time tells the same process from a new one.
CREATE_TIME_TOLERANCE_S = 0.05


def is_same_process(pid: int, create_time: float) -> bool:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(proc.create_time() - create_time) < CREATE_TIME_TOLERANCE_S
    except psutil.Error:
        return False


def is_unreaped_process(pid: int, create_time: float) -> bool:
    """Whether the process is still there, running or a zombie its parent has not reaped yet (an op's starter
    writes its status before reaping it)."""
    try:
        return abs(psutil.Process(pid).create_time() - create_time) < CREATE_TIME_TOLERANCE_S
    except psutil.Error:
        return False


def create_time_of(pid: int) -> float:
    """When process `pid` started, as psutil's `create_time` says it (0.0 when it is gone). On Linux one
    read of /proc/<pid>/stat: the engine asks it of every op it spawns."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rpartition(b")")[2].split()
        return int(fields[19]) / _clock_ticks() + _boot_time()
    except (OSError, IndexError, ValueError):
        try:
            return psutil.Process(pid).create_time()
        except psutil.Error:
            return 0.0


@functools.cache
def _clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


@functools.cache
def _boot_time() -> float:
    return psutil.boot_time()
