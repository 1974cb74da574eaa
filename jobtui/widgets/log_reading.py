"""Reading a job's log for a screen: incrementally, from the database the engines ship logs to, as text a
terminal can show (LogText), jumping ahead when an op writes faster than anyone reads."""

from __future__ import annotations

import codecs
import re
from typing import Protocol

from jobtui.engine.domain.logread import LogCursor, LogEnd, LogPiece, StreamSplit
from jobtui.engine.domain.text import VisibleStream

LOG_TAIL_BYTES = 64 * 1024
# Further behind than this, the tail jumps to the newest output instead of replaying it: an op can write
# far faster than a screen can show, and the operator wants to see what it does now.
LOG_CATCH_UP_BYTES = 1024 * 1024
# Longer lines are cut for display (the file keeps them whole; `jobtui log` prints them).
LOG_LINE_CHARS = 4000
LINE_CUT = " [\u2026]"
# The full log view (`l`) shows the end of the log, at most this much of it.
FULL_LOG_BYTES = 8 * 1024 * 1024
FULL_LOG_LINES = 20000
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# The start of an escape sequence a piece's edge may have cut (a CSI's parameters, an OSC's text or the
# first half of its ESC \\ end), or a CR whose LF may start the next piece: held back until it comes.
_CUT_AT_THE_END = re.compile(r"(?:\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?)?|\r)\Z")
# An OSC longer than this is no title or link: what was held back is shown, not kept waiting.
_HOLD_AT_MOST = 4096


class LogText:
    """Bytes of one log, piece by piece, as text a terminal can show: UTF-8 with U+FFFD for what is not
    (a character split between two pieces is kept whole), no control sequences, long lines cut. A joiner
    or variation selector split from its neighbours by a piece's edge is shown as it is in one piece (a
    trailing one waits for the next piece, or `final`)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._visible = VisibleStream(keep="\n\t")
        self._cut = ""  # the end of the last piece, perhaps cut short: an escape sequence's start, a CR
        self.line_chars = 0  # characters of the current (unfinished) line shown so far; past the limit: cut

    def feed(self, data: bytes, final: bool = False) -> str:
        """The text of `data`; `final`: the log ends here (what was held back is shown)."""
        text = self._cut + self._decoder.decode(data, final)
        self._cut = ""
        cut = None if final else _CUT_AT_THE_END.search(text, max(0, len(text) - _HOLD_AT_MOST))
        if cut is not None:
            # A colour code or CR LF cut in two by a piece's edge read as "\ufffd[3" then "1m", or as two
            # line ends; as in one piece, it waits for the rest.
            text, self._cut = text[: cut.start()], text[cut.start() :]
        text = _ESCAPES.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
        # What is left that a terminal would not show as it is (bidi overrides, zero-width spaces) reads
        # as its code, as everywhere else on screen.
        text = self._visible.feed(_CONTROLS.sub("\ufffd", text), final)
        parts = []
        for n, piece in enumerate(text.split("\n")):
            if n:
                parts.append("\n")
                self.line_chars = 0
            room = LOG_LINE_CHARS - self.line_chars
            if room < 0:  # this line was cut already
                continue
            if len(piece) > room:
                piece = piece[:room] + LINE_CUT
                self.line_chars = LOG_LINE_CHARS + 1
            else:
                self.line_chars += len(piece)
            parts.append(piece)
        return "".join(parts)


def bytes_text(size: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def from_line_start(data: bytes) -> bytes:
    """Data read from the middle of a log, from its first whole line on (unless that is far away)."""
    newline = data.find(b"\n", 0, 4 * LOG_LINE_CHARS)
    return data[newline + 1 :] if newline >= 0 else data


class LogSource(Protocol):
    """Where a log is read from (service.reads.Reads: the database the engines ship logs to)."""

    def log_read(
        self, job_id: int, cursor: LogCursor | None, max_bytes: int, verb: str = "log"
    ) -> LogPiece: ...

    def log_end(self, job_id: int, max_bytes: int, verb: str = "log") -> LogEnd: ...


class LogFollower:
    """Reads a job's log incrementally as bytes: the last `tail_bytes` first, then only what was appended,
    jumping to the newest output when it falls more than LOG_CATCH_UP_BYTES behind."""

    def __init__(self, tail_bytes: int = LOG_TAIL_BYTES) -> None:
        self.tail_bytes = tail_bytes
        self.job_id: int | None = None
        self.cursor: LogCursor | None = None
        self.seen = 0  # bytes of the log up to the cursor (read or skipped)

    def read(self, job_id: int, source: LogSource) -> tuple[bytes, int, bool]:
        """(new bytes, bytes skipped before them, whether the log starts again: another job, or cut). After
        a skip the bytes start at a line start."""
        reset = job_id != self.job_id
        if reset:
            self.job_id, self.cursor = job_id, None
        skipped = 0
        data = b""
        if self.cursor is not None:
            piece = source.log_read(job_id, self.cursor, LOG_CATCH_UP_BYTES)
            if piece.reset:  # the log was cut: start again
                self.cursor, reset = None, True
            elif piece.more:  # far behind: jump to the newest output
                end = source.log_end(job_id, self.tail_bytes)
                skipped = max(0, end.before - self.seen)
                data, self.cursor, self.seen = end.data, end.cursor, end.before + len(end.data)
            else:
                data, self.cursor = piece.data, piece.cursor
                self.seen += len(data)
        if self.cursor is None:
            end = source.log_end(job_id, self.tail_bytes)
            data, skipped, self.cursor, self.seen = (
                end.data,
                end.before,
                end.cursor,
                end.before + len(end.data),
            )
        if skipped:
            whole = from_line_start(data)
            skipped, data = skipped + len(data) - len(whole), whole
        return data, skipped, reset


class LogTail:
    """A job's log as text to append to the detail pane's tail (LogFollower's bytes, cleaned, the stderr
    marks taken out), saying where output was skipped."""

    def __init__(self) -> None:
        self._follower = LogFollower()
        self._text = LogText()
        self._split = StreamSplit()

    @property
    def job_id(self) -> int | None:
        return self._follower.job_id

    def read(self, job_id: int, source: LogSource) -> tuple[str, bool]:
        data, skipped, reset = self._follower.read(job_id, source)
        if not skipped:
            if reset:
                self._text, self._split = LogText(), StreamSplit()
            return self._text.feed(self._split.text(data)), reset
        # The note goes on a line of its own, also when the last read stopped mid-line (after what was
        # held back of that line).
        held = "" if reset else self._text.feed(b"", final=True)
        note = f"[\u2026 {bytes_text(skipped)} \u2026]\n"
        if self._text.line_chars and not reset:
            note = held + "\n" + note
        self._text, self._split = LogText(), StreamSplit()
        return note + self._text.feed(self._split.text(data)), reset
