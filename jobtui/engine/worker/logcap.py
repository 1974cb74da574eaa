"""The cap on how much of one op's output a job's log keeps (setting `op_log_cap_mib`, 64 MiB by default).

The op writes straight into the job's log (append mode), so the engine trims the file back to the cap
each pass while the op runs, counting what it cut, and ends the op's part with a visible marker: a
runaway op cannot fill the disk, and the log says what is missing.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

DEFAULT_CAP_MIB = 64


@dataclass
class LogCap:
    path: str
    start: int  # the log's size when the op started
    limit: int  # how many bytes the op may add
    skipped: int = 0

    @classmethod
    def for_op(cls, path: str, limit: int) -> LogCap:
        try:
            start = os.stat(path).st_size
        except OSError:
            start = 0
        return cls(path, start, limit)

    def enforce(self) -> None:
        """Cut what the op wrote past the cap (appends go on at the new end)."""
        end = self.start + self.limit
        with contextlib.suppress(OSError):
            size = os.stat(self.path).st_size
            if size > end:
                os.truncate(self.path, end)
                self.skipped += size - end

    def marker(self) -> str | None:
        """The line that says what was cut, once the op ended; None when nothing was."""
        self.enforce()
        if not self.skipped:
            return None
        return (
            f"… {self.skipped:,} bytes of this op's output skipped: over the {_mib(self.limit)} MiB a job's "
            "log keeps per op (setting op_log_cap_mib) …"
        )


def _mib(size: int) -> str:
    return f"{size / (1 << 20):g}"
