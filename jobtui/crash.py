"""Unexpected errors: the traceback goes to a file in the user's log folder, the user reads one line.

Shared by the dashboard and the CLI: no traceback ever reaches the terminal, and a crash exits non-zero.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

import pendulum
import platformdirs


def crash_log_dir() -> Path:
    return Path(platformdirs.user_log_dir("jobtui"))


def write_crash_log(error: BaseException) -> Path | None:
    """Write `error`'s traceback to a new file in crash_log_dir(); its path, or None if it cannot."""
    now = pendulum.now("UTC")
    text = "".join(traceback.format_exception(error))
    inner = getattr(error, "error", None)
    if isinstance(inner, BaseException):
        # A failed worker (Textual's WorkerFailed) is made, not raised: it has no traceback of its own. The
        # error the worker raised has the one that says where (the log held one line).
        text += "\nThe worker's error:\n\n" + "".join(traceback.format_exception(inner))
    try:
        folder = crash_log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{now.format('YYYYMMDD-HHmmss')}-{os.getpid()}.log"
        path.write_text(f"jobtui crashed at {now.to_iso8601_string()}\n\n{text}", encoding="utf-8")
    except OSError:
        return None
    return path


def one_line(error: BaseException) -> str:
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
