"""Periodic sweeps over the whole queue: jobs past their Max Start Date, schedules past their end, trap
timeouts, and the jobs of lost workers (ABEND, or their ops re-adopted after a crash)."""

from __future__ import annotations

import socket

import pendulum
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobtui.engine.db import raw
from jobtui.engine.db.models import Job, OpRun, Worker
from jobtui.engine.db.store import Store
from jobtui.engine.domain.processes import is_same_process
from jobtui.engine.domain.reachability import Reachability
from jobtui.engine.domain.states import OpStatus, Status, Step, TaskStatus
from jobtui.engine.worker import lifecycle, pipeline
from jobtui.engine.worker.alone import JobsAlone
from jobtui.engine.worker.outcomes import Outcomes
from jobtui.engine.worker.pipeline import JobRef
from jobtui.engine.worker.runner import (
    OpOutcome,
    ProcessHandle,
    find_op,
    never_started,
    read_status_file,
)
from jobtui.engine.worker.state import (
    OP_LEFT_RUNNING,
    EngineState,
    Held,
)
from jobtui.engine.worker.traps import resolve_trap

UNSTARTED = "jobs.status IN ('READY', 'APPROVAL')"
TRAPPED = "jobs.status = 'TRAPPED'"


class Sweeps:
    def __init__(self, state: EngineState, outcomes: Outcomes) -> None:
        self.state = state
        self.outcomes = outcomes
        # Each other worker's last heartbeat as this engine saw it, and when (monotonic) it last changed.
        self._heartbeats: dict[str, tuple[object, float]] = {}
        # When this engine itself could reach the database (its passes say so, before each sweep too).
        self.reach = Reachability()
        self.alone = JobsAlone()

    def _silent_for(self, worker: Worker) -> float:
        """How long (monotonic seconds, on this engine's clock) the worker's heartbeat has not moved,
        counting only the time this engine could reach the database: cut off itself, it could not have
        seen the heartbeat move (after an outage, every heartbeat looks old: the worker was cut off too,
        and comes back after its own backoff)."""
        elapsed = self.state.store.clock.elapsed()
        seen = self._heartbeats.get(worker.id)
        if seen is None or seen[0] != worker.heartbeat_at:
            self._heartbeats[worker.id] = (worker.heartbeat_at, elapsed)
            return 0.0
        return self.reach.heard_for(seen[1], elapsed)

    def run(self, now: pendulum.DateTime, lease_s: float) -> None:
        """Every sweep, once; a worker silent for more than `lease_s` has lost its jobs."""
        self.sweep_expired(now)
        lifecycle.sweep_expired_schedules(self.state.store, self.state.who, now, self.alone)
        self.sweep_trap_timeouts(now)
        self.sweep_lost_workers(now, lease_s)

    def sweep_expired(self, now: pendulum.DateTime) -> None:
        store = self.state.store
        with store.read() as s:
            # UNSTARTED as a literal: the partial index walked holds those jobs only (migration 0005).
            found = raw.rows(
                s,
                f"SELECT id FROM jobs{raw.index_hint(s, 'ix_jobs_unstarted_max_start')} WHERE {UNSTARTED} "
                "AND step IN :steps AND run_started_at IS NULL AND max_start_at < :now",
                {"steps": [Step.INIT.value, Step.PRE.value, Step.RUN.value], "now": now},
            )
        for job_id in (int(row["id"]) for row in found):
            with self.alone.job("Max Start Date", job_id), store.write() as s:
                job = store.lock_job(s, job_id)
                if job is None or job.status not in (Status.READY, Status.APPROVAL) or job.run_started_at:
                    continue
                when = pendulum.instance(job.max_start_at).isoformat() if job.max_start_at else "?"
                said = f"RUN had not started by Max Start Date {when}"
                ref = JobRef(self.state.who)
                if pipeline.expire_through_post(store, s, job, ref, now, said, "passed Max Start Date"):
                    continue
                pipeline.settle_tasks(s, job, TaskStatus.CANCELLED)
                store.change_job(
                    s,
                    job,
                    self.state.who,
                    "expire",
                    Status.EXPIRED,
                    comment=said,
                    due_at=None,
                    reason="passed Max Start Date",
                    ended_at=now,
                )

    def sweep_trap_timeouts(self, now: pendulum.DateTime) -> None:
        store = self.state.store
        with store.read() as s:
            # TRAPPED as a literal: the partial index walked holds those jobs only (migration 0013).
            found = raw.rows(
                s,
                f"SELECT id FROM jobs{raw.index_hint(s, 'ix_jobs_trap_deadline')} WHERE {TRAPPED} "
                "AND trap_deadline_at <= :now",
                {"now": now},
            )
        for job_id in (int(row["id"]) for row in found):
            with self.alone.job("trap timeout", job_id), store.write() as s:
                job = store.lock_job(s, job_id)
                if job is None or job.status != Status.TRAPPED or job.trap_deadline_at is None:
                    continue
                what = pipeline.definition_of(job).trap_timeout_action
                said = resolve_trap(store, s, job, what, self.state.who, "trap timeout ran out")
                # In the transaction, as an operator's resolution is (Actions.trap).
                self.state.shipper.ship_lines(s, {job_id: self.state.log_line(said)})

    def sweep_lost_workers(self, now: pendulum.DateTime, lease_s: float) -> None:
        with self.state.store.read() as s:
            rows = s.scalars(
                select(Job.worker_id)
                .where(
                    Job.status.in_([Status.RUNNING.value, Status.ROLLBACK.value]),
                    Job.worker_id.is_not(None),
                    Job.worker_id != self.state.worker_id,
                )
                .distinct()
            ).all()
            if not rows:
                return
            workers = {w.id: w for w in s.scalars(select(Worker).where(Worker.id.in_(rows)))}
        for worker_id in rows:
            assert worker_id is not None
            worker = workers.get(worker_id)
            silent_s = self._silent_for(worker) if worker is not None else 0.0
            lost = worker_lost(self.state.host, worker, now, lease_s, silent_s)
            if lost:
                reason, may_readopt = lost
                self.take_over_jobs_of(worker_id, reason, may_readopt)

    def take_over_jobs_of(self, worker_id: str, reason: str, may_readopt: bool = True) -> None:
        with self.state.store.read() as s:
            job_ids = s.scalars(
                select(Job.id).where(
                    Job.worker_id == worker_id,
                    Job.status.in_([Status.RUNNING.value, Status.ROLLBACK.value]),
                )
            ).all()
        for job_id in job_ids:
            assert job_id is not None
            self.take_over(job_id, worker_id, reason, may_readopt)

    def take_over(self, job_id: int, worker_id: str, reason: str, may_readopt: bool = True) -> None:
        state = self.state
        lease = state.new_lease()
        with state.store.write() as s:
            job = state.store.lock_job(s, job_id)
            if job is None or job.worker_id != worker_id:
                return
            state.store.change_job(
                s,
                job,
                state.who,
                "take over",
                comment=reason,
                held=job.lease,
                worker_id=state.worker_id,
                lease=lease,
            )
            running = s.scalars(
                select(OpRun).where(OpRun.job_id == job_id, OpRun.status == OpStatus.RUNNING.value)
            ).first()
            held = Held(job_id, lease)
            ref = JobRef(state.who, lease)
            if running is not None and not may_readopt:
                code = self._status_left(running)
                if code is None:
                    state.held[job_id] = held  # abend lets go of it again
                    self.outcomes.abend(s, job, running, ref, self._left_running(running, reason))
                    return
                # The op ended and said how: that is recorded, never an ABEND.
                held.op_run_id = running.id
                held.ready_outcome = OpOutcome(code, None if code == 0 else f"exit {code}")
                running = None
            if running is not None and not self._readopt(s, job, running, held, ref, reason):
                return
            state.held[job_id] = held
        if held.ready_outcome is not None:
            self.outcomes.complete(held, held.ready_outcome)

    def _readopt(self, s: Session, job: Job, running: OpRun, held: Held, ref: JobRef, reason: str) -> bool:
        """Take the running op of a lost worker on: its process, if it still runs here (by its recorded pid,
        or by the token in its environment when its engine died before recording the pid), or the exit
        code it left. False when it is provably gone: neither a process nor an exit status (abended)."""
        state = self.state
        handle = None
        if running.host == state.host:
            if running.pid:
                handle = ProcessHandle.adopt(
                    running.pid,
                    running.pid_create_time or 0.0,
                    running.status_file or "",
                    state.wake,
                    running.token,
                    state.store.log_file(held.job_id),
                    running.pid_start,
                )
            # Its engine died before recording the pid: look for the op by the token it was started with.
            found = find_op(running.token) if not running.pid else None
            if found is not None:
                pid, create_time, started = found
                handle = ProcessHandle.adopt(
                    pid,
                    create_time,
                    running.status_file or "",
                    state.wake,
                    running.token,
                    state.store.log_file(held.job_id),
                    started,
                )
                if handle is not None:
                    running.pid, running.pid_create_time, running.pid_start = pid, create_time, started
                    s.add(running)
        if handle is not None:
            held.handle, held.op_run_id = handle, running.id
            held.deadline = running.deadline_at
            state.log(job, f"re-adopted op {running.name} (pid {running.pid}) after {reason}")
            return True
        code = self._status_left(running)
        if (
            code is None
            and running.host == state.host
            and not running.pid
            and never_started(running.status_file)
        ):
            # Recorded as running, but its engine died before spawning it: no process, no starter's trace.
            # Started now, it runs exactly once.
            running.status = OpStatus.PENDING.value
            running.started_at = None
            s.add(running)
            state.log(job, f"op {running.name} never started before {reason}; starting it now")
            return True
        if code is None:
            if running.host != state.host:  # not known to have vanished: it may run on there
                self.outcomes.abend(s, job, running, ref, self._left_running(running, reason))
            else:
                self.outcomes.abend(s, job, running, ref, f"{reason}; op {running.name} vanished with it")
            return False
        held.op_run_id = running.id
        held.ready_outcome = OpOutcome(code, None if code == 0 else f"exit {code}")
        return True

    def _left_running(self, running: OpRun, reason: str) -> str:
        """The reason of the abend of a job whose op ran on another host: this engine cannot kill it there,
        and says what will (a daemon of that host starting, or its lost engine coming back)."""
        if running.host == self.state.host or not running.host:
            return reason  # the abend kills what is left of it here
        return f"{reason}; {op_left_text(running.name, running.host, running.pid)}"

    def _status_left(self, running: OpRun) -> int | None:
        """The exit status the op's starter left, if it ended. Another host's status file is read too
        (a shared log directory), only when written since the op started (not a stale one of this host)."""
        if running.host == self.state.host:
            return read_status_file(running.status_file)
        since = pendulum.instance(running.started_at).timestamp() if running.started_at else None
        return read_status_file(running.status_file, since=since) if since is not None else None


def worker_lost(
    host: str, worker: Worker | None, now: pendulum.DateTime, lease_s: float, silent_s: float
) -> tuple[str, bool] | None:
    """Why the worker no longer owns its jobs, and whether its ops may be re-adopted: only when the
    worker process is known to be gone (or marked its row stopped as it left). A worker that merely stopped
    heartbeating (paused, cut off) may come back, so its jobs ABEND and it finds its lease gone.

    Silence is judged twice: its last heartbeat is older than the lease on the (database's) wall clock,
    and the observer has watched it not move for as long (`silent_s`, monotonic, while the observer could
    reach the database itself). A step of the wall clock alone (NTP, an operator) makes no healthy worker
    lost, and nor does an outage of the database (or of the observer's link to it)."""
    if worker is None:
        return "worker unknown", True
    if worker.stopped_at is not None:
        # Its ops in flight (a hard stop, a dashboard closed) run on, on its host: an engine of that host
        # re-adopts them at once; one of another host cannot, and leaves a daemon of that host a lease to
        # start first.
        stopped_long = (now - pendulum.instance(worker.stopped_at)).total_seconds() > lease_s
        if worker.host == host or (stopped_long and silent_s > lease_s):
            return f"worker {worker.host} stopped", True
        return None
    if worker.host == host and not is_same_process(worker.pid, worker.pid_create_time, worker.pid_start):
        return f"worker {worker.host} (pid {worker.pid}) is gone", True
    stale = worker.heartbeat_at and (now - pendulum.instance(worker.heartbeat_at)).total_seconds() > lease_s
    if stale and silent_s > lease_s:
        return f"worker {worker.host} lost", False
    return None


def op_left_text(name: str, host: str, pid: int | None) -> str:
    where = f"{host} (pid {pid})" if pid else f"{host} (pid not recorded)"
    return f"op {name} may still run on {where}: a daemon of {host} kills it when it comes back"


def note_left_running(store: Store, s: Session, job: Job, running: list[OpRun], who: str) -> None:
    """A cancel by `who`, on this host, of a job whose ops ran on another host: this host cannot signal
    them, so the job's trail says they are left to an engine of theirs (OP_LEFT_RUNNING); its retry, rerun
    and rollback wait until one says they are gone (`op_left_elsewhere`)."""
    here = socket.gethostname()
    for op in running:
        if op.host and op.host != here:
            where = f"{op.host} (pid {op.pid})" if op.pid else f"{op.host} (pid not recorded)"
            said = (
                f"op of exec {op.exec} runs on {where}: canceled on {here}, which cannot signal it; "
                f"an engine of {op.host} stops it"
            )
            store.audit(s, job, who, OP_LEFT_RUNNING, job.status, job.status, said)
