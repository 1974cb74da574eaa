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


# Before each line an op wrote to its stderr, in its log (the op starter writes it: see
# engine.worker.opstarter.STDERR_MARK). An APC string, which a terminal shown the raw log ignores.
STDERR_MARK = b"\x1b_stderr\x1b\\"


class StreamSplit:
    """A log's bytes, piece by piece, as runs of (bytes, from stderr) with the stderr marks taken out: what
    the op wrote, byte for byte, and which stream each line came from. A mark split between two pieces is
    held back until the next piece tells (`final`: no next piece, hold nothing)."""

    def __init__(self) -> None:
        self._held = b""
        self._line_start = True
        self._stderr = False  # the line being read came from stderr

    def feed(self, data: bytes, final: bool = False) -> list[tuple[bytes, bool]]:
        data, self._held = self._held + data, b""
        runs = _Runs()
        at = 0
        while at < len(data):
            if self._line_start:
                rest = data[at : at + len(STDERR_MARK)]
                if rest == STDERR_MARK:
                    at += len(STDERR_MARK)
                    self._stderr = True
                elif STDERR_MARK.startswith(rest) and not final:
                    # The mark, or stdout bytes that start like it: the next piece says.
                    self._held = data[at:]
                    break
                else:
                    self._stderr = False
                self._line_start = False
            if not self._stderr:
                # Stdout up to the next line that may start with a mark (finding, not slicing: a log of
                # random bytes has a line start with an escape every few kilobytes).
                next_start = data.find(b"\n" + STDERR_MARK[:1], at)
                if next_start >= 0:
                    runs.add(data[at : next_start + 1], False)
                    self._line_start, at = True, next_start + 1
                    continue
                # None in what is left: stdout to its end, but for a last line that may begin a mark.
                last = data.rfind(b"\n", at) + 1
                if last and last < len(data) and not final and STDERR_MARK.startswith(data[last:]):
                    runs.add(data[at:last], False)
                    self._held, self._line_start = data[last:], True
                    break
                runs.add(data[at:], False)
                self._line_start = data.endswith(b"\n")
                break
            newline = data.find(b"\n", at)
            end = len(data) if newline < 0 else newline + 1
            runs.add(data[at:end], self._stderr)
            self._line_start = newline >= 0
            at = end
        if final and self._held:
            runs.add(self._held, False)
            self._held = b""
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


__all__ = ["STDERR_MARK", "LogCursor", "LogEnd", "LogPiece", "StreamSplit"]
