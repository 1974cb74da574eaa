"""An op starter: a small process of the engine's, one per worker slot, that starts that slot's ops one at a
time and waits for each; run as `python -S -E opstarter.py jobtui-op` (the standard library only).

For each op it is asked to start (a length-prefixed pickle on its stdin) it writes "started" into the op's
status file, opens the job's log and writes the op's first line, then spawns the op (`posix_spawn`: no fork of
a large process, no shell) in a session of its own, and answers with the op's pid (on its stdout). The op's
stdout and stderr are two pipes the starter appends to the log as they come, each stderr line after a mark,
so readers can tell them apart. When the op exits the starter appends what its pipes still hold, writes its
exit status over "started" *before* reaping it, so whoever sees the op gone finds its output and status,
then answers with the exit code.

Why a process of its own: the status of an op that ends while its engine is away (killed, restarting) is
still written, by a parent that runs no code but this; and the spawn costs the engine's interpreter nothing.
Why one per slot: a slot runs one op at a time, so a starter killed (`kill -9 $PPID` from the op) loses the
status of that one op only (ABEND), as a wrapper per op would, without a wrapper's fork and exec per op.
It runs in a session of its own, so a signal to the engine's process group leaves it. Once the engine closes
its stdin (or dies) it exits, after its op if one runs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import select
import signal
import struct
import sys
from collections.abc import Mapping, Sequence

# The last word of a starter's command line: what tells a starter (an op's parent) from other processes.
STARTER_NAME = "jobtui-op"
STARTED = b"started\n"
HEADER = struct.Struct("!I")
APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
REQUESTS, REPLIES = 0, 1
# Python ignores these; an op gets them back at their defaults, as subprocess's restore_signals does.
RESTORED_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)
NOT_FOUND, NOT_EXECUTABLE = 127, 126
# Before each line an op writes to its stderr, in its log (domain.logread.STDERR_MARK, which readers take
# out: kept equal by a test, as this file imports nothing of jobtui). An APC string: a terminal shown the
# raw log ignores it.
STDERR_MARK = b"\x1b_stderr\x1b\\"
READ_BYTES = 64 * 1024
DRAIN_READS = 256  # 16 MB: more than a pipe holds, bounded when something left behind keeps writing
# Pipes of ended ops still held by what they left running; past this many the oldest is closed.
LINGERING = 64


def _can_capture() -> bool:
    """Whether the op's output can go through the starter: it needs a pidfd to see the op end while its
    pipes stay open (Linux 5.3); without one the op writes straight to its log, unmarked."""
    try:
        os.close(os.pidfd_open(os.getpid()))
        return True
    except (AttributeError, OSError):
        return False


CAPTURE = _can_capture()


def serve() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    engine = True  # gone once a reply cannot be written: the op's status is still
    base: dict[str, str] = {}
    pumps = Pumps()
    while True:
        pumps.until_readable(REQUESTS)
        request = read_message(REQUESTS)
        if request is None:
            return
        request_id, argv, env_base, env_changes, log, first_line, status = request
        assert isinstance(argv, list) and isinstance(env_changes, dict) and isinstance(first_line, bytes)
        assert isinstance(log, str) and isinstance(status, str)
        if isinstance(env_base, dict):
            base = env_base
        env = {**base, **env_changes}
        started = start(argv, env, log, first_line, status, pumps)
        if isinstance(started, str):
            engine = engine and reply(request_id, "error", started)
            continue
        pid, log_start = started
        engine = engine and reply(request_id, "pid", pid, create_time(pid), log_start)
        code = wait(pid, status, pumps)
        engine = engine and reply(request_id, "exit", code)


class Pump:
    """One op's stdout or stderr: a pipe whose bytes the starter appends to the op's log, each stderr line
    after STDERR_MARK. Both go through the starter, so the log keeps them in the order the starter reads
    them (an op writing both at once may see two writes swap; a terminal would keep them)."""

    __slots__ = ("fd", "line_start", "log", "marked")

    def __init__(self, fd: int, log: int, marked: bool) -> None:
        self.fd, self.log, self.marked, self.line_start = fd, log, marked, True

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
        if self.marked:
            data, self.line_start = mark_lines(data, self.line_start)
        with contextlib.suppress(OSError):  # a full disk loses output, never the op's status
            view = memoryview(data)
            while view:
                view = view[os.write(self.log, view) :]
        return True

    def close(self) -> None:
        for fd in (self.fd, self.log):
            with contextlib.suppress(OSError):
                os.close(fd)


class Pumps:
    """Every pipe the starter pumps: the running op's, and those of ops that ended while something they
    started (in the background) still holds them: that keeps writing to its job's log, never to a closed
    pipe (SIGPIPE), for as long as the starter runs, up to LINGERING pipes."""

    def __init__(self) -> None:
        self.open: dict[int, Pump] = {}
        self.running: list[int] = []  # the running op's pipes

    def add(self, pump: Pump) -> None:
        self.open[pump.fd] = pump
        while len(self.open) > LINGERING + 2:
            self.open.pop(next(iter(self.open))).close()

    def until_readable(self, fd: int) -> None:
        """Pump the pipes until `fd` is readable."""
        while True:
            ready = select.select([fd, *self.open], [], [])[0]
            for ready_fd in ready:
                if ready_fd != fd:
                    self.pump(ready_fd)
            if fd in ready:
                return

    def pump(self, fd: int) -> None:
        if not self.open[fd].pump():
            del self.open[fd]

    def drain(self, fds: Sequence[int]) -> None:
        """What these pipes hold now (their op ended): to the log before its status is written. At most
        DRAIN_READS reads a pipe: what the op left running may write on; that is pumped later."""
        for fd in fds:
            for _ in range(DRAIN_READS):
                if fd not in self.open or not select.select([fd], [], [], 0)[0]:
                    break
                self.pump(fd)


def mark_lines(data: bytes, line_start: bool) -> tuple[bytes, bool]:
    """`data` with STDERR_MARK before each line that starts in it; whether a line starts after it."""
    lines = data.split(b"\n")
    last = lines.pop()
    body = b"\n".join(STDERR_MARK + line for line in lines)
    if lines:
        body = (body if line_start else body[len(STDERR_MARK) :]) + b"\n"
        if last:
            body += STDERR_MARK + last
        return body, not last
    return (STDERR_MARK + last if line_start else last), False


def read_message(fd: int) -> tuple[object, ...] | None:
    """The next length-prefixed pickle from `fd`; None at its end."""
    head = read_exactly(fd, HEADER.size)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    body = read_exactly(fd, size)
    return None if body is None else pickle.loads(body)


def read_exactly(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def write_message(fd: int, message: tuple[object, ...]) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
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
) -> tuple[int, int] | str:
    """(the op's pid, the log's size before the op could write to it), or why it could not start."""
    write_status(status, STARTED)  # before the spawn: a trace the op may have run, whatever follows
    try:
        fd = os.open(log, APPEND, 0o644)
    except OSError as exc:
        return f"{exc.strerror or exc}: {log}"
    outputs: list[tuple[int, int]] = []  # (read end, write end) of the op's stdout and stderr pipes
    try:
        if first_line:
            os.write(fd, first_line)
        log_start = os.lseek(fd, 0, os.SEEK_END)
        if CAPTURE:
            outputs = [os.pipe2(os.O_CLOEXEC) for _ in range(2)]
        pid = spawn(argv, env, fd, [write for _, write in outputs] or [fd, fd])
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the command or its environment
        for pipe in outputs:
            for end in pipe:
                os.close(end)
        os.close(fd)
        return str(exc)
    for n, (read, write) in enumerate(outputs):
        os.close(write)
        os.set_blocking(read, False)
        pumps.add(Pump(read, os.dup(fd), marked=n == 1))
    os.close(fd)
    if pid is None:  # no such program: the op fails as under a shell (exit 127, said in its log)
        pumps.drain([read for read, _ in outputs])
        write_status(status, f"{NOT_FOUND}\n".encode())
        return f"{argv[0]}: not found"
    pumps.running = [read for read, _ in outputs]
    return pid, log_start


def wait(pid: int, status: str, pumps: Pumps) -> int:
    """The op's exit code, as subprocess gives it (negative: the signal that killed it), once its output
    and its status (as a shell gives it: 128 + the signal) are in their files."""
    if pumps.running:
        pidfd = os.pidfd_open(pid)  # a zombie's too: the op is reaped below, not before
        try:
            pumps.until_readable(pidfd)
        finally:
            os.close(pidfd)
        pumps.drain(pumps.running)
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
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    return code


def spawn(argv: Sequence[str], env: Mapping[str, str], log: int, outputs: Sequence[int]) -> int | None:
    """The op's pid, leading a session of its own, its stdout and stderr on `outputs`; None when its
    program cannot be run (said in its log)."""
    path = resolve(argv[0], env)
    failure = None
    if path is not None:
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, outputs[0], 1),
            (os.POSIX_SPAWN_DUP2, outputs[1], 2),
        ]
        try:
            return os.posix_spawn(
                path, list(argv), env, file_actions=actions, setsid=True, setsigdef=RESTORED_SIGNALS
            )
        except OSError as exc:
            if exc.errno != errno.ENOEXEC:
                failure = exc.strerror
            else:  # a script without a `#!` line runs under sh, as a shell runs it
                shell = ["/bin/sh", path, *argv[1:]]
                return os.posix_spawn(
                    shell[0], shell, env, file_actions=actions, setsid=True, setsigdef=RESTORED_SIGNALS
                )
    os.write(log, f"{STARTER_NAME}: {argv[0]}: {failure or 'not found'}\n".encode())
    return None


def resolve(command: str, env: Mapping[str, str]) -> str | None:
    """Where `command` is, searched in the op's own $PATH as a shell would."""
    if "/" in command:
        return command
    for folder in os.get_exec_path(env):
        candidate = os.path.join(folder, command)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def write_status(path: str, content: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError:
        # A full or read-only disk: no stale status stays behind, and the exit code the starter reports
        # says how the op ended.
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    try:
        os.write(fd, content)
    except OSError:
        pass
    finally:
        os.close(fd)


def create_time(pid: int) -> float:
    """As psutil's `Process.create_time` gives it (and `domain.processes.create_time_of`)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rpartition(b")")[2].split()
        return int(fields[19]) / os.sysconf("SC_CLK_TCK") + boot_time()
    except (OSError, IndexError, ValueError):
        return 0.0


_BOOT_TIME: list[float] = []


def boot_time() -> float:
    if not _BOOT_TIME:
        with open("/proc/stat", "rb") as fh:
            _BOOT_TIME.append(next(float(line.split()[1]) for line in fh if line.startswith(b"btime")))
    return _BOOT_TIME[0]


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        serve()
    sys.exit(0)
