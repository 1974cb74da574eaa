"""What the engine's parts share: who the engine is, the jobs it holds, and how it wakes."""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import pendulum
from sqlalchemy import TextClause, bindparam
from sqlalchemy.orm import Session

from jobtui.engine.db.models import Job, UTCDateTime
from jobtui.engine.db.store import Store
from jobtui.engine.worker.logcap import DEFAULT_CAP_MIB, LogCap
from jobtui.engine.worker.logship import LogShipper
from jobtui.engine.worker.opjournal import journal_ref
from jobtui.engine.worker.runner import LOG_APPEND, OpContext, OpHandle, OpOutcome, stamped
from jobtui.engine.worker.spawner import Spawner

if TYPE_CHECKING:
    from jobtui.engine.worker.plan import Plan

LOG_CAP_REFRESH_S = 30.0
# A test-only fault injection hook (launcher), never passed on to ops.
FAULT_VAR = "JOBTUI_FAULT"


# The audit actions of an op an engine dealt with for a job it does not hold: killed (its job was taken
# over, or canceled, while its engine was gone or cut off), or found ended already by an engine starting.
OP_KILLED = "kill op"
OP_GONE = "op gone"
ORPHAN_ACTIONS = (OP_KILLED, OP_GONE)
# A cancel from a host that could not signal the job's op (it runs on another host): until an engine of
# that host says the op is gone (one of ORPHAN_ACTIONS), or an admin declares the host gone, the job's
# retry, rerun and rollback wait for it (`left_running.op_left_elsewhere`).
OP_LEFT_RUNNING = "op left running"
# An admin's word that the host of such an op is gone for good (`jobtui host-gone`): its job need not wait
# for the op, and an engine of that host that starts after all kills it, whatever its job did since.
HOST_GONE = "host gone"


def host_gone_said(host: str) -> str:
    """How a job's `host gone` row begins: it names the host, so it counts for that host's op only."""
    return f"{host} declared gone for good"


def engine_who(host: str) -> str:
    """Who an engine of `host` is in the audit trail."""
    return f"engine@{host}"


@dataclass
class Held:
    """A job this engine has claimed, and the op it is running for it, if any."""

    job_id: int
    lease: str
    handle: OpHandle | None = None
    op_run_id: int | None = None
    deadline: datetime | None = None
    timeout_s: float | None = None
    timed_out: bool = False
    ready_outcome: OpOutcome | None = None
    title: str = ""
    log_cap: LogCap | None = None  # the op's share of the job's log (process ops)
    plan: Plan | None = None  # the job's plan while the fast lane walks it
    log_path: str = ""  # the file the op was launched with, shipped to the database
    withdrawn: bool = False  # its op, recorded as started, was taken back from the slots' queue unstarted
    unreadable: str | None = None  # what is wrong with its row (changed by hand), once the engine said it


@dataclass(frozen=True)
class StartedPid:
    """An op's process, started after its transaction committed: its pid goes to the next batch."""

    op_run_id: int
    pid: int | None
    create_time: float | None
    deadline: datetime | None
    process_start: str | None = None  # domain.processes.start_of


@dataclass
class Dying:
    handle: OpHandle
    since: pendulum.DateTime
    killed: bool = False  # SIGKILL sent (a job let go: its starter has yet to write what the op's pipes held)
    # The job it was killed for once let go (dropped): what the op writes after the let-go (its clean-up on
    # SIGTERM) and the kill's lines are shipped once its process tree is gone (supervision).
    let_go_job: int | None = None
    # The cap on what it writes after the let-go (the rest of the op's share of the log), once let go.
    after: LogCap | None = None
    # How far its job's log was shipped as it was let go (the end of the line saying it was terminated).
    shipped_to: int | None = None
    kill_line: str | None = None  # the SIGKILL line of a job let go, written once the op is gone
    # Called once nothing of it runs any more (it ended on SIGTERM, or was sent SIGKILL).
    on_gone: Callable[[], bool] | None = None  # says the op is gone; False: not said (tried again)


@dataclass
class LaunchSpec:
    op_run_id: int
    argv: list[str] | None
    call: str | None
    env: dict[str, str]
    context: OpContext
    status_file: str
    timeout_s: float | None
    title: str = field(default="")
    token: str | None = None


class EngineState:
    """One engine's identity and holdings, shared by the loop, claims, sweeps, the walker and
    supervision."""

    def __init__(self, store: Store, slots: int, host: str, worker_id: str, kind: str | None = None) -> None:
        self.store = store
        self.slots = slots
        self.host = host
        self.kind = kind
        self.worker_id = worker_id
        self.who = engine_who(host)
        self.draining = False
        # An engine of another host shares the queue (registration, at each heartbeat): it could not tell an
        # op of this engine that never started from one that ran, were this engine to die.
        self.other_hosts = False
        # When a slot last started an op (the clock's elapsed seconds): a queue that has not moved for a
        # while waits behind ops that last.
        self.last_slot_start = store.clock.elapsed()
        self.held: dict[int, Held] = {}
        self._started_pids: list[StartedPid] = []  # appended by the slots' threads
        self._pids_lock = threading.Lock()
        self.wake_event = threading.Event()
        self._claims = itertools.count(1)
        self._tokens = itertools.count(1)
        self.log_dir = str(store.log_dir)
        self._environment: dict[str, str] | None = None
        self._log_cap: tuple[int, float] | None = None  # (bytes, when read on the monotonic clock)
        self.shipper = LogShipper(store, host)  # the held jobs' logs into the database
        # Engine lines not yet in their log file (a call op's "started", until the call writes to the log
        # or ends), with when they were first held back (clock.elapsed): a silent call op's job gets no file;
        # its lines reach the database alone (Batch).
        self._held_back: dict[str, tuple[str, float]] = {}
        self.spawner = Spawner()  # starts the process ops, with the first one

    def wake(self) -> None:
        self.wake_event.set()

    def add_started_pid(self, started: StartedPid) -> None:
        with self._pids_lock:
            self._started_pids.append(started)

    def take_started_pids(self) -> list[StartedPid]:
        """The pids started since the last take, for a pass to record."""
        with self._pids_lock:
            taken, self._started_pids = self._started_pids, []
        return taken

    def put_back_started_pids(self, pids: list[StartedPid]) -> None:
        """A pass that took `pids` could not commit: the next one records them."""
        with self._pids_lock:
            self._started_pids[:0] = pids

    @property
    def has_started_pids(self) -> bool:
        return bool(self._started_pids)

    def new_lease(self) -> str:
        return f"{self.worker_id}:{next(self._claims)}"

    def new_token(self) -> str:
        """An op token no other op of any engine carries (the worker id is random)."""
        return f"{self.worker_id}{next(self._tokens):08x}"

    def status_ref(self, token: str) -> str:
        """Where the starter records the status of the op of `token` (one of this engine's tokens)."""
        return journal_ref(self.log_dir, self.worker_id, int(token[len(self.worker_id) :], 16), token)

    def op_environment(self) -> dict[str, str]:
        """A copy of the engine's environment for an op, without the test-only fault hook: taken once a
        pass (`forget_environment`), not once an op."""
        if self._environment is None:
            self._environment = dict(os.environ)
            self._environment.pop(FAULT_VAR, None)
        return dict(self._environment)

    def forget_environment(self) -> None:
        self._environment = None

    def let_go_at_commit(self, s: Session, job_id: int) -> None:
        """Stop holding a job once the transaction that hands it on commits: if the commit fails,
        nothing was recorded and the engine must still hold the job, to record it again."""
        self.store.after_commit(s, lambda: self.let_go(job_id))

    def let_go(self, job_id: int) -> None:
        self.forget_held(job_id)
        self.shipper.forget(job_id)  # another engine may ship this job's file next

    def forget_held(self, job_id: int) -> None:
        """The engine holds the job no longer (let go, or found no longer its own): nor its held-back
        lines, which a later run of the job on this engine would otherwise find."""
        held = self.held.pop(job_id, None)
        if held is not None:
            self._held_back.pop(held.log_path, None)

    def log_cap_bytes(self) -> int:
        """The setting op_log_cap_mib in bytes, read at most every LOG_CAP_REFRESH_S (not per op)."""
        now = self.store.clock.elapsed()
        if self._log_cap is None or now - self._log_cap[1] > LOG_CAP_REFRESH_S:
            try:
                with self.store.read() as s:
                    mib = self.store.get_setting(s, "op_log_cap_mib", DEFAULT_CAP_MIB)
                size = max(1, int(float(mib) * (1 << 20)))
            except Exception:
                # Called as an op starts: a database that just dropped its connection (or an odd value)
                # must not fail the op. The last value read, or the default, until the next read.
                size = self._log_cap[0] if self._log_cap is not None else DEFAULT_CAP_MIB << 20
            self._log_cap = (size, now)
        return self._log_cap[0]

    def log(self, job: Job, line: str) -> None:
        self.append_log(self.store.log_file(job.id or 0), line)

    def append_log(self, path: str, line: str) -> None:
        """Append `line`, stamped, after the lines held back for `path`."""
        if path:
            self._write_log(path, self.take_held_back(path) + self.log_line(line))

    def append_log_placed(self, path: str, line: str) -> tuple[int, bytes] | None:
        """`append_log`, saying where in the file the text went and what of it was written (None: nothing
        was): an op still writing to the file appends too, so its size afterwards does not tell."""
        if not path:
            return None
        data = (self.take_held_back(path) + self.log_line(line)).encode()
        try:
            fd = os.open(path, LOG_APPEND, 0o644)
        except OSError:
            return None
        try:
            written = os.write(fd, data)
            # In append mode the write starts at the end of the file as it is then; this descriptor's
            # offset is just past what it wrote, whatever others append after.
            return os.lseek(fd, 0, os.SEEK_CUR) - written, data[:written]
        except OSError:
            return None
        finally:
            os.close(fd)

    def hold_back(self, path: str, line: str) -> None:
        """`line`, stamped, is the log's next line once something else is written to it (`append_log`,
        `write_held_back`); unless nothing is, and a pass ships it (`held_back`, `take_held_back_since`).
        Creating a file costs more than everything else the engine does for a silent op."""
        self.hold_back_stamped(path, self.log_line(line))

    def hold_back_stamped(self, path: str, stamped: str) -> None:
        """`hold_back` for a line stamped already (when the op started, not when it ended)."""
        if path:
            text, since = self._held_back.get(path, ("", self.store.clock.elapsed()))
            self._held_back[path] = (text + stamped, since)

    def put_back_held(self, path: str, text: str) -> None:
        """Lines a failed pass took to ship: held back again, before any held since, and due at once."""
        newer, _since = self._held_back.get(path, ("", 0.0))
        self._held_back[path] = (text + newer, 0.0)

    def held_back(self, path: str) -> str:
        """The lines held back for `path` (kept until `drop_held_back`: the pass may fail)."""
        return self._held_back.get(path, ("", 0.0))[0]

    def take_held_back(self, path: str) -> str:
        return self._held_back.pop(path, ("", 0.0))[0]

    def held_back_since(self, before: float) -> bool:
        """Whether lines were held back since before `before` (on clock.elapsed)."""
        return any(since < before for _text, since in list(self._held_back.values()))

    def take_held_back_since(self, before: float) -> dict[str, str]:
        """The lines held back since before `before` (on clock.elapsed), taken: an op that runs on."""
        old = [path for path, (_text, since) in list(self._held_back.items()) if since < before]
        return {path: text for path in old if (text := self.take_held_back(path))}

    def write_all_held_back(self) -> None:
        """Every line held back into its file: the engine stops, its memory with it."""
        for path in list(self._held_back):
            self.write_held_back(path)

    def drop_held_back(self, path: str) -> None:
        self._held_back.pop(path, None)

    def write_held_back(self, path: str) -> None:
        """The lines held back for `path` into its file: something is about to write to it."""
        text = self.take_held_back(path)
        if text:
            self._write_log(path, text)

    def _write_log(self, path: str, text: str) -> None:
        # Three system calls, where open() makes six: each lets another thread take the interpreter lock,
        # and the engine's thread and its slots all append lines.
        with contextlib.suppress(OSError):
            fd = os.open(path, LOG_APPEND, 0o644)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)

    def log_line(self, line: str) -> str:
        """`line` as the engine writes it to a job's log, stamped."""
        return stamped(self.store.now(), line)


def timed(statement: TextClause, *names: str) -> TextClause:
    """Bind times in raw SQL exactly as the UTCDateTime columns store them (SQLite compares text)."""
    return statement.bindparams(*(bindparam(name, type_=UTCDateTime()) for name in names))
