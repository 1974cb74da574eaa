"""What a reader gets of a job's log, and where it stands in it (see service.reads.Reads.log_read)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LogCursor:
    """Where a reader stands in a job's log: after the database's chunk `at`, or, for a job the database
    holds no log of (run before logs went there, or bulk-loaded by the demo), at byte `at` of the local
    file."""

    in_file: bool
    at: int


@dataclass(frozen=True)
class LogPiece:
    """The log's bytes after a cursor, and the cursor after them."""

    data: bytes
    cursor: LogCursor
    more: bool = False  # the read stopped at its limit: more is there already
    reset: bool = False  # the local file shrank (cut by hand): the log started again


@dataclass(frozen=True)
class LogEnd:
    """The last bytes of a log, how many came before them, and the cursor after them."""

    data: bytes
    before: int
    cursor: LogCursor


# Around what an op wrote to its stderr, in its log (the op starter writes them: see
# engine.worker.opstarter): APC strings, which a terminal shown the raw log ignores.
STDERR_MARK = b"\x1b_stderr\x1b\\"
STDOUT_MARK = b"\x1b_stdout\x1b\\"
# An ESC the op wrote where it could read as a mark's start (before "_", at the end of a read): the
# starter writes it so (an empty APC string). Logs written before it was escaped hold none.
ESCAPED_ESC = b"\x1b_\x1b\\"
_MARKS = {STDERR_MARK: True, STDOUT_MARK: False}
_MARK_START = STDERR_MARK[:2]
_LONGEST = max(len(STDERR_MARK), len(STDOUT_MARK), len(ESCAPED_ESC))


class StreamSplit:
    """A log's bytes, piece by piece, as runs of (bytes, from stderr) with the stream marks taken out and
    the escaped ESCs given back: what the op wrote, byte for byte, and which stream each byte came from. A
    mark split between two pieces is held back until the next piece tells (`final`: no next piece, hold
    nothing)."""

    def __init__(self) -> None:
        self._held = b""
        self._stderr = False  # the bytes being read came from stderr

    def feed(self, data: bytes, final: bool = False) -> list[tuple[bytes, bool]]:
        data, self._held = self._held + data, b""
        runs = _Runs()
        at = 0
        while at < len(data):
            found = data.find(_MARK_START, at)  # found, not sliced: binary output has one every few KB
            if found < 0:
                # An escape at the very end may begin a mark: the next piece says.
                end = len(data) - 1 if data.endswith(b"\x1b") and not final else len(data)
                runs.add(data[at:end], self._stderr)
                self._held = data[end:]
                break
            runs.add(data[at:found], self._stderr)
            rest = data[found : found + _LONGEST]
            if rest.startswith(ESCAPED_ESC):
                runs.add(b"\x1b", self._stderr)
                at = found + len(ESCAPED_ESC)
            elif rest in _MARKS:
                self._stderr = _MARKS[rest]
                at = found + len(rest)
            elif (
                not final and len(rest) < _LONGEST and any(m.startswith(rest) for m in (*_MARKS, ESCAPED_ESC))
            ):
                self._held = data[found:]
                break
            # The op's own, unescaped: a log from before the starter escaped them, or one an op wrote to
            # straight (a kernel without pidfds).
            else:
                runs.add(data[found : found + 2], self._stderr)
                at = found + 2
        return runs.done()

    def text(self, data: bytes, final: bool = False) -> bytes:
        """What the op wrote, marks taken out."""
        return b"".join(run for run, _ in self.feed(data, final))


class _Runs:
    """Runs of bytes of one stream each, joined once."""

    def __init__(self) -> None:
        self._runs: list[tuple[list[bytes], bool]] = []

    def add(self, data: bytes, stderr: bool) -> None:
        if not data:
            return
        if self._runs and self._runs[-1][1] == stderr:
            self._runs[-1][0].append(data)
        else:
            self._runs.append(([data], stderr))

    def done(self) -> list[tuple[bytes, bool]]:
        return [(b"".join(parts), stderr) for parts, stderr in self._runs]


__all__ = ["ESCAPED_ESC", "STDERR_MARK", "STDOUT_MARK", "LogCursor", "LogEnd", "LogPiece", "StreamSplit"]
