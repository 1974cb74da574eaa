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
import resource
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
# Around what an op writes to its stderr, in its log (domain.logread's marks, which readers take out:
# kept equal by a test, as this file imports nothing of jobtui). APC strings: a terminal shown the raw log
# ignores them.
STDERR_MARK = b"\x1b_stderr\x1b\\"
STDOUT_MARK = b"\x1b_stdout\x1b\\"
READ_BYTES = 64 * 1024
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


def serve() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    engine = True  # gone once a reply cannot be written: the op's status is still
    base: dict[str, str] = {}
    pumps = Pumps()
    while True:
        pumps.until_readable(REQUESTS)
        request = read_message(REQUESTS)
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
        pid, log_start = started
        engine = engine and reply(request_id, "pid", pid, create_time(pid), log_start)
        code = wait(pid, status, pumps)
        engine = engine and reply(request_id, "exit", code)


class Pump:
    """One op's stdout or stderr: a pipe whose bytes the starter appends to the op's log, what came from
    stderr between STDERR_MARK and STDOUT_MARK, in one write (so it is whole whatever else writes to the
    log: the engine's lines, what another op left running). Both go through the starter, so the log keeps
    them in the order the starter reads them (two writes to the two streams microseconds apart may swap;
    a terminal would keep them)."""

    __slots__ = ("fd", "log", "marked")

    def __init__(self, fd: int, log: int, marked: bool) -> None:
        self.fd, self.log, self.marked = fd, log, marked

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
            data = STDERR_MARK + data + STDOUT_MARK
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
        if fd >= 0:
            self._poll.register(fd, select.POLLIN)
        try:
            while fd >= 0 or self.open:
                ready = {ready_fd for ready_fd, _ in self._poll.poll()}
                for ready_fd in ready - {fd}:
                    self.pump(ready_fd)
                if fd in ready:
                    return
        finally:
            if fd >= 0:
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
        with contextlib.suppress(OSError):
            if os.fork() == 0:
                for fd in (REQUESTS, REPLIES):  # the engine sees the starter leave, not this child
                    with contextlib.suppress(OSError):
                        os.close(fd)
                with contextlib.suppress(BaseException):
                    self.until_readable(-1)
                os._exit(0)


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
) -> tuple[int, int] | NotRunnable:
    """(the op's pid, the log's size before the op could write to it), or why it could not start."""
    write_status(status, STARTED)  # before the spawn: a trace the op may have run, whatever follows
    try:
        fd = os.open(log, APPEND, 0o644)
    except OSError as exc:
        return NotRunnable(NOT_FOUND, f"{exc.strerror or exc}: {log}")
    # The op's stdout and stderr: (read end, write end, the log for what is read), all made before the
    # spawn, so no descriptor running short after it can cost the op its status.
    outputs: list[tuple[int, int, int]] = []
    try:
        if first_line:
            os.write(fd, first_line)
        log_start = os.lseek(fd, 0, os.SEEK_END)
        if CAPTURE:
            for _ in range(2):
                read, write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
                os.set_blocking(write, True)  # the op writes as to a file; the starter never waits on a read
                outputs.append((read, write, -1))
                outputs[-1] = (read, write, os.dup(fd))
        pid = spawn(argv, env, [write for _, write, _ in outputs] or [fd, fd])
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the command or its environment
        for ends in outputs:
            for end in ends:
                if end >= 0:
                    os.close(end)
        os.close(fd)
        return NotRunnable(NOT_FOUND, str(exc))
    for n, (read, write, read_log) in enumerate(outputs):
        os.close(write)
        pumps.add(Pump(read, read_log, marked=n == 1))
    if isinstance(pid, NotRunnable):
        # As under a shell: exit 127 for no such program, 126 for one that cannot be run; said in its log.
        with contextlib.suppress(OSError):
            os.write(fd, f"{STARTER_NAME}: {argv[0]}: {pid.why}\n".encode())
        os.close(fd)
        pumps.drain([read for read, _, _ in outputs])
        write_status(status, f"{pid.code}\n".encode())
        return NotRunnable(pid.code, f"{argv[0]}: {pid.why}")
    os.close(fd)
    pumps.running = [read for read, _, _ in outputs]
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
