"""The cap on how much of one op's output a job's log keeps (setting `op_log_cap_mib`, 64 MiB by default).

The op writes straight into the job's log (append mode), so the engine trims the file back to the cap
(while the op runs, once it is far past it; exactly when it ended), counting what it cut, and ends the
op's part with a visible marker: a runaway op cannot fill the disk, and the log says what is missing.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

DEFAULT_CAP_MIB = 64
# How far past its cap an op's log may grow while the op runs before it is cut: the disk stays bounded,
# and an op that writes a little past its cap is cut once, when it ended, with an exact count.
RUNNING_SLACK = 16 << 20


@dataclass
class LogCap:
    path: str
    start: int  # the log's size when the op started
    limit: int  # how many bytes the op may add
    skipped: int = 0
    exact: bool = True  # no cut while the op was writing (see enforce)

    def enforce(self, final: bool = False, at_once: bool = False) -> None:
        """Cut what the op wrote past the cap (appends go on at the new end). While the op runs, only once
        it is RUNNING_SLACK past it (or `at_once`: the engine is about to write a line of its own after the
        op's output): bytes the op appends between the size check and the cut are lost uncounted, so cuts
        while it writes are kept rare and the marker then says "at least"."""
        end = self.start + self.limit
        with contextlib.suppress(OSError):
            size = os.stat(self.path).st_size  # the engine's pass asks of every running op: one call
            if size > end and (final or at_once or size > end + RUNNING_SLACK):
                # Cut through a descriptor, never a symbolic link: a canceller run as root cuts a log in
                # another user's folder (`Actions.terminate_and_log`).
                fd = os.open(self.path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
                try:
                    size = os.fstat(fd).st_size
                    if size > end:
                        os.ftruncate(fd, end)
                        self.skipped += size - end
                        self.exact = self.exact and final
                finally:
                    os.close(fd)

    def marker(self) -> str | None:
        """The line that says what was cut, once the op ended; None when nothing was."""
        self.enforce(final=True)
        return skipped_text(self.skipped, self.exact, self.limit) if self.skipped else None


def skipped_text(skipped: int, exact: bool, limit: int) -> str:
    """The marker's words: how many bytes were cut, over a share of `limit` bytes."""
    count = f"{skipped:,}" if exact else f"at least {skipped:,}"
    return (
        f"… {count} bytes of this op's output skipped: over the {_mib(limit)} MiB a job's "
        "log keeps per op (setting op_log_cap_mib) …"
    )


def after_line(cap: LogCap, line_at: int, line_end: int) -> LogCap:
    """The cap on what the op writes after a line of the engine's (at `line_at`, ending at `line_end`) in
    the middle of its output: what is left of its share (what came before the line counts), the bytes cut
    so far carried, so that one marker says how many were cut in all."""
    left = max(0, cap.start + cap.limit - line_at)
    return LogCap(cap.path, line_end, left, cap.skipped, cap.exact)


def _mib(size: int) -> str:
    return f"{size / (1 << 20):g}"
