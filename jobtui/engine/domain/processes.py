"""Whether a recorded (pid, create time) is still the process it names. Kept free of SQLAlchemy so the
monitor's fast read path can ask it before the engine is imported."""

from __future__ import annotations

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
