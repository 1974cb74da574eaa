"""Watching the ops in flight: collecting their outcomes, timing them out, dropping jobs whose lease
was lost, and killing what ignores SIGTERM."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable

import pendulum
import psutil
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from jobtui.engine.db.models import AuditEvent, Job, OpRun, Worker
from jobtui.engine.db.raw import select_rows
from jobtui.engine.db.store import DATABASE_ERRORS
from jobtui.engine.domain.processes import is_same_process
from jobtui.engine.domain.states import OpStatus
from jobtui.engine.worker import logcap
from jobtui.engine.worker.left_running import op_left_elsewhere
from jobtui.engine.worker.logcap import LogCap
from jobtui.engine.worker.opjournal import op_log_file
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
from jobtui.engine.worker.state import (
    HOST_GONE,
    OP_GONE,
    OP_KILLED,
    OP_LEFT_RUNNING,
    Dying,
    EngineState,
    Held,
    host_gone_said,
)

log = logging.getLogger("jobtui.engine")

# Why a job's lease went, as its log says when its op is terminated for it.
_ENDED_BY_HAND = ("CANCELED", "ABEND", "PAUSED", "REPLACED")
# Statuses whose audit already says who ended the job and why (an operator, a schedule): a lease lost to
# anything else was taken over by another engine, and the op killed for it is recorded in the audit.
_ENDED_AND_SAID = ("CANCELED", "PAUSED", "REPLACED")
# The statuses of a job whose op an engine of another host ended in the database only (take-over, cancel).
_TAKEN_FROM_ITS_ENGINE = ("ABEND", "CANCELED")


_LEASES = "SELECT id, lease, status FROM jobs WHERE id IN :ids"


class Supervisor:
    def __init__(self, state: EngineState) -> None:
        self.state = state
        self.dying: list[Dying] = []
        self.unrecorded: list[Callable[[], bool]] = []  # records to write again (escalate_kills)

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
                self.drop(held, why, s, taken_over=taken_over, canceled=status == "CANCELED")
                lost.add(job_id)
        return lost

    def drop(
        self, held: Held, why: str, s: Session | None = None, taken_over: bool = False, canceled: bool = False
    ) -> None:
        """Stop touching a job we no longer own (cancelled, deleted, taken over); kill its op. With
        `taken_over` (another engine took the job while this one was frozen or cut off), an op still
        running is killed at once and its job's audit trail says so: the job may already run elsewhere.
        `canceled` from another host, which could not signal the op: the trail says when it is gone
        (retry, rerun and rollback wait for that)."""
        if held.handle is not None:  # its op's "started" line, held back, ships with what it wrote
            self.state.write_held_back(held.log_path)
        self.state.let_go(held.job_id)  # forgets its shipping state too
        if held.handle is not None:
            log.info("job %s: %s; terminating its op", held.job_id, why)
            pid = held.handle.pid
            job_id, op_run_id = held.job_id, held.op_run_id
            on_gone: Callable[[], bool] | None = None
            if canceled and self._cancel_left_it(held, s):

                def on_gone() -> bool:
                    because = "its job was canceled from another host"
                    return self._audit_killed(job_id, op_run_id, pid, because, None)

            killed = on_gone
            if taken_over and killed is None:
                # Said once its process tree is gone, not at SIGTERM: the job may run again elsewhere only
                # then (a retry waits for this row), not beside an op still cleaning up.
                because = "its job was taken over by another engine"
                killed = functools.partial(self._audit_killed, job_id, op_run_id, pid, because, None)
            dying = self._terminate(
                held.handle, why, let_go_job=held.job_id, cap=held.log_cap, on_gone=killed
            )
            # Gone already: said at once, for the job's retry waits for its engine's word (op_left_elsewhere).
            record = self._drop_record(held, pid, dying, on_gone is not None or taken_over)
            if record is None:
                self._ship_last(held, s, dying)
                return
            # Written on its own at the next passes until the pass's transaction commits with it (or
            # fails before it, shipping the op's output): the engine no longer holds the job, so nothing
            # else would write it.
            later = functools.partial(record, None)
            self.unrecorded.append(later)
            self._ship_last(held, s, dying)
            if s is None:
                if _recorded(later):
                    self.unrecorded.remove(later)
            elif record(s):
                self.state.store.after_commit(s, functools.partial(_forget, self.unrecorded, later))

    def _drop_record(
        self,
        held: Held,
        pid: int | None,
        dying: Dying | None,
        say_gone: bool,
    ) -> Callable[[Session | None], bool] | None:
        """What the trail of a job let go says of its op at once: gone before this engine looked (canceled
        from another host, or taken over by another engine: its rerun waits for that word). One it kills is
        said once it is gone (`Dying.on_gone`)."""
        job_id, op_run_id = held.job_id, held.op_run_id
        if dying is None and say_gone:
            return lambda session: self._audit(
                job_id, OP_GONE, lambda job, op: _gone_text(job, op, pid), session, op_run_id, _waited_for
            )
        return None

    def _cancel_left_it(self, held: Held, s: Session | None) -> bool:
        """Whether the job was canceled from a host that could not signal its op (OP_LEFT_RUNNING since the
        op started): the job's trail waits for this engine's word that the op is gone."""

        def ask(session: Session) -> bool:
            op_run = session.get(OpRun, held.op_run_id) if held.op_run_id is not None else None
            query = select(AuditEvent.id).where(
                AuditEvent.job_id == held.job_id, AuditEvent.action == OP_LEFT_RUNNING
            )
            if op_run is not None and op_run.started_at is not None:
                query = query.where(AuditEvent.at >= op_run.started_at)
            return session.scalars(query).first() is not None

        try:
            if s is not None:
                return ask(s)
            with self.state.store.read() as read:
                return ask(read)
        except Exception as exc:
            if s is not None and isinstance(exc, DATABASE_ERRORS):
                raise
            log.warning("job %s: could not read how it was canceled: %s", held.job_id, exc)
            return False

    def _audit_killed(
        self, job_id: int, op_run_id: int | None, pid: int | None, because: str, s: Session | None
    ) -> bool:
        """Say in the job's audit trail which op of it this engine killed, and why (False: not said)."""

        def text(job: Job, op_run: OpRun | None) -> str:
            return killed_text(op_run.exec if op_run is not None else job.exec, pid, because)

        return self._audit(job_id, OP_KILLED, text, s, op_run_id)

    def _audit(
        self,
        job_id: int,
        action: str,
        text: str | Callable[[Job, OpRun | None], str],
        s: Session | None = None,
        op_run_id: int | None = None,
        only_if: Callable[[Session, Job], bool] | None = None,
    ) -> bool:
        """A row in the trail of a job this engine does not hold (another engine's, or none's: only the
        trail, and the change feed so that viewers repaint it), when `only_if` says it is needed. False: it
        could not be written."""
        store = self.state.store

        def write(session: Session) -> None:
            job = session.get(Job, job_id)
            if job is None or (only_if is not None and not only_if(session, job)):
                return
            op_run = session.get(OpRun, op_run_id) if op_run_id is not None else None
            said = text if isinstance(text, str) else text(job, op_run)
            store.audit(session, job, self.state.who, action, job.status, job.status, said)
            store.touch(session, job_id)

        try:
            if s is None:
                with store.write(walking=True) as own:
                    write(own)
            else:
                with store.savepoint(s):
                    write(s)
        except Exception as exc:  # the op is dealt with either way; only its record is missing
            if s is not None and isinstance(exc, DATABASE_ERRORS):
                raise
            log.warning("job %s: could not record %r: %s", job_id, action, exc)
            return False
        return True

    def kill_orphans(self) -> int:
        """At the engine's start, before it registers: kill every op that a dead engine of this host left
        running for a job another engine took over (ABEND, recorded as ended without an exit status) or
        that was canceled from another host, or whose host an admin declared gone for good (whatever its
        job did since: it may have run again elsewhere), as cancel does, and say so in the job's audit
        trail. Only ops
        ended so since the last engine of this host started (that one looked at those before): nothing
        else is read, no process looked at, when there is none. Ops recorded as running are left alone
        (the sweep for lost workers re-adopts them), and so is whatever a job's op left behind on purpose
        (a service started in the background): it carries the token of an op that ended of itself, or of
        one no row names any more (its job deleted, or a retried op's earlier attempt). How many ops were
        killed."""
        state = self.state
        with state.store.read() as s:
            workers = s.scalars(
                select(Worker).where(Worker.host == state.host, Worker.id != state.worker_id)
            ).all()
            starts = [w.started_at for w in workers if w.started_at is not None]
            if not starts:
                return 0
            since = max(starts)
            # An admin declared this host gone for good since: its job may have run again elsewhere.
            declared_gone = (
                select(AuditEvent.id)
                .where(
                    AuditEvent.job_id == OpRun.job_id,
                    AuditEvent.action == HOST_GONE,
                    AuditEvent.comment.startswith(host_gone_said(state.host), autoescape=True),
                    AuditEvent.at >= OpRun.completed_at,
                )
                .exists()
            )
            candidates = s.execute(
                select(OpRun, Job)
                .join(Job, Job.id == OpRun.job_id)
                .where(
                    or_(
                        and_(Job.status.in_(_TAKEN_FROM_ITS_ENGINE), OpRun.exec == Job.exec),
                        declared_gone,
                    ),
                    OpRun.host == state.host,
                    # An op its job's cancel stopped is skipped (failed, in rows written before).
                    OpRun.status.in_([OpStatus.FAILED.value, OpStatus.SKIPPED.value]),
                    OpRun.exit_code.is_(None),
                    OpRun.token.is_not(None),
                    OpRun.completed_at >= since,
                )
            ).all()
        # Only an engine known dead left them: a live one (frozen, say) kills its own op as it finds its
        # lease gone. Its tokens start with its id (EngineState.new_token).
        dead = [w.id for w in workers if not is_same_process(w.pid, w.pid_create_time, w.pid_start)]
        left = [
            (op_run, job)
            for op_run, job in candidates
            if op_run.token and any(op_run.token.startswith(worker_id) for worker_id in dead)
        ]
        if not left:
            return 0
        running = live_tokens()
        killed = 0
        for op_run, job in left:
            token = op_run.token or ""
            if token in running and self._kill_orphan(token, op_run, job, _why_orphaned(op_run, job)):
                killed += 1
            else:  # it ended while nobody watched: retry and rerun need not wait for it (op_left_elsewhere)
                # What its engine left unshipped, a canceller's line with it (the cancel of a stopped
                # daemon's op leaves the log to the daemon, which then died): shipped by none but us.
                job_id = job.id or 0
                self._record_or_retry(
                    functools.partial(self._ship_alone, job_id, _op_log(state, op_run, job_id))
                )
                gone = f"op of exec {op_run.exec} (pid {op_run.pid}) no longer runs"
                self._record_or_retry(functools.partial(self._audit, job.id or 0, OP_GONE, gone))
        return killed

    def _kill_orphan(self, token: str, op_run: OpRun, job: Job, because: str) -> bool:
        state = self.state
        pid, create_time, start = op_run.pid, op_run.pid_create_time or 0.0, op_run.pid_start
        # Its group by the recorded pid only while that is still the op (not a reused pid); by token always.
        alive = pid is not None and is_same_process(pid, create_time, start)
        job_id = job.id or 0
        log_file = _op_log(state, op_run, job_id)
        handle = ProcessHandle(pid if alive else None, create_time, "", None, token, log_file, start)
        # The trail says it was killed once its process tree is gone (after its clean-up, or SIGKILL): that
        # row lets a retry through, and said at SIGTERM it let one run the op again beside the dying one.
        # What it writes meanwhile, and the SIGKILL line, ship then (let_go_job).
        killed = functools.partial(self._audit_killed, job_id, op_run.id, pid, because, None)
        if self._terminate(handle, f"orphaned: {because}", let_go_job=job_id, on_gone=killed) is None:
            return False
        log.warning(
            "job %s: killing its op (pid %s), left running by a dead engine: %s", job_id, pid, because
        )
        self._record_or_retry(functools.partial(self._ship_alone, job_id, log_file))  # up to the SIGTERM
        return True

    def _record_or_retry(self, record: Callable[[], bool]) -> None:
        """Write `record` now, in a transaction of its own, or at the next passes (escalate_kills) if the
        database cannot take it now: nothing else would (an op a dead engine left is looked at once, as the
        engine starts; a dying op's end is seen once)."""
        if not _recorded(record):
            self.unrecorded.append(record)

    def _ship_last(self, held: Held, s: Session | None, dying: Dying | None) -> None:
        """The op's output so far and the line saying it was terminated reach the database as the job is
        let go (what it writes after SIGTERM follows once its process tree is gone: `_ship_after`). An op
        that had ended already wrote all it will: cut to its cap, with the marker, and shipped whole."""
        path = held.log_path or getattr(held.handle, "log_path", "")
        if not path:
            return
        cap, until = held.log_cap, None
        if dying is None:
            if cap is not None and (marker := cap.marker()):
                self.state.append_log(path, marker)
            cap = None
        elif dying.shipped_to is not None:
            cap, until = None, dying.shipped_to  # the op's output before the line was cut to its cap
        ship = functools.partial(self._ship_alone, held.job_id, path, cap, until)
        if s is None:
            self._record_or_retry(ship)
            return
        # Shipped on its own at the next passes unless the pass's transaction commits with it: the engine
        # no longer holds the job, so no pass would ship its file again.
        self.unrecorded.append(ship)
        try:
            with self.state.store.savepoint(s):
                self.state.shipper.ship_job(s, held.job_id, path, cap, until)
        except Exception as exc:
            if isinstance(exc, DATABASE_ERRORS):
                raise
            log.warning("job %s: could not ship the end of its log: %s", held.job_id, exc)
            return
        self.state.store.after_commit(s, functools.partial(_forget, self.unrecorded, ship))
        self.state.shipper.forget(held.job_id)

    def _ship_alone(
        self, job_id: int, path: str, cap: LogCap | None = None, until: int | None = None, lines: str = ""
    ) -> bool:
        """The end of the log of a job this engine no longer holds into the database, in a transaction of
        its own: from where this host's chunks of it end, nothing twice (`lines`: engine lines that found
        no file). False: the database did not take it (tried again at the next passes; the host's file
        keeps it meanwhile). A job held again (a rerun on this engine) ships its file with the passes."""
        if job_id in self.state.held:
            return True
        shipper = self.state.shipper
        try:
            with self.state.store.write(walking=True) as s:
                if path:
                    shipper.ship_job(s, job_id, path, cap, until)
                if lines:
                    shipper.ship_lines(s, {job_id: lines})
        except Exception as exc:
            log.warning("job %s: could not ship the end of its log: %s", job_id, exc)
            return False
        finally:
            shipper.forget(job_id)
        return True

    def terminate_tree(
        self,
        handle: OpHandle,
        why: str = "terminated",
        let_go_job: int | None = None,
        on_gone: Callable[[], bool] | None = None,
    ) -> bool:
        """SIGTERM to the op's group now, SIGKILL after the grace period to whatever ignored it; what the
        op started outside its group (found by its token) gets the same signals, named in the job's log.
        False when nothing of it was left to signal."""
        return self._terminate(handle, why, let_go_job, on_gone=on_gone) is not None

    def _terminate(
        self,
        handle: OpHandle,
        why: str,
        let_go_job: int | None = None,
        cap: LogCap | None = None,
        on_gone: Callable[[], bool] | None = None,
    ) -> Dying | None:
        """`terminate_tree`; the op dying, or None. For a job let go (`let_go_job`), its output past its
        `cap` is cut before the line saying it was terminated, and what it writes after that line is capped
        by what is left of its share (`Dying.after`)."""
        if not _tree_alive(handle):
            return None
        if let_go_job is not None and cap is not None:
            cap.enforce(at_once=True)
        escaped = handle.terminate()
        dying = Dying(handle, self.state.store.now(), let_go_job=let_go_job, on_gone=on_gone)
        placed = None
        if (process := process_of(handle)) is not None:
            what = [f"process group {process.pid}"] if process.pid is not None else []
            if escaped:
                what.append(f"{len(escaped)} process(es) it started outside its group: {', '.join(escaped)}")
            if what:
                placed = self._log(process, f"op terminated ({why}): SIGTERM to {' and '.join(what)}")
        if let_go_job is not None:
            if placed is not None:
                at, data = placed
                dying.shipped_to = at + len(data)
                share = cap or LogCap(process.log_path if process else "", at, self.state.log_cap_bytes())
                dying.after = logcap.after_line(share, at, dying.shipped_to)
            else:
                dying.after = cap
        self.dying.append(dying)
        return dying

    def escalate_kills(self, now: pendulum.DateTime, grace_s: float) -> None:
        # A record the database could not take when its op died: the job's rerun waits for it.
        self.unrecorded = [record for record in self.unrecorded if not _recorded(record)]
        if not self.dying:
            return
        tokens = live_tokens()  # once a pass, for every op still dying
        for dying in list(self.dying):
            if dying.after is not None and dying.let_go_job not in self.state.held:
                dying.after.enforce()  # a runaway clean-up does not fill the disk
            waited = (now - dying.since).total_seconds()
            if dying.killed:
                # Its starter writes what the op's pipes still held, then answers: shipped after that (or
                # once another grace period has passed, whatever still holds on).
                if not _tree_alive(dying.handle, tokens) or waited >= 2 * grace_s:
                    self.dying.remove(dying)
                    self._ship_after(dying, process_of(dying.handle))
            elif waited >= grace_s:
                if (process := process_of(dying.handle)) is not None:
                    left = _still_running(process)
                    if left:
                        line = f"SIGKILL after the grace period to: {', '.join(left)}"
                        if dying.let_go_job is None:
                            self._log(process, line)  # a held job's log ships with the next pass
                        else:
                            dying.kill_line = line  # after what the op wrote till now, and its cap's marker
                dying.handle.kill()
                self._gone(dying)
                if dying.let_go_job is None:
                    self.dying.remove(dying)
                else:
                    dying.killed = True
            elif not _tree_alive(dying.handle, tokens):
                self.dying.remove(dying)
                self._ship_after(dying, process_of(dying.handle))
                self._gone(dying)

    def _gone(self, dying: Dying) -> None:
        """Its op is gone: say so (`on_gone`), again at the next passes if the database cannot take it now."""
        if dying.on_gone is not None:
            self._record_or_retry(dying.on_gone)

    def _ship_after(self, dying: Dying, process: ProcessHandle | None) -> None:
        """The op of a job let go (its log no longer shipped with the engine's passes) is gone: what it
        wrote after the line saying it was terminated (cut to what was left of its share, with the marker),
        then the kill's line if it took SIGKILL, reach the database: `jobtui log` and the dashboard read it
        there, on any host. Shipped from where this host's chunks of the job end, as this host's chunks:
        a later run of the job here ships its file on from after them, nothing twice. A job held again (a
        rerun on this engine) ships its file with its passes."""
        job_id, kill_line = dying.let_go_job, dying.kill_line
        if job_id is None:
            return
        held_again = job_id in self.state.held
        after = dying.after
        path = after.path if after is not None else (process.log_path if process is not None else "")
        if after is not None and not held_again and (marker := after.marker()):
            self.state.append_log(after.path, marker)
        placed = self._log(process, kill_line) if kill_line is not None and process is not None else None
        if held_again:
            return
        unfiled = self.state.log_line(kill_line) if kill_line is not None and placed is None else ""
        self._record_or_retry(functools.partial(self._ship_alone, job_id, path, lines=unfiled))

    def _log(self, process: ProcessHandle, line: str) -> tuple[int, bytes] | None:
        """`line` into the op's log file; where it went and what was written (None: no file)."""
        log.info("%s", line)
        if not process.log_path:
            return None
        if first_line := process.first_line_before_the_engines():
            self.state.hold_back_stamped(process.log_path, first_line)  # written first, with `line`
        return self.state.append_log_placed(process.log_path, line)


def _forget(records: list[Callable[[], bool]], record: Callable[[], bool]) -> None:
    with contextlib.suppress(ValueError):  # written already by a pass between
        records.remove(record)


def _recorded(record: Callable[[], bool]) -> bool:
    try:
        return record()
    except Exception as exc:  # only its record is missing: the op is gone either way
        log.warning("could not record what became of an op: %s", exc)
        return False


def _waited_for(session: Session, job: Job) -> bool:
    """Whether the job's retry, rerun and rollback wait for word that its op is gone: an engine of another
    host abended it, or it was canceled from one (an engine of the op's own host killed it itself)."""
    return op_left_elsewhere(session, job) is not None


def _gone_text(job: Job, op_run: OpRun | None, pid: int | None) -> str:
    exec_no = op_run.exec if op_run is not None else job.exec
    return f"op of exec {exec_no} ({'pid ' + str(pid) if pid else 'pid not recorded'}) no longer runs"


def _why_orphaned(op_run: OpRun, job: Job) -> str:
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


def _op_log(state: EngineState, op_run: OpRun, job_id: int) -> str:
    """The log an op a dead engine left wrote to: in that engine's folder (its status journal's), which
    an engine of the same host run with another --log-dir does not share; else this engine's."""
    return op_log_file(op_run.status_file, job_id) or state.store.log_file(job_id)
