"""An op starter: a small process of the engine's, one per worker slot, that starts that slot's ops one at a
time and waits for each; run as `python -S -E -c BOOT` (see BOOT: the standard library only).

For each op it is asked to start (a length-prefixed tuple, `marshal`ed, on its stdin) it records the op as
"started" in its engine's status journal, then spawns the op (`posix_spawn`: no fork of a large process, no
shell) in a session of its own, and answers with the op's pid (on its stdout). The op's stdout and stderr are
two pipes the starter appends to the job's log as they come, each stderr line after a mark, so readers can
tell them apart. The op's first line (the engine's "started") goes to the log just before the op's first byte,
or once the op has run SILENT_S without a word, or once the engine is gone: an op that exits silently leaves
the log untouched, and the engine ships its line with the op's end. When the op exits the starter appends what
its pipes still hold, records its exit status in the journal *before* reaping it, so whoever sees the op gone
finds its output and status, then answers with the exit code and whether it wrote the first line. A short
silent op thus creates no file: creating one (the log, a status file) cost as much as the rest of its start,
and more in the kernel's journal.

Why a process of its own: the status of an op that ends while its engine is away (killed, restarting) is
still written, by a parent that runs no code but this; and the spawn costs the engine's interpreter nothing.
Why one per slot: a slot runs one op at a time, so a starter killed (`kill -9 $PPID` from the op) loses the
status of that one op only (ABEND), as a wrapper per op would, without a wrapper's fork and exec per op.
It runs in a session of its own, so a signal to the engine's process group leaves it. Once the engine closes
its stdin (or dies) it exits, after its op if one runs.
"""

from __future__ import annotations

import errno
import marshal
import os
import resource
import select
import struct
import sys
import time

# Every engine slot starts a starter, so what it imports is paid at each engine's start: `signal` (its
# enums), `pickle`, `contextlib` and `re` tripled a starter's start (17 → 57 ms of CPU). It imports the C
# `_signal` and `marshal` instead, `re` only for an op that cannot start, and not even `typing`.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    import signal
    from collections.abc import Mapping, Sequence
else:
    import _signal as signal


class _suppress:
    """contextlib.suppress, which the starter does not import."""

    __slots__ = ("_kinds",)

    def __init__(self, *kinds: type[BaseException]) -> None:
        self._kinds = kinds

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, value: object, traceback: object) -> bool:
        return kind is not None and issubclass(kind, self._kinds)


# The last word of a starter's command line: what tells a starter (an op's parent) from other processes.
STARTER_NAME = "jobtui-op"
STARTED = b"started\n"
FILE_TYPE, REGULAR_FILE = 0o170000, 0o100000  # stat's S_IFMT and S_IFREG (the starter imports no `stat`)
HEADER = struct.Struct("!I")
# Never through a symbolic link: a log folder is shared by a group (README), whose members could plant one
# to a file of the engine's user for the op's output to go to (and from there to the database); nor wait on
# a FIFO planted there (opened to write, it blocks until someone reads it: the engine would hang). Neither
# flag changes anything for a regular file.
_PLANTED = os.O_NOFOLLOW | os.O_NONBLOCK
APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _PLANTED | os.O_CLOEXEC
APPEND_READABLE = os.O_RDWR | os.O_APPEND | os.O_CREAT | _PLANTED | os.O_CLOEXEC  # see OpLog._there
READ = os.O_RDONLY | _PLANTED | os.O_CLOEXEC  # what the engine reads of a log folder: logs, journals
REQUESTS, REPLIES = 0, 1
# Python ignores these; an op gets them back at their defaults, as subprocess's restore_signals does.
RESTORED_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)
NOT_FOUND, NOT_EXECUTABLE = 127, 126
# In an op's status reference, between its engine's status journal and the op's token: each op's status is
# a line of that journal, "<token> started" then "<token> <exit status>" (a file per op cost a file
# creation an op, as much as the rest of a short op's start). A reference without it is a file of its own
# (ops started before the journals).
STATUS_MARK = "#op="
# Around what an op writes to its stderr, in its log (domain.logread's marks, which readers take out:
# kept equal by a test, as this file imports nothing of jobtui). APC strings: a terminal shown the raw log
# ignores them.
STDERR_MARK = b"\x1b_stderr\x1b\\"
STDOUT_MARK = b"\x1b_stdout\x1b\\"
# An op's own ESC that a reader could take for a mark's start is written as ESCAPED_ESC, which readers give
# back as the ESC: one followed by "_", and one ending a read (the next read may begin with "_"). An empty
# APC string, which a terminal shown the raw log ignores too.
MARK_START = STDERR_MARK[:2]
ESCAPED_ESC = b"\x1b_\x1b\\"
_ESCAPED_MARK_START, _ESCAPED_ESC_REST = ESCAPED_ESC + b"_", ESCAPED_ESC[1:]
READ_BYTES = 64 * 1024
# An op silent this long has its first line written (the engine holds a silent call op's as long).
SILENT_S = 1.0
# An op that ends this soon after its spawn is told in one answer, its pid with its end: half the round
# trips of a short op (`true`), and no read of its start time; a longer one's pid is told this much later
# (a terminate waits for it: the slot holds the op's handle until it knows the pid).
QUICK_S = 0.005
QUICK_S_FLAG = "--quick-s="  # the starter's argument that sets it (before its last word, STARTER_NAME)
FIRST_LINE_SEARCH = 64 * 1024  # how far into the op's part of the log its first line is looked for
DRAIN_READS = 256  # 16 MB: more than a pipe holds, bounded when something left behind keeps writing


# Pipes (the running op's two among them) the starter pumps at most: those of ended ops are still held by
# what they left running; past this many the oldest is closed. Each costs two descriptors (pipe, log).
def _pipes_at_most() -> int:
    """LINGERING: within the descriptors the starter may open (ops inherit its limit, left as it is)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(8, min(1024, (soft - 64) // 2))


LINGERING = _pipes_at_most()


def _can_capture() -> bool:
    """Whether the op's output can go through the starter: it needs a pidfd to see the op end while its
    pipes stay open (Linux 5.3); without one the op writes straight to its log, unmarked."""
    try:
        os.close(os.pidfd_open(os.getpid()))
        return True
    except (AttributeError, OSError):
        return False


CAPTURE = _can_capture()


def serve(quick_s: float = QUICK_S) -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    engine = True  # gone once a reply cannot be written: the op's status is still
    base: dict[str, str] = {}
    pumps = Pumps()
    requests = MessageReader(REQUESTS)
    while True:
        if not requests.holds_one():
            pumps.until_readable(REQUESTS)
        request = requests.next()
        if request is None:
            pumps.linger()
            return
        request_id, argv, env_base, env_changes, log, first_line, status = request
        assert isinstance(argv, list) and isinstance(env_changes, dict) and isinstance(first_line, bytes)
        assert isinstance(log, str) and isinstance(status, str)
        if isinstance(env_base, dict):
            base = env_base
        env = {**base, **env_changes}
        started = start(argv, env, log, first_line, status, pumps)
        if isinstance(started, NotRunnable):
            engine = engine and reply(request_id, "error", started.why, started.code)
            continue
        pid, log_start, op_log = started
        pidfd = os.pidfd_open(pid) if pumps.running else -1  # a zombie's too: reaped by `wait`, not before
        quick = pidfd >= 0 and pidfd in pumps.until_ready([pidfd, REQUESTS], quick_s)
        if not quick:
            engine = engine and reply(request_id, "pid", pid, *identity_of(pid), log_start)
        code = wait(pid, pidfd, status, pumps, op_log)
        if quick:  # one answer says it all, its pid with its end: half the round trips of a short op
            engine = engine and reply(request_id, "ended", pid, log_start, code, op_log.written, op_log.lost)
        else:
            engine = engine and reply(request_id, "exit", code, op_log.written, op_log.lost)
        if not engine:
            op_log.write_first_line()  # nobody left to ship it
        # Else its engine ships it with the op's end: what the op left running writes after it alone.
        op_log.written = True


def first_line_at(fd: int, start: int, first_line: bytes) -> bool:
    """Whether the log open on `fd` holds the op's first line in the op's part of it (from `start`, its
    size when the op started: what an earlier op left running may have written there first), whatever
    its stamp: the starter, the engine and a cancel each stamp it with their own clock."""
    return b"] " + first_line.partition(b"] ")[2] in os.pread(fd, FIRST_LINE_SEARCH, start)


class OpLog:
    """The job's log as one op writes to it: opened (created if need be) when something is first written,
    the op's first line before anything else, unless the engine or a cancel wrote it there first (each
    does before its own line about the op: its termination)."""

    __slots__ = ("first_line", "lost", "path", "start", "written")

    def __init__(self, path: str, first_line: bytes, start: int) -> None:
        self.path, self.first_line = path, first_line
        self.start = start  # the log's size when the op started
        self.written = not first_line
        # Why output did not reach the log (a full disk: "No space left on device"), told to the engine
        # with the op's end; "" while nothing was lost.
        self.lost = ""

    def losing(self, exc: OSError) -> None:
        if not self.lost:
            self.lost = exc.strerror or str(exc)

    def open(self) -> int:
        """A descriptor appending to the log, the op's first line written to it first if it is not yet."""
        fd = os.open(self.path, APPEND_READABLE, 0o644)
        if not self.written:
            self.written = True
            try:
                if not self._there(fd):
                    os.write(fd, self.first_line)
            except OSError:
                os.close(fd)
                raise
        return fd

    def _there(self, fd: int) -> bool:
        """Whether someone wrote the first line already (the engine or a cancel, before their own line)."""
        return first_line_at(fd, self.start, self.first_line)

    def write_first_line(self) -> None:
        """Now, even with nothing else to write (given up on a disk that refuses it: it is not retried)."""
        if not self.written:
            try:
                os.close(self.open())
            except OSError as exc:
                self.losing(exc)
            self.written = True


class Pump:
    """One op's stdout or stderr: a pipe whose bytes the starter appends to the op's log, what came from
    stderr between STDERR_MARK and STDOUT_MARK, in one write (so it is whole whatever else writes to the
    log: the engine's lines, what another op left running). Both go through the starter, so the log keeps
    them in the order the starter reads them (two writes to the two streams microseconds apart may swap;
    a terminal would keep them)."""

    __slots__ = ("fd", "log", "marked", "op_log")

    def __init__(self, fd: int, op_log: OpLog, marked: bool) -> None:
        self.fd, self.op_log, self.marked = fd, op_log, marked
        self.log = -1  # opened with the pipe's first bytes

    def pump(self) -> bool:
        """Append what the pipe holds now to the log; False at its end (closed then)."""
        try:
            data = os.read(self.fd, READ_BYTES)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            self.close()
            return False
        data = relayed(data, self.marked)
        try:  # a full disk loses output, never the op's status: the engine is told with the op's end
            if self.log < 0:
                self.log = self.op_log.open()
            view = memoryview(data)
            while view:
                view = view[os.write(self.log, view) :]
        except OSError as exc:
            self.op_log.losing(exc)
        return True

    def close(self) -> None:
        for fd in (self.fd, self.log):
            if fd >= 0:
                with _suppress(OSError):
                    os.close(fd)


def relayed(data: bytes, from_stderr: bool) -> bytes:
    """What the log gets of one read of an op's stdout or stderr: its bytes, byte for byte once readers
    take out the marks (even the marks' own bytes, written by the op), stderr's between the marks."""
    # Most output holds no ESC: a search for one byte (memchr) costs a read of READ_BYTES under a
    # microsecond, one for MARK_START's two bytes some 50.
    if b"\x1b" in data:
        data = data.replace(MARK_START, _ESCAPED_MARK_START)
        if data.endswith(b"\x1b"):
            data += _ESCAPED_ESC_REST
    return STDERR_MARK + data + STDOUT_MARK if from_stderr else data


class Pumps:
    """Every pipe the starter pumps: the running op's, and those of ops that ended while something they
    started (in the background) still holds them: that keeps writing to its job's log file, never to a
    closed pipe (SIGPIPE), for as long as it holds them (`linger` when the starter leaves), up to
    LINGERING pipes (past them the oldest is closed)."""

    def __init__(self) -> None:
        self.open: dict[int, Pump] = {}
        self.running: list[int] = []  # the running op's pipes
        self._poll = select.poll()

    def add(self, pump: Pump) -> None:
        self.open[pump.fd] = pump
        self._poll.register(pump.fd, select.POLLIN)
        while len(self.open) > LINGERING:
            self._close(next(iter(self.open)))

    def until_readable(self, fd: int) -> None:
        """Pump the pipes until `fd` is readable (a negative `fd`: until every pipe is closed)."""
        self.until_ready([fd] if fd >= 0 else [], None)

    def until_ready(self, fds: Sequence[int], timeout: float | None) -> set[int]:
        """Pump the pipes until one of `fds` is readable (none given: until every pipe is closed); which
        are, or none once `timeout` (seconds) passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for fd in fds:
            self._poll.register(fd, select.POLLIN)
        try:
            while fds or self.open:
                wait_ms = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000) + 1)
                ready = {ready_fd for ready_fd, _ in self._poll.poll(wait_ms)}
                for ready_fd in ready.difference(fds):
                    self.pump(ready_fd)
                if found := ready.intersection(fds):
                    return found
                if deadline is not None and time.monotonic() >= deadline:
                    return set()
            return set()
        finally:
            for fd in fds:
                self._poll.unregister(fd)

    def pump(self, fd: int) -> None:
        pump = self.open.get(fd)
        if pump is not None and not pump.pump():
            del self.open[fd]
            self._poll.unregister(fd)

    def _close(self, fd: int) -> None:
        self.open.pop(fd).close()
        self._poll.unregister(fd)

    def drain(self, fds: Sequence[int]) -> None:
        """What these pipes hold now (their op ended): to the log before its status is written. At most
        DRAIN_READS reads a pipe: what the op left running may write on; that is pumped later."""
        for fd in fds:
            for _ in range(DRAIN_READS):
                if fd not in self.open or not select.select([fd], [], [], 0)[0]:
                    break
                self.pump(fd)

    def linger(self) -> None:
        """The starter is leaving (its engine stopped): a child of its own pumps what ops left running
        still hold, until they let go, so they never write to a closed pipe."""
        if not self.open:
            return
        with _suppress(OSError):
            if os.fork() == 0:
                for fd in (REQUESTS, REPLIES):  # the engine sees the starter leave, not this child
                    with _suppress(OSError):
                        os.close(fd)
                with _suppress(BaseException):
                    self.until_readable(-1)
                os._exit(0)


class MessageReader:
    """The length-prefixed messages (`marshal`ed tuples) coming on `fd`, read as many bytes at a time as are
    there: one read a message (a second read for its body cost a system call, and the engine's slot its
    interpreter lock)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = b""

    def holds_one(self) -> bool:
        """Whether a whole message was read already."""
        if len(self._buffer) < HEADER.size:
            return False
        return len(self._buffer) >= HEADER.size + HEADER.unpack_from(self._buffer)[0]

    def next(self) -> tuple[object, ...] | None:
        """The next message; None at the end of `fd` (a message cut short by it is none)."""
        while not self.holds_one():
            chunk = os.read(self.fd, READ_BYTES)
            if not chunk:
                return None
            self._buffer += chunk
        end = HEADER.size + HEADER.unpack_from(self._buffer)[0]
        body, self._buffer = self._buffer[HEADER.size : end], self._buffer[end:]
        message = marshal.loads(body)
        assert isinstance(message, tuple)
        return message


def write_message(fd: int, message: tuple[object, ...]) -> None:
    data = marshal.dumps(message)  # type: ignore[arg-type]  # of str, bytes, numbers, lists and dicts
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def reply(*message: object) -> bool:
    """Whether the engine is still there to hear it."""
    try:
        write_message(REPLIES, message)
        return True
    except OSError:
        return False


def start(
    argv: list[str], env: dict[str, str], log: str, first_line: bytes, status: str, pumps: Pumps
) -> tuple[int, int, OpLog] | NotRunnable:
    """(the op's pid, the log's size before the op could write to it, the log as the op writes to it), or
    why it could not start."""
    write_status(status, STARTED)  # before the spawn: a trace the op may have run, whatever follows
    fd = -1  # the log itself, for an op writing straight to it (no pidfd to capture with)
    try:
        size = _writable_size(log)
        op_log = OpLog(log, first_line, size)
        if CAPTURE:
            log_start = size + len(first_line)
        else:
            fd = op_log.open()
            log_start = os.lseek(fd, 0, os.SEEK_END)
    except OSError as exc:
        return NotRunnable(NOT_FOUND, f"{exc.strerror or exc}: {log}")
    # The op's stdout and stderr: (read end, write end), made before the spawn, so no descriptor running
    # short after it can cost the op its status.
    outputs: list[tuple[int, int]] = []
    try:
        if CAPTURE:
            for _ in range(2):
                read, write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
                outputs.append((read, write))
                os.set_blocking(write, True)  # the op writes as to a file; the starter never waits on a read
        pid = spawn(argv, env, [write for _, write in outputs] or [fd, fd])
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the command or its environment
        for ends in outputs:
            for end in ends:
                os.close(end)
        if fd >= 0:
            os.close(fd)
        return NotRunnable(NOT_FOUND, str(exc))
    for n, (read, write) in enumerate(outputs):
        os.close(write)
        pumps.add(Pump(read, op_log, marked=n == 1))
    if fd >= 0:
        os.close(fd)
    if isinstance(pid, NotRunnable):
        # As under a shell: exit 127 for no such program, 126 for one that cannot be run; said in its log.
        with _suppress(OSError):
            fd = op_log.open()
            try:
                os.write(fd, f"{STARTER_NAME}: {shown(argv[0])}: {shown(pid.why)}\n".encode())
            finally:
                os.close(fd)
        pumps.drain([read for read, _ in outputs])
        write_status(status, f"{pid.code}\n".encode())
        return NotRunnable(pid.code, f"{argv[0]}: {pid.why}")
    pumps.running = [read for read, _ in outputs]
    return pid, log_start, op_log


def _writable_size(path: str) -> int:
    """The log's size (0 while it does not exist); OSError when it could not be written: an op whose
    output would be lost is not started."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        folder = os.path.dirname(path) or "."
        if not os.path.isdir(folder):
            raise  # as opening it would say: no such folder
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES)) from None
        return 0
    if found.st_mode & FILE_TYPE != REGULAR_FILE:  # a link planted in a shared folder, a FIFO that blocks
        raise OSError(errno.EPERM, "not a regular file (a symbolic link is never written through)")
    if not os.access(path, os.W_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    return found.st_size


def wait(pid: int, pidfd: int, status: str, pumps: Pumps, op_log: OpLog) -> int:
    """The op's exit code, as subprocess gives it (negative: the signal that killed it), once its output
    and its status (as a shell gives it: 128 + the signal) are in their files. `pidfd` is the op's
    (closed here), -1 when its output is not captured."""
    if pumps.running:
        try:
            while op_log.written is False:
                # Readable requests while an op runs: the engine closed them (stopped or died).
                if pidfd in pumps.until_ready([pidfd, REQUESTS], SILENT_S):
                    break
                # A silent op that runs on, or nobody left to ship its line: it goes to the log now.
                op_log.write_first_line()
            else:
                pumps.until_readable(pidfd)
        finally:
            os.close(pidfd)
        pumps.drain(pumps.running)
        if any(fd in pumps.open for fd in pumps.running):
            op_log.write_first_line()  # what it left running writes on: its line comes first
        pumps.running = []
    # Seen, not reaped: the op stays a zombie (its pid taken) until its status is written.
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    assert info is not None
    if info.si_code == os.CLD_EXITED:
        code, shown = info.si_status, info.si_status
    else:
        code, shown = -info.si_status, 128 + info.si_status
    if code != -signal.SIGKILL:
        # SIGKILL (kill -9, the OOM killer) ends an op abnormally: "started" stays, as no exit status, and
        # the op vanished (ABEND). Any other signal is the op's exit status, as a shell reports it.
        write_status(status, f"{shown}\n".encode())
    with _suppress(ChildProcessError):
        os.waitpid(pid, 0)
    return code


def shown(text: str) -> str:
    """`text` with its control characters and the invisible characters that change how a line reads shown
    as `jobtui.engine.domain.text.visible` shows them (the starter imports the standard library only, so
    this is a copy of it, kept equal by a test): the program named by a definition must not start a forged
    line in the job's log, drive a terminal reading it, nor read as another program's name."""
    import re  # here: only an op that cannot start needs it (see the imports)

    def one(match: re.Match[str]) -> str:
        at, char = match.start(), match.group()
        if _stays(text, at):
            return char
        code = ord(char)
        if code < 0x20:
            return "^" + chr(code + 0x40)
        if code == 0x7F:
            return "^?"
        if code <= 0x9F:
            return f"\\x{code:02x}"
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"

    return re.sub(_CONTROLS, one, text)


# Control, format and default ignorable characters; the joiners and variation selectors emoji and several
# scripts are written with stay where they do that (see `visible`).
_CONTROLS = (
    "[\x00-\x1f\x7f-\x9f\xad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160"
    "\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\ufff0-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e0fff]"
)
_SELECTORS = "[\u180b-\u180d\u180f\ufe00-\ufe0f\U000e0100-\U000e01ef]"


def _joins(char: str) -> bool:
    import re
    import unicodedata

    return (
        not char.isascii()
        and unicodedata.category(char) in ("Lo", "Lm", "Mn", "Mc", "So", "Sk")
        and not re.match(_CONTROLS, char)
    )


def _stays(text: str, at: int) -> bool:
    import re
    import unicodedata

    char = text[at]
    if char in "\u200c\u200d":
        if not 0 < at < len(text) - 1 or not _joins(text[at + 1]):
            return False
        before = text[at - 1]
        return _stays(text, at - 1) if re.match(_CONTROLS, before) else _joins(before)
    if re.match(_SELECTORS, char) and at > 0:
        base = text[at - 1]
        if base.isascii():
            return char == "\ufe0f" and base in "0123456789#*" and text[at + 1 : at + 2] == "\u20e3"
        selected = unicodedata.category(base) in ("Lo", "So", "Sm", "Po", "Pd")
        return base == "\u2139" or (selected and not re.match(_CONTROLS, base))
    return False


class NotRunnable:
    """Why an op could not be started, and the exit code a shell gives for it (127: no such program,
    126: one that cannot be run; 127 too for what a shell would not get as far as: a log that cannot be
    opened)."""

    def __init__(self, code: int, why: str) -> None:
        self.code, self.why = code, why


def spawn(argv: Sequence[str], env: Mapping[str, str], outputs: Sequence[int]) -> int | NotRunnable:
    """The op's pid, leading a session of its own, its stdout and stderr on `outputs`; or why its
    program cannot be run."""
    path = resolve(argv[0], env)
    if path is None:
        return NotRunnable(NOT_FOUND, "not found")
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, outputs[0], 1),
        (os.POSIX_SPAWN_DUP2, outputs[1], 2),
    ]
    options: dict[str, object] = {"file_actions": actions, "setsid": True, "setsigdef": RESTORED_SIGNALS}
    try:
        return os.posix_spawn(path, list(argv), env, **options)  # type: ignore[arg-type]
    except OSError as exc:
        if exc.errno == errno.ENOEXEC:  # a script without a `#!` line runs under sh, as a shell runs it
            return os.posix_spawn("/bin/sh", ["/bin/sh", path, *argv[1:]], env, **options)  # type: ignore[arg-type]
        code = NOT_FOUND if exc.errno in (errno.ENOENT, errno.ENOTDIR) else NOT_EXECUTABLE
        return NotRunnable(code, exc.strerror or str(exc))


def resolve(command: str, env: Mapping[str, str]) -> str | None:
    """Where `command` is, searched in the op's own $PATH as a shell would."""
    if "/" in command:
        return command
    for folder in os.get_exec_path(env):
        candidate = os.path.join(folder, command)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def write_status(ref: str, content: bytes) -> None:
    """The op's status (STARTED, then its exit status): a line appended to its engine's journal when `ref`
    names one ("<journal>#op=<token>", see STATUS_MARK), else the content of a file of its own."""
    journal, mark, token = ref.rpartition(STATUS_MARK)
    if not mark:
        _write_status_file(ref, content)
        return
    # One write, whole beside the other starters' (O_APPEND); a line of its own even after a write a full
    # disk cut short. Closed at once: a journal in a folder other hosts share (NFS) shows them the line.
    with _suppress(OSError):  # a full disk: the exit code the starter reports says how it ended
        fd = os.open(journal, APPEND, 0o644)
        try:
            os.write(fd, b"\n" + token.encode() + b" " + content)
        finally:
            os.close(fd)


def _write_status_file(path: str, content: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _PLANTED | os.O_CLOEXEC, 0o644)
    except OSError:
        # A full or read-only disk: no stale status stays behind, and the exit code the starter reports
        # says how the op ended.
        with _suppress(OSError):
            os.unlink(path)
        return
    try:
        os.write(fd, content)
    except OSError:
        pass
    finally:
        os.close(fd)


def identity_of(pid: int) -> tuple[float, str]:
    """Its create time as psutil's `Process.create_time` gives it, and its start, as
    `domain.processes.start_of` does ((0.0, "") when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rpartition(b")")[2].split()
        ticks = int(fields[19])
    except (OSError, IndexError, ValueError):
        return 0.0, ""
    return ticks / os.sysconf("SC_CLK_TCK") + boot_time(), f"{boot_id()}:{ticks}" if boot_id() else ""


_BOOT_ID: list[str] = []


def boot_id() -> str:
    if not _BOOT_ID:
        try:
            with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
                _BOOT_ID.append(fh.read().strip())
        except OSError:
            _BOOT_ID.append("")
    return _BOOT_ID[0]


_BOOT_TIME: list[float] = []


def boot_time() -> float:
    if not _BOOT_TIME:
        with open("/proc/stat", "rb") as fh:
            _BOOT_TIME.append(next(float(line.split()[1]) for line in fh if line.startswith(b"btime")))
    return _BOOT_TIME[0]


def main() -> None:
    given = [arg.removeprefix(QUICK_S_FLAG) for arg in sys.argv[1:] if arg.startswith(QUICK_S_FLAG)]
    with _suppress(KeyboardInterrupt):
        serve(float(given[-1]) if given else QUICK_S)
    sys.exit(0)


# How the engine runs a starter (`spawner`): `python -S -E -c BOOT <this folder> <flag> STARTER_NAME`.
# Imported, the starter runs from the bytecode Python keeps beside its source; run as a script it was
# compiled again at each start, half of the CPU a start costs. The folder takes the place of the current
# directory at the head of the path, as a script's own folder would.
BOOT = "import sys; sys.path[0] = sys.argv.pop(1); import opstarter; opstarter.main()"

if __name__ == "__main__":
    main()
