"""Watching the ops in flight: collecting their outcomes, timing them out, dropping jobs whose lease
was lost, and killing what ignores SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import os

import pendulum
import psutil
from sqlalchemy import update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from jobtui.engine.db.models import WORKERS, Job, OpRun, Worker
from jobtui.engine.db.raw import select_rows
from jobtui.engine.db.store import DATABASE_ERRORS
from jobtui.engine.domain.processes import is_same_process
from jobtui.engine.domain.states import OpStatus
from jobtui.engine.worker.runner import (
    OpHandle,
    OpOutcome,
    ProcessHandle,
    describe,
    group_alive,
    live_tokens,
    processes_with_token,
)
from jobtui.engine.worker.slots import process_of
from jobtui.engine.worker.state import Dying, EngineState, Held

log = logging.getLogger("jobtui.engine")

# Why a job's lease went, as its log says when its op is terminated for it.
_ENDED_BY_HAND = ("CANCELED", "ABEND", "PAUSED", "REPLACED")
# Statuses whose audit already says who ended the job and why (an operator, a schedule): a lease lost to
# anything else was taken over by another engine, and the op killed for it is recorded in the audit.
_ENDED_AND_SAID = ("CANCELED", "PAUSED", "REPLACED")
# The audit action of an op killed because another engine took its job over.
KILL_OP = "kill op"


_LEASES = "SELECT id, lease, status FROM jobs WHERE id IN :ids"


class Supervisor:
    def __init__(self, state: EngineState) -> None:
        self.state = state
        self.dying: list[Dying] = []

    def collect(self, now: pendulum.DateTime) -> list[tuple[Held, OpOutcome]]:
        """The ops that ended, with how; terminate those past their timeout."""
        ended: list[tuple[Held, OpOutcome]] = []
        for held in list(self.state.held.values()):
            if held.handle is None:
                continue
            outcome = held.handle.poll()
            if held.log_cap is not None:
                held.log_cap.enforce()
            if outcome is None:
                if held.deadline is not None and now >= held.deadline and not held.timed_out:
                    # Not when it ended of itself meanwhile: it finished in its time.
                    held.timed_out = self.terminate_tree(held.handle, "timed out")
                continue
            process = process_of(held.handle)
            if process is not None and (first_line := process.unwritten_first_line()):
                # A silent op: its "started" line goes with its end, without a file (see opstarter).
                self.state.hold_back_stamped(held.log_path, first_line)
            if held.timed_out:
                limit = held.timeout_s or 0
                # 124 (as timeout(1) says it) unless it failed of its own: an op that cleans up on SIGTERM
                # and exits 0 did not finish its work in its time.
                outcome = OpOutcome(
                    outcome.exit_code if outcome.exit_code not in (None, 0) else 124,
                    f"timed out after {_fmt_seconds(limit)}",
                )
            cap, held.log_cap = held.log_cap, None
            if cap is not None and (marker := cap.marker()):
                self.state.append_log(cap.path, marker)
            ended.append((held, outcome))
        return ended

    def check_leases(self, s: Session | None = None) -> set[int]:
        """Drop the jobs that are no longer ours (canceled, taken over) and terminate what runs of their
        ops, before their outcomes are recorded: a cancel's SIGTERM may have ended an op's shell
        while what it started ignores it and runs on. With `s`, in the pass's write transaction (one read
        less a pass); the ids dropped."""
        watched = dict(self.state.held)
        if not watched:
            return set()
        if s is None:
            with self.state.store.read() as read:
                found = select_rows(read, _LEASES, list(watched))
        else:
            found = select_rows(s, _LEASES, list(watched))
        current = {row["id"]: (row["lease"], row["status"]) for row in found}
        lost = set()
        for job_id, held in watched.items():
            lease, status = current.get(job_id, (None, None))
            if lease != held.lease:
                why = f"job {status}" if status in _ENDED_BY_HAND else "lease lost"
                taken_over = status is not None and status not in _ENDED_AND_SAID
                self.drop(held, why, s, taken_over=taken_over)
                lost.add(job_id)
        return lost

    def drop(self, held: Held, why: str, s: Session | None = None, taken_over: bool = False) -> None:
        """Stop touching a job we no longer own (cancelled, deleted, taken over); kill its op. With
        `taken_over` (another engine took the job while this one was frozen or cut off), an op still
        running is killed at once and its job's audit trail says so: the job may already run elsewhere."""
        if held.handle is not None:  # its op's "started" line, held back, ships with what it wrote
            self.state.write_held_back(held.log_path)
        self.state.let_go(held.job_id)  # forgets its shipping state too
        if held.handle is not None:
            log.info("job %s: %s; terminating its op", held.job_id, why)
            pid = held.handle.pid
            killed = self.terminate_tree(held.handle, why)
            self._ship_last(held, s)
            if killed and taken_over:
                self._audit_killed(
                    held.job_id, held.op_run_id, pid, "its job was taken over by another engine", s
                )

    def _audit_killed(
        self, job_id: int, op_run_id: int | None, pid: int | None, because: str, s: Session | None
    ) -> None:
        """Say in the job's audit trail which op of it this engine killed, and why (the job is another
        engine's, or none's: only the trail, and the change feed so that viewers repaint it)."""
        store = self.state.store

        def write(session: Session) -> None:
            job = session.get(Job, job_id)
            if job is None:
                return
            op_run = session.get(OpRun, op_run_id) if op_run_id is not None else None
            text = killed_text(op_run.exec if op_run is not None else job.exec, pid, because)
            store.audit(session, job, self.state.who, KILL_OP, job.status, job.status, text)
            store.touch(session, job_id)

        try:
            if s is None:
                with store.write(walking=True) as own:
                    write(own)
            else:
                with store.savepoint(s):
                    write(s)
        except Exception as exc:  # the op is killed either way; only its record is missing
            if s is not None and isinstance(exc, DATABASE_ERRORS):
                raise
            log.warning("job %s: could not record that its op was killed: %s", job_id, exc)

    def kill_orphans(self) -> int:
        """At the engine's start, before it registers: kill every op that a dead engine of this host left
        running for a job it no longer holds (taken over and abended by another engine, then maybe retried
        or held by another engine; or canceled from another host), as cancel does, and say so in the job's
        audit trail. Ops recorded as running are left alone: the sweep for lost workers re-adopts them.
        How many ops were killed."""
        state = self.state
        with state.store.read() as s:
            workers = s.exec(
                select(Worker).where(Worker.host == state.host, Worker.id != state.worker_id)
            ).all()
        dead = {w.id for w in workers if not is_same_process(w.pid, w.pid_create_time, w.pid_start)}
        if not dead:
            return 0
        killed = self._kill_ops_of(dead)
        if unmarked := [w.id for w in workers if w.id in dead and w.stopped_at is None]:
            # Known gone from now on, its orphans killed: retry and rerun need not wait for it any more
            # (sweeps.op_left_elsewhere).
            with state.store.write() as s:
                s.execute(
                    update(WORKERS)
                    .where(WORKERS.c.id.in_(unmarked), WORKERS.c.stopped_at.is_(None))
                    .values(stopped_at=state.store.now())
                )
        return killed

    def _kill_ops_of(self, dead: set[str]) -> int:
        state = self.state
        # An op's token starts with the id of the engine that started it (EngineState.new_token).
        lengths = {len(worker_id) for worker_id in dead}
        left = {
            token: procs
            for token, procs in live_tokens().items()
            if any(token[:length] in dead for length in lengths)
        }
        if not left:
            return 0
        with state.store.read() as s:
            op_runs = {op.token: op for op in s.exec(_op_runs_of(left)).all()}
            unknown = [token for token in left if token not in op_runs]
            if unknown:  # $JOBTUI_JOB_ID set by the definition, or the job deleted: by token alone
                op_runs.update(
                    {op.token: op for op in s.exec(select(OpRun).where(col(OpRun.token).in_(unknown)))}
                )
            jobs = {
                job.id: job
                for job in s.exec(select(Job).where(col(Job.id).in_({o.job_id for o in op_runs.values()})))
            }
        killed = 0
        for token in left:
            op_run = op_runs.get(token)
            if op_run is None:
                # Its job was deleted (the op's row with it): nobody will ever hold it.
                killed += self._kill_orphan(token, None, None, "its job was deleted")
            elif op_run.status == OpStatus.RUNNING.value or op_run.exit_code is not None:
                continue  # re-adopted (or to be), or ended of itself (what it left behind is no op)
            else:
                job = jobs.get(op_run.job_id)
                killed += self._kill_orphan(token, op_run, job, _why_orphaned(op_run, job))
        return killed

    def _kill_orphan(self, token: str, op_run: OpRun | None, job: Job | None, because: str) -> int:
        state = self.state
        pid = op_run.pid if op_run is not None else None
        create_time = (op_run.pid_create_time or 0.0) if op_run is not None else 0.0
        start = op_run.pid_start if op_run is not None else None
        # Its group by the recorded pid only while that is still the op (not a reused pid); by token always.
        alive = pid is not None and is_same_process(pid, create_time, start)
        log_file = state.store.log_file(job.id) if job is not None and job.id is not None else ""
        handle = ProcessHandle(pid if alive else None, create_time, "", None, token, log_file, start)
        if not self.terminate_tree(handle, f"orphaned: {because}"):
            return 0
        if op_run is None or job is None or job.id is None:
            log.warning("killed op %s, left running by a dead engine: %s", token, because)
            return 1
        log.warning("job %s: killed its op (pid %s), left running by a dead engine: %s", job.id, pid, because)
        job_id = job.id
        try:
            with state.store.write(walking=True) as s:
                state.shipper.ship_job(s, job_id, log_file)  # its log up to the kill, on this host
            state.shipper.forget(job_id)
        except Exception as exc:  # the op is killed either way; only the log's last lines stay behind
            log.warning("job %s: could not ship the end of its log: %s", job_id, exc)
        self._audit_killed(job_id, op_run.id, pid, because, None)
        return 1

    def _ship_last(self, held: Held, s: Session | None) -> None:
        """The op's output so far and the line saying it was terminated reach the database
        (what it writes after SIGTERM does not: the job is no longer this engine's)."""
        path = held.log_path or getattr(held.handle, "log_path", "")
        if not path:
            return
        try:
            if s is None:
                with self.state.store.write(walking=True) as own:
                    self.state.shipper.ship_job(own, held.job_id, path, held.log_cap)
            else:
                with self.state.store.savepoint(s):
                    self.state.shipper.ship_job(s, held.job_id, path, held.log_cap)
        except Exception as exc:  # the job is let go either way; only the log's last lines stay behind
            if s is not None and isinstance(exc, DATABASE_ERRORS):
                raise
            log.warning("job %s: could not ship the end of its log: %s", held.job_id, exc)
        self.state.shipper.forget(held.job_id)

    def terminate_tree(self, handle: OpHandle, why: str = "terminated") -> bool:
        """SIGTERM to the op's group now, SIGKILL after the grace period to whatever ignored it; what the
        op started outside its group (found by its token) gets the same signals, named in the job's log.
        False when nothing of it was left to signal."""
        if not _tree_alive(handle):
            return False
        escaped = handle.terminate()
        if (process := process_of(handle)) is not None:
            what = [f"process group {process.pid}"] if process.pid is not None else []
            if escaped:
                what.append(f"{len(escaped)} process(es) it started outside its group: {', '.join(escaped)}")
            if what:
                self._log(process, f"op terminated ({why}): SIGTERM to {' and '.join(what)}")
        self.dying.append(Dying(handle, self.state.store.now()))
        return True

    def escalate_kills(self, now: pendulum.DateTime, grace_s: float) -> None:
        if not self.dying:
            return
        tokens = live_tokens()  # once a pass, for every op still dying
        for dying in list(self.dying):
            if (now - dying.since).total_seconds() >= grace_s:
                if (process := process_of(dying.handle)) is not None:
                    left = _still_running(process)
                    if left:
                        self._log(process, f"SIGKILL after the grace period to: {', '.join(left)}")
                dying.handle.kill()
                self.dying.remove(dying)
            elif not _tree_alive(dying.handle, tokens):
                self.dying.remove(dying)

    def _log(self, process: ProcessHandle, line: str) -> None:
        log.info("%s", line)
        if process.log_path:
            if first_line := process.first_line_before_the_engines():
                self.state.hold_back_stamped(process.log_path, first_line)  # written first, with `line`
            self.state.append_log(process.log_path, line)


def _op_runs_of(tokens: dict[str, list[psutil.Process]]) -> SelectOfScalar[OpRun]:
    """The op runs of these live ops, looked up by their job (indexed; the op's environment names it)
    and their token."""
    job_ids = set()
    for procs in tokens.values():
        for proc in procs:
            with contextlib.suppress(psutil.Error, OSError, ValueError):
                job_ids.add(int(proc.environ().get("JOBTUI_JOB_ID", "")))
                break
    return select(OpRun).where(col(OpRun.job_id).in_(job_ids), col(OpRun.token).in_(list(tokens)))


def _why_orphaned(op_run: OpRun, job: Job | None) -> str:
    if job is None:
        return "its job was deleted"
    if job.status == "CANCELED" and job.exec == op_run.exec:
        return "its job was canceled while its engine was gone"
    now = f"the job is {job.status}" + (f" at exec {job.exec}" if job.exec != op_run.exec else "")
    return f"its job was taken over while its engine was gone ({now})"


def killed_text(exec_no: int, pid: int | None, because: str) -> str:
    """How the audit trail says that an op was killed for its job's sake."""
    return f"op of exec {exec_no} ({'pid ' + str(pid) if pid else 'pid not recorded'}) killed: {because}"


def _tree_alive(handle: OpHandle, tokens: dict[str, list[psutil.Process]] | None = None) -> bool:
    if (process := process_of(handle)) is not None:
        return process.tree_alive(tokens)
    return handle.poll() is None or (handle.pid is not None and group_alive(handle.pid))


def _still_running(handle: ProcessHandle) -> list[str]:
    """The op's processes still alive: its group's and those found by its token."""
    seen: dict[int, str] = {}
    for proc in processes_with_token(handle.token):
        seen[proc.pid] = describe(proc)
    if handle.pid is not None:
        for proc in psutil.process_iter(["pid"]):
            try:
                if (
                    proc.pid not in seen
                    and os.getpgid(proc.pid) == handle.pid
                    and proc.status() != psutil.STATUS_ZOMBIE
                ):
                    seen[proc.pid] = describe(proc)
            except (psutil.Error, OSError):
                continue
    return list(seen.values())


def _fmt_seconds(seconds: float) -> str:
    from jobtui.engine.domain.timeparse import format_duration

    return format_duration(seconds)
