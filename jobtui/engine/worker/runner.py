"""Ops as real subprocesses under supervision, or Python callables for tests and benchmarks.

Every process op is spawned by its slot's op starter (`opstarter`, a small process of the engine's) and
leads its own process group, with stdout and stderr appended to the job's log through file descriptors. The
starter writes the op's exit status to a file, so an engine that restarts can collect the status of an op
that ended while it was away, and tell an op that exited from one that vanished (killed by SIGKILL, or with
its starter: ABEND).

Each op also carries a random token in its environment ($JOBTUI_OP_TOKEN), recorded on its op run before
it starts: an engine that never saw the op's pid (its starter died between the spawn and the pid's
commit) finds the op by it, and cancel finds by it what the op started outside its process group
(`setsid`, double forks).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import psutil

from jobtui.engine.domain.processes import is_same_process, is_unreaped_process, start_of
from jobtui.engine.domain.text import visible
from jobtui.engine.worker import opstarter
from jobtui.engine.worker.opjournal import is_journal_ref, status_in_journal
from jobtui.engine.worker.opstarter import STARTER_NAME
from jobtui.engine.worker.spawner import Spawned, Spawner, StarterLost

TOKEN_VAR = "JOBTUI_OP_TOKEN"
# How the engine opens a job's log to append to it (its lines, an op's output), with bare system calls.
LOG_APPEND = opstarter.APPEND
READ_NOFOLLOW = opstarter.READ
# The starter writes "started" into the status file before it spawns the op, and the exit status over it
# before reaping it. A reader only trusts the status once the op is gone: an empty, cut or "started" file is
# no status. No file at all, and no process carrying the op's token: the op never started (its engine died
# between recording the op and asking for it), so it may be started now without running twice.
STARTED = opstarter.STARTED.decode().strip()


@dataclass(frozen=True)
class OpOutcome:
    exit_code: int | None
    error: str | None = None
    vanished: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.vanished


@dataclass(frozen=True)
class OpContext:
    """What a `call` op receives: the same facts a process op gets in its environment."""

    job_id: int
    job_name: str
    step: str
    target: str
    exec: int
    natures_file: str
    env: Mapping[str, str]
    log_path: str  # reading it first writes the engine's lines held back for it (see `before_log`)

    def __getattribute__(self, name: str) -> Any:
        if name == "log_path":
            hook = object.__getattribute__(self, "__dict__").pop(_BEFORE_LOG, None)
            if hook is not None:
                hook()
        return object.__getattribute__(self, name)

    def before_log(self, hook: Callable[[], None]) -> OpContext:
        """Call `hook` once, when something reads `log_path`: the engine writes the lines it held back
        (the op's "started") to the file then, so a call that writes nothing gets no file at all."""
        object.__setattr__(self, _BEFORE_LOG, hook)
        return self

    @property
    def log_file(self) -> str:
        """`log_path`, for the engine: reading it writes nothing."""
        path: str = object.__getattribute__(self, "__dict__")["log_path"]
        return path

    def __getstate__(self) -> dict[str, Any]:
        """Without the hook (the engine's, not the op's): a call may hand its context to another process."""
        state = dict(object.__getattribute__(self, "__dict__"))
        state.pop(_BEFORE_LOG, None)
        return state


_BEFORE_LOG = "_before_log"


class OpHandle(Protocol):
    @property
    def pid(self) -> int | None: ...
    @property
    def create_time(self) -> float | None: ...

    def poll(self) -> OpOutcome | None: ...
    def terminate(self) -> list[str]: ...
    def kill(self) -> list[str]: ...


def read_status_file(path: str | None, since: float | None = None) -> int | None:
    """The exit status an op's starter left (in its engine's journal, or a file of its own); with `since`
    (a timestamp), only a file written since (a journal's line is the op's own: its token is unique)."""
    if not path:
        return None
    if is_journal_ref(path):
        status = status_in_journal(path)
        return int(status) if status is not None and status.isascii() and status.isdigit() else None
    try:
        if since is not None and os.stat(path).st_mtime < since - 1.0:
            return None
        fd = os.open(path, READ_NOFOLLOW)
        try:
            return int(os.read(fd, 64).strip())
        finally:
            os.close(fd)
    except (OSError, ValueError):
        return None


def stamped(at: datetime, line: str) -> str:
    """An engine line of a job's log, as the engine, a starter and a cancel write it. The stamp is in UTC
    and says so (`Z`): the log is read on other hosts and in dashboards of other zones, beside dates each
    shows in its own (a naive `at` is UTC, as the database keeps times).

    `line` quotes data (op names, targets, reasons, process command lines): shown visibly here, so a
    newline in a definition cannot start a forged `[jobtui …]` line and an escape sequence in one never
    reaches a terminal through `jobtui log` to a pipe. Only the engine's lines: the op's output stays
    exact."""
    utc = at.astimezone(UTC) if at.tzinfo is not None else at
    return f"[jobtui {utc.strftime('%Y-%m-%d %H:%M:%S')}Z] {visible(line)}\n"


def op_title(step: str, name: str, target: str) -> str:
    """How the job's log names an op: its step, its name, its target (shown visibly: see `stamped`)."""
    return visible(f"{step} {name}" + (f" [{target}]" if target else ""))


def never_started(path: str | None) -> bool:
    """No trace of the op's start: nothing of it in its engine's journal, or no status file of its own
    (see STARTED)."""
    if not path:
        return False
    if is_journal_ref(path):
        return status_in_journal(path) is None
    return not os.path.exists(path)


def processes_with_token(token: str | None) -> list[psutil.Process]:
    """The live processes of this user whose environment carries the op token `token`: the op and
    everything it started that kept its environment, in its process group or not."""
    return live_tokens().get(token, []) if token else []


def live_tokens() -> dict[str, list[psutil.Process]]:
    """Every op token carried by a live process of this user, with its processes: one pass over the
    process table, however many ops are asked about."""
    me, uid = os.getpid(), os.getuid()
    found: dict[str, list[psutil.Process]] = {}
    for proc in psutil.process_iter(["uids"]):
        # A process may exit between the listing and the look-up; another user's is none of ours.
        with contextlib.suppress(psutil.Error, OSError):
            uids = proc.info["uids"]
            if proc.pid == me or uids is None or uids.real != uid:
                continue
            token = proc.environ().get(TOKEN_VAR)
            if token and proc.status() != psutil.STATUS_ZOMBIE:
                found.setdefault(token, []).append(proc)
    return found


def find_op(token: str | None, under_starter: bool = True) -> tuple[int, float, str | None] | None:
    """The (pid, create time, start) of the live op carrying `token`, if it runs here: the oldest of its
    processes that leads a session (what it started may lead one too, never before it). With
    `under_starter`, only while its parent is an op starter, which will write its exit status."""
    leaders = []
    for proc in processes_with_token(token):
        with contextlib.suppress(psutil.Error, OSError):
            if os.getsid(proc.pid) == proc.pid and (not under_starter or _is_starter(proc.parent())):
                leaders.append((proc.create_time(), proc.pid))
    if not leaders:
        return None
    create_time, pid = min(leaders)
    return pid, create_time, start_of(pid)


def _is_starter(proc: psutil.Process | None) -> bool:
    return proc is not None and proc.cmdline()[-1:] == [STARTER_NAME]


def log_tail(path: str, limit: int) -> tuple[int, bytes]:
    """(the log's size, its last `limit` bytes at most); OSError when it cannot be read."""
    fd = os.open(path, READ_NOFOLLOW)
    try:
        size = os.fstat(fd).st_size
        start = max(0, size - limit)
        return size, os.pread(fd, size - start, start)
    finally:
        os.close(fd)


def _after_first_line(path: str, first_line: bytes) -> int:
    """Where an orphaned op's output starts in its log (its starter died before saying): just past the
    op's first line when its starter wrote it (verbatim, stamp included: an earlier run's line has the same
    words), else the log's end. The op may have written after it already."""
    try:
        size, tail = log_tail(path, opstarter.FIRST_LINE_SEARCH)
    except FileNotFoundError:
        return 0
    except OSError:
        return _size_of(path)
    found = tail.rfind(first_line) if first_line else -1
    return size if found < 0 else size - len(tail) + found + len(first_line)


def _size_of(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def describe(proc: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error, OSError):
        return f"{proc.pid} ({_one_line(' '.join(proc.cmdline()) or proc.name(), 160)})"
    return str(proc.pid)


def _describe_exit(code: int) -> str | None:
    if code == 0:
        return None
    if code > 128 and code - 128 < 65:
        with contextlib.suppress(ValueError):
            return f"exit {code} (killed by {signal.Signals(code - 128).name})"
    return f"exit {code}"


class ProcessHandle:
    """An op process this engine started or adopted."""

    def __init__(
        self,
        pid: int | None,
        create_time: float,
        status_file: str,
        spawned: Spawned | None,
        token: str | None = None,
        log_path: str = "",
        start: str | None = None,
    ):
        self.pid: int | None = pid
        self.create_time: float | None = create_time
        # domain.processes.start_of: what tells the op from a process that reuses its pid.
        self.process_start = start
        self.status_file = status_file
        self.token = token
        self.log_path = log_path
        self._spawned = spawned
        self._descendants: list[psutil.Process] = []
        self.log_start = 0
        self._first_line = ""  # the op's first log line, its starter writing it once the op writes

    @classmethod
    def start(
        cls,
        spawner: Spawner,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: str,
        status_file: str,
        token: str | None = None,
        first_line: str = "",
    ) -> ProcessHandle:
        """Have the op started by this slot's starter, `first_line` written to the log before the op's
        output (see `unwritten_first_line`); the caller waits for it (`wait`: a slot's thread).
        `log_start` is where the op's output starts in the log."""
        try:
            spawned = spawner.spawn(argv, env, log_path, status_file, first_line.encode())
        except StarterLost:
            # Killed by its op (`kill -9 $PPID`) before it answered: the op runs, orphaned. Known by its
            # token, it vanished now (what is left of it is killed with the ABEND). Not found but in its
            # engine's journal as started: it ran (and most likely ended), its pid and status lost with
            # its starter; it vanished all the same, and its first line is not lost with them.
            found = find_op(token, under_starter=False)
            if found is None and never_started(status_file):
                raise
            pid, create_time, started = found if found is not None else (None, 0.0, None)
            spawned = Spawned.orphan(
                pid, create_time, started, _after_first_line(log_path, first_line.encode())
            )
        handle = cls(
            spawned.pid, spawned.create_time, status_file, spawned, token, log_path, spawned.process_start
        )
        handle.log_start = spawned.log_start
        handle._first_line = first_line
        return handle

    def unwritten_first_line(self) -> str:
        """Once the op ended without writing a byte: the first line its starter left unwritten (no log
        file was created for it), for the engine to ship with the op's end; given once."""
        spawned = self._spawned
        if spawned is None or spawned.running() or spawned.first_line_written:
            return ""
        line, self._first_line = self._first_line, ""
        return "" if self._first_line_in_log(line) else line  # a cancel's, before its own line

    def _first_line_in_log(self, line: str) -> bool:
        try:
            fd = os.open(self.log_path, READ_NOFOLLOW)
        except OSError:
            return False
        try:
            return opstarter.first_line_at(fd, self.log_start - len(line.encode()), line.encode())
        except OSError:
            return False
        finally:
            os.close(fd)

    def first_line_before_the_engines(self) -> str:
        """Before the engine writes a line of its own about the running op (its termination): the op's
        first line when nothing of the op is in the log yet, taken (its starter finds it there, and the
        op's end ships nothing more); else nothing."""
        line = self._first_line
        if not line or self._spawned is None or self._first_line_in_log(line):
            return ""
        self._first_line = ""
        return line

    @property
    def ended_at_start(self) -> bool:
        """Whether its starter told the op's end with its pid (opstarter.QUICK_S), so its pid needs no
        row: unless SIGKILL ended it (an abend kills what is left of its process group by that pid)."""
        spawned = self._spawned
        return spawned is not None and spawned.quick and spawned.returncode != -signal.SIGKILL

    def wait(self) -> None:
        """Until the op this engine started exits."""
        if self._spawned is not None:
            self._spawned.wait()

    @classmethod
    def adopt(
        cls,
        pid: int,
        create_time: float,
        status_file: str,
        on_exit: Callable[[], None],
        token: str | None = None,
        log_path: str = "",
        start: str | None = None,
    ) -> ProcessHandle | None:
        """Take over a live op of a dead engine; None when that process is gone (or the pid was reused)."""
        if not is_unreaped_process(pid, create_time, start):
            return None
        handle = cls(pid, create_time, status_file, None, token, log_path, start)
        threading.Thread(target=_wait_then, args=(handle._wait_adopted, on_exit), daemon=True).start()
        return handle

    def _wait_adopted(self) -> None:
        with contextlib.suppress(psutil.Error):
            psutil.Process(self.pid).wait()

    def poll(self) -> OpOutcome | None:
        if self._spawned is not None:
            if self._spawned.running():
                return None
        elif self.pid is not None and is_unreaped_process(
            self.pid, self.create_time or 0.0, self.process_start
        ):
            return None  # its starter writes the status before reaping it
        returncode = self._spawned.returncode if self._spawned is not None else None
        if returncode is None:
            code = read_status_file(self.status_file)  # no word from its starter: what it left on disk
        elif returncode == -signal.SIGKILL:
            code = None  # killed by SIGKILL, the op vanished (see opstarter.wait)
        else:
            # As the starter wrote it to the status file (a full or read-only disk may have kept it from
            # it), without reading that back: a file read less an op on the engine's thread.
            code = returncode if returncode >= 0 else 128 - returncode
        if code is None:
            process = "op" if self.pid is None else f"op process {self.pid}"
            return OpOutcome(None, f"{process} vanished without an exit status", vanished=True)
        said = _describe_exit(code)
        lost = self._spawned.output_lost if self._spawned is not None else ""
        if lost:  # a full disk: its log lacks what it wrote, and nothing else would say so
            said = f"{said or 'done'}; output lost, not written to its log: {lost}"
        return OpOutcome(code, said)

    def terminate(self) -> list[str]:
        return self._signal(signal.SIGTERM)

    def kill(self) -> list[str]:
        return self._signal(signal.SIGKILL)

    def escaped(self) -> list[psutil.Process]:
        """The live processes of the op outside its process group (`setsid`, double forks), by token."""
        pgid = self.pid
        out = []
        for proc in processes_with_token(self.token):
            with contextlib.suppress(psutil.Error, OSError):
                if pgid is None or os.getpgid(proc.pid) != pgid:
                    out.append(proc)
        return out

    def tree_alive(self, tokens: Mapping[str, object] | None = None) -> bool:
        """Whether anything of the op still runs: its process, its group, or what escaped the group
        (`tokens`: the tokens of live processes, when the caller already looked them up)."""
        if self.poll() is None or (self.pid is not None and group_alive(self.pid)):
            return True
        if not self.token:
            return False
        return self.token in (tokens if tokens is not None else live_tokens())

    def _signal(self, sig: signal.Signals) -> list[str]:
        """Signal the op's group, its remembered descendants and every process carrying its token; the
        processes signalled outside the group, described for the job's log."""
        if self.pid is not None:
            # Remember the tree on the first signal: children that left the group (setsid) still die.
            try:
                if is_same_process(self.pid, self.create_time or 0.0, self.process_start):
                    known = {p.pid for p in self._descendants}
                    self._descendants += [
                        p for p in psutil.Process(self.pid).children(recursive=True) if p.pid not in known
                    ]
            except psutil.Error:
                pass
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)
        outside: dict[int, psutil.Process] = {}
        for proc in self._descendants:
            with contextlib.suppress(psutil.Error, OSError):
                if proc.is_running() and (self.pid is None or os.getpgid(proc.pid) != self.pid):
                    outside[proc.pid] = proc
        for proc in self.escaped():
            outside.setdefault(proc.pid, proc)
        signalled = []
        for proc in outside.values():
            with contextlib.suppress(psutil.Error):
                what = describe(proc)
                proc.send_signal(sig)
                signalled.append(what)
        # Descendants already gone still get their (harmless, pid-checked) signal through psutil.
        for proc in self._descendants:
            if proc.pid not in outside:
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(sig)
        return signalled


def _wait_then(wait: Callable[[], object], on_exit: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):
        wait()
    on_exit()


def group_alive(pgid: int) -> bool:
    """Whether any process of the group (an op's whole tree) is still alive, zombies excluded."""
    for proc in psutil.process_iter(["pid"]):
        # A process may exit between the listing and the look-up.
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                return True
    return False


class CallHandle:
    """A `module:function` op run on a slot's thread (`run`). It cannot be killed: a terminate leaves it
    running, and the job it ran for is let go or times out without it."""

    pid: int | None = None
    create_time: float | None = None

    def __init__(self, log_path: str, before_log: Callable[[], None] | None = None) -> None:
        self._log_path = log_path
        self._before_log = before_log
        # Set by `run` on the slot's thread, `_returned` last: once it is set, the other two are final.
        self._result: Any = None
        self._raised: BaseException | None = None
        self._returned = False
        self._outcome: OpOutcome | None = None

    def run(self, target: str, context: OpContext) -> None:
        """Run the call here; its result or exception is its outcome."""
        try:
            self._result = _run_call(target, context)
        except BaseException as exc:  # whatever the function raised is the op's failure, never the engine's
            self._raised = exc
        self._returned = True

    def poll(self) -> OpOutcome | None:
        """The op's outcome once it returned; never raises, whatever the function did or returned (the
        engine polls every op of every job in one loop), and works it out once."""
        if self._outcome is None and self._returned:
            self._outcome = self._conclude()
        return self._outcome

    def _conclude(self) -> OpOutcome:
        exc = self._raised
        if exc is not None:
            # The traceback once, in the job's log; frames only, never their locals (the op's context
            # holds its environment, secrets included).
            self._log("".join(traceback.format_exception(exc)))
            return OpOutcome(1, _one_line(f"{type(exc).__name__}: {exc}"))
        result = self._result
        code = _exit_code_of(result)
        if code is None:
            # Not the value itself: it may be any size and hold anything (a repr of the environment).
            kind = type(result).__name__
            reason = f"call returned a {kind}, not an exit code (None, True, False or an int)"
            self._log(reason + "\n")
            return OpOutcome(1, reason)
        return OpOutcome(code, _describe_exit(code))

    def _log(self, text: str) -> None:
        if self._before_log is not None:
            self._before_log()
        try:
            fd = os.open(self._log_path, LOG_APPEND, 0o644)
            try:
                os.write(fd, text.encode(errors="backslashreplace"))
            finally:
                os.close(fd)
        except OSError:
            pass  # the outcome is recorded in the database either way

    def terminate(self) -> list[str]:
        return []

    def kill(self) -> list[str]:
        return []


def _exit_code_of(result: object) -> int | None:
    """None and True succeed, False fails, an int is the exit code; anything else is not an answer."""
    if result is None or result is True:
        return 0
    if result is False:
        return 1
    if isinstance(result, int):
        return max(-255, min(255, result))
    return None


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _run_call(target: str, context: OpContext) -> Any:
    module_name, _, func_name = target.partition(":")
    module = importlib.import_module(module_name)
    func = getattr(module, func_name)
    return func(context)


def noop(_context: OpContext) -> None:
    """The benchmark op: does nothing, so a drain measures the engine alone."""
